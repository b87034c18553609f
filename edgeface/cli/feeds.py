"""``edgeface serve-feeds CONFIG``: many live feeds, watch-list events, metrics (docs/feeds.md)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli import exit_codes
from edgeface.cli.common import BUNDLE_ENV, print_json, require_bundle, user_errors


@user_errors
def serve_feeds_command(
        config: Annotated[Path, typer.Argument(show_default=False, help="The feeds YAML file (docs/feeds.md).")],
        bundle: Annotated[Optional[Path], typer.Option(
            "--bundle", "-b", show_default=False,
            help=f"Bundle to use instead of the config's (without either: ${BUNDLE_ENV}, else the cached "
                 f"default bundle).")] = None,
        duration: Annotated[Optional[float], typer.Option(
            "--duration", min=0.0, help="Stop after this many seconds (overrides duration_s).")] = None,
        ray: Annotated[Optional[bool], typer.Option(
            "--ray/--no-ray", show_default=False, help="Run on Ray actors or here (overrides ray.enabled).")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Also print the final metrics as JSON on stdout.")]
        = False) -> None:
    """Process many video feeds at once: track faces, match them against the watch-list,
    write events (JSON lines) and metrics. Without an 'events' file in the config, events
    are printed to stdout; progress and metrics go to stderr."""
    from edgeface.feeds.config import load_config
    from edgeface.feeds.processor import serve_feeds

    settings = load_config(config)
    chosen = bundle or settings.bundle or os.environ.get(BUNDLE_ENV)
    settings = dataclasses.replace(
        settings, bundle=require_bundle(Path(chosen) if chosen else None),
        duration_s=settings.duration_s if duration is None else duration,
        ray=settings.ray if ray is None else dataclasses.replace(settings.ray, enabled=ray))
    callbacks = [] if settings.events is not None else [_print_event]
    final = serve_feeds(settings, callbacks, log=lambda line: typer.echo(line, err=True))  # logs the metrics
    if json_out:
        print_json(final)
    _exit_if_every_feed_failed(final)


def _exit_if_every_feed_failed(final: dict | None) -> None:
    """A run in which no feed ever worked is an error for whoever started it (a service
    manager restarts it, a script stops): USER_ERROR with each feed's last error."""
    feeds = (final or {}).get("feeds") or {}
    if feeds and all(row["state"] == "failed" for row in feeds.values()):
        from edgeface.safetext import visible_controls

        reasons = "; ".join(f"{fid}: {visible_controls(str(row['last_error']))}" for fid, row in feeds.items())
        typer.echo(f"error: every feed failed ({reasons}): check the sources in the config", err=True)
        raise typer.Exit(exit_codes.USER_ERROR)


def _print_event(record: dict) -> None:
    from edgeface.feeds.events import event_line

    sys.stdout.write(event_line(record))
    sys.stdout.flush()
