"""What every command shares: the --bundle/--json options, error handling, output."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

BUNDLE_ENV = "EDGEFACE_BUNDLE"

BundleOption = Annotated[Optional[Path], typer.Option(
    "--bundle", "-b", envvar=BUNDLE_ENV, show_default=False,
    help=f"Bundle directory or .zip with the models (or set ${BUNDLE_ENV}; default: the bundle "
         f"'edgeface models fetch default' caches).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, max=64, help="Interpreter threads.")]
SocOption = Annotated[Optional[str], typer.Option(
    "--soc", help="Run the bundle's Hexagon builds for this Snapdragon SoC (e.g. SM8650; edgeface compile "
                  "makes them; needs the qnn extra, and on x86_64 runs the HTP simulator).")]


def user_errors(command: Callable) -> Callable:
    """Turn ``EdgefaceError`` into one line on stderr and exit code 2, anything else into
    exit code 1 with a short note (the traceback with EDGEFACE_DEBUG=1). Control characters
    in the message (from a name or path in it) are shown as escapes, not sent to the terminal."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from edgeface.errors import EdgefaceError
        from edgeface.safetext import visible_controls

        try:
            return command(*args, **kwargs)
        except EdgefaceError as exc:
            typer.echo(f"error: {visible_controls(str(exc))}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug, not a user error: say so without a traceback
            if os.environ.get("EDGEFACE_DEBUG"):
                raise
            typer.echo(f"internal error: {type(exc).__name__}: {visible_controls(str(exc))} "
                       f"(rerun with EDGEFACE_DEBUG=1 for the traceback, and please report it)", err=True)
            raise typer.Exit(1) from None

    return wrapper


def require_bundle(bundle: Optional[Path]) -> Path:
    """--bundle, else $EDGEFACE_BUNDLE (typer reads it), else the cached default bundle."""
    from edgeface.errors import EdgefaceError

    if bundle is not None:
        return bundle
    from edgeface.pretrained.fetch import bundles_dir

    default = bundles_dir() / "default"
    if (default / "manifest.json").is_file():
        return default
    raise EdgefaceError(f"no bundle given: pass --bundle PATH, set {BUNDLE_ENV}, or fetch the default "
                        f"pretrained bundle once with: edgeface models fetch default")


def analyzer_for(bundle: Optional[Path], threads: int = 1, **options: Any):
    from edgeface.analyzer import FaceAnalyzer

    return FaceAnalyzer.create_from_bundle(require_bundle(bundle), num_threads=threads, **options)


def load_images(paths: list[Path]):
    from edgeface.image import read_image

    return [read_image(p) for p in paths]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def console():
    from rich.console import Console

    return Console()


def shown(value: Any, style: str = ""):
    """``value`` (a name, a path, a message quoting them) as literal console text: a
    ``rich.text.Text``, so Rich never reads it as markup (``ann[/]``, ``[link=...]``,
    ``photo [draft].png``), with terminal control characters written as escapes (``\\x1b``).
    Use it for everything user-derived that goes to a Rich print or table cell; ``style``
    (e.g. "dim") styles the whole text."""
    from rich.text import Text

    from edgeface.safetext import visible_controls

    return Text(visible_controls(str(value)), style=style)
