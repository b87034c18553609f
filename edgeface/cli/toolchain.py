"""The toolchain packages that pip must install with ``--no-deps``.

onnx2tf pins exact old versions of TensorFlow, numpy, onnx and onnxruntime; installed
normally it would replace tensorflow-cpu 2.21 with an older TensorFlow. These packages
work with the versions the ``toolchain`` extra installs, so they go in afterwards without
their declared dependencies:

    pip install 'edgeface[toolchain]'
    python -m edgeface.cli.toolchain install
"""

from __future__ import annotations

import subprocess
import sys

NO_DEPS = [
    "onnx2tf==1.29.24",
    "onnx-graphsurgeon==0.6.1",
    "sng4onnx==2.0.1",
    "sne4onnx==2.0.1",
    "tf-keras==2.21.0",
    "tensorflow-model-optimization==0.8.1",
]

INSTALL_HINT = "pip install 'edgeface[toolchain]' && python -m edgeface.cli.toolchain install"


def install_command() -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
            "-q", *NO_DEPS]


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        print(__doc__.strip())
        return 2
    return subprocess.call(install_command())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
