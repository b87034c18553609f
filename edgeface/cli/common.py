"""What every command shares: the --bundle/--json options, error handling, output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Iterator, NoReturn, Optional

import typer

from edgeface.cli.choices import Search

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

BUNDLE_ENV = "EDGEFACE_BUNDLE"

BundleOption = Annotated[Optional[Path], typer.Option(
    "--bundle", "-b", envvar=BUNDLE_ENV, show_default=False,
    help=f"Bundle directory or .zip with the models (or set ${BUNDLE_ENV}; default: the bundle "
         f"'edgeface models fetch default' caches).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]
ThreadsOption = Annotated[int, typer.Option("--threads", min=1, max=64, help="Interpreter threads.")]
SearchOption = Annotated[Optional[Search], typer.Option(
    "--search", show_default=False,
    help="Where to look for faces (default: the bundle's choice, 'auto' in the default bundle; for track, "
         "'whole'): 'whole' runs the detector once on the whole image; 'all' also on a pyramid of tiles, finding "
         "faces down to 40 px wide in large photos (group photos, crowds); 'auto' as 'all' unless the whole image "
         "holds a face over a third of its shorter side (a selfie: one pass).")]
SocOption = Annotated[Optional[str], typer.Option(
    "--soc", help="Run the bundle's Hexagon builds for this Snapdragon SoC (e.g. SM8650; edgeface compile "
                  "makes them; needs the qnn extra, and on x86_64 runs the HTP simulator).")]


def listed(values: Optional[Iterable[str]], default: Iterable[str] = ()) -> list[str]:
    """A multi-value option's values: every option takes them repeated (--soc A --soc B),
    comma-separated (--soc A,B) or both, in order, blanks and repeats dropped; ``default``
    when none was given."""
    items = [part.strip() for value in (values or ()) for part in value.split(",")]
    unique = list(dict.fromkeys(item for item in items if item))
    return unique or list(default)


@contextlib.contextmanager
def native_stdout_to_stderr() -> Iterator[None]:
    """Send what native libraries write to file descriptor 1 (the QNN library's
    "LIBNATIVE: ..." line) to stderr while the block runs, so that stdout carries only the
    command's own output (--json must parse)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def user_errors(command: Callable) -> Callable:
    """Turn ``EdgefaceError`` and a missing optional dependency into one line on stderr
    (with the fix, or the install command) and exit code USER_ERROR, anything else into
    INTERNAL_ERROR with a short note (the traceback with EDGEFACE_DEBUG=1): exit_codes.py.
    Control characters in the message (from a name or path in it) are shown as escapes,
    not sent to the terminal."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from edgeface.cli import exit_codes
        from edgeface.errors import EdgefaceError
        from edgeface.safetext import visible_controls

        try:
            return command(*args, **kwargs)
        except EdgefaceError as exc:
            typer.echo(f"error: {visible_controls(str(exc))}", err=True)
            raise typer.Exit(exit_codes.USER_ERROR) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(exit_codes.INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except ModuleNotFoundError as exc:
            hint = exit_codes.install_hint(exc)
            if hint is None:
                raise_internal(exc)
            typer.echo(f"error: this needs {exc.name}, an optional dependency that is not installed: {hint}",
                       err=True)
            raise typer.Exit(exit_codes.USER_ERROR) from None
        except Exception as exc:  # a bug, not a user error: say so without a traceback
            raise_internal(exc)

    return wrapper


def raise_internal(exc: Exception) -> NoReturn:
    """Report ``exc`` as a bug: one line and INTERNAL_ERROR (EDGEFACE_DEBUG=1: re-raise it)."""
    from edgeface.cli import exit_codes
    from edgeface.safetext import visible_controls

    if os.environ.get("EDGEFACE_DEBUG"):
        raise exc
    typer.echo(f"internal error: {type(exc).__name__}: {visible_controls(str(exc))} "
               f"(rerun with EDGEFACE_DEBUG=1 for the traceback, and please report it)", err=True)
    raise typer.Exit(exit_codes.INTERNAL_ERROR) from None


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


def require_gallery(gallery: str) -> None:
    """Refuse a gallery file that does not exist before any model loads (a vector
    database URI is checked when it is opened)."""
    from edgeface.gallery.service_uri import is_service_uri

    if not is_service_uri(gallery) and not Path(gallery).exists():
        from edgeface.errors import GalleryError

        raise GalleryError(f"{gallery}: no such gallery: enroll people first (edgeface enroll NAME IMAGE "
                           f"--gallery {gallery})")


def analyzer_for(bundle: Optional[Path], threads: int = 1, search: Optional[Search] = None, **options: Any):
    """The analyzer a command runs: ``search`` None takes the bundle's."""
    from edgeface.analyzer import FaceAnalyzer

    return FaceAnalyzer.create_from_bundle(require_bundle(bundle), num_threads=threads,
                                           search=search.value if search else None, **options)


def load_images(paths: list[Path]) -> Iterator[np.ndarray]:
    """The images, decoded one at a time as the caller iterates, after every file's header
    is checked: a missing, unknown or oversized file fails before any work, and a caller
    that drops each image before taking the next holds one decoded image at a time.

    Pillow's DecompressionBombWarning is silenced while checking: an image that big is over
    edgeface's own, smaller limit and refused in one line (the CLI runs in one thread, so
    changing the warning filters for a moment is safe here, unlike in the SDK)."""
    import warnings

    from PIL import Image

    from edgeface.image import probe_image, read_image

    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probe_image(path)
    return (read_image(path) for path in paths)


def check_output_file(path: Path, option: str, inputs: Iterable[Path] = (), atomic: bool = False) -> None:
    """Refuse an output file the command could not write, or should not, before any
    expensive work: a folder, one of the command's inputs, a missing folder, a folder that
    cannot be written to. ``atomic``: the command writes with ``fsutil.atomic_write``, which
    makes missing folders and renames a new file over the path, so the path must not be a
    device or a pipe (it would be replaced, not written to)."""
    from edgeface.errors import EdgefaceError

    name = f"{option} {path}"
    if path.is_dir():
        raise EdgefaceError(f"{name}: is a folder: give the path of a file (a new name in it, say)")
    if atomic and path.exists() and not path.is_file():
        raise EdgefaceError(f"{name}: is not a regular file: give the path of a file to write")
    if path.exists() and any(source.exists() and path.samefile(source) for source in inputs):
        raise EdgefaceError(f"{name}: is also an input of this command, which writing would replace: "
                            f"give another file name")
    folder = _nearest_existing(path.parent) if atomic else path.parent
    if not folder.exists():
        raise EdgefaceError(f"{name}: the folder {folder} does not exist: create it first")
    if not folder.is_dir():
        raise EdgefaceError(f"{name}: {folder} is a file, not a folder: choose another path")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise EdgefaceError(f"{name}: cannot write in {folder} ({exc.strerror}): choose a folder you "
                            f"can write to") from None


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its closest ancestor that exists (what a write that makes folders writes in)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def console(stderr: bool = False):
    """The Rich console for a command's output (``stderr``: for its progress lines). Its
    lines are never wrapped (soft wrap): Rich would otherwise break a line at the terminal's
    width, or at 80 columns in a pipe or a CI log, splitting a path that the user needs to
    copy whole; the terminal wraps what is too long for it. Tables still fit the width."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True)


def keep_whole(column, values: Iterable[str]) -> None:
    """Never cut a column of names that users type back (model names, profile ids): Rich
    shrinks and ellipsizes columns to fit a narrow terminal, so the column is made at least as
    wide as its longest value, and folds (not cuts) on a terminal narrower still."""
    column.min_width = max((len(value) for value in values), default=0)
    column.overflow = "fold"


def shown(value: Any, style: str = ""):
    """``value`` (a name, a path, a message quoting them) as literal console text: a
    ``rich.text.Text``, so Rich never reads it as markup (``ann[/]``, ``[link=...]``,
    ``photo [draft].png``), with terminal control characters written as escapes (``\\x1b``).
    Use it for everything user-derived that goes to a Rich print or table cell; ``style``
    (e.g. "dim") styles the whole text."""
    from rich.text import Text

    from edgeface.safetext import visible_controls

    return Text(visible_controls(str(value)), style=style)
