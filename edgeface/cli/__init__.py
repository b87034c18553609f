"""The ``edgeface`` command line (typer). Each command imports what it needs when run."""


def main() -> None:
    from edgeface.cli.app import app

    app()
