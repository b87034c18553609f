"""The ``edgeface`` command line (typer). Each command imports what it needs when run."""

import os


def main() -> None:
    # TensorFlow's C++ INFO and WARNING lines ("W0000 ... flatbuffer_export.cc") would bury the
    # command's output; errors still show. Set before any command imports TensorFlow.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from edgeface.cli.app import app

    app(prog_name="edgeface")  # also when run as python -m or -c: usage lines and completion name it
