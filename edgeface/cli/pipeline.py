"""``edgeface pipeline``: data to a phone-ready bundle and its report, in one command."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli.common import JsonOption, console, native_stdout_to_stderr, print_json, shown, user_errors
from edgeface.cli.progress import progress_lines


@user_errors
def pipeline(
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", show_default=False,
        help="Pipeline config (YAML); default: the built-in default (--print-default-config shows it).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory: stages/, config.yaml, the report.")]
    = Path("runs/pipeline"),
    from_stage: Annotated[Optional[str], typer.Option(
        "--from", show_default=False,
        help="Recompute this stage and every later one (data, train_detector, train_recognizer, convert, compile, "
             "evaluate, bundle, bench, report); earlier ones are reused when their inputs are unchanged.")] = None,
    until: Annotated[Optional[str], typer.Option(
        "--until", show_default=False, help="Stop after this stage (e.g. convert: train and convert only).")] = None,
    print_default_config: Annotated[bool, typer.Option(
        "--print-default-config", help="Print the default config, every field documented, and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Stage lines only, no training progress bars.")]
    = False,
    json_out: JsonOption = False,
) -> None:
    """Train a face detector and recognizer, quantize and convert them (TFLite, Hexagon QNN contexts), evaluate
    every artifact, assemble the bundle to ship, benchmark it on this host and every device profile, and write
    a report. Stages are cached: a rerun skips what has not changed, and an interrupted run resumes."""
    from edgeface.pipeline import default_config_text, load_config, run_pipeline

    if print_default_config:
        typer.echo(default_config_text(), nl=False)
        return
    settings = load_config(config)
    with native_stdout_to_stderr() if json_out else contextlib.nullcontext():  # --json keeps stdout for the JSON
        result = run_pipeline(settings, out, from_stage, until, bars=not (quiet or json_out),
                              say=progress_lines(json_out))  # the stages' lines: progress, on stderr
    report, bundle = (str(p) if p.exists() else None for p in (result.report, result.bundle))
    summary = {"run": str(result.run), "report": report, "bundle": bundle,
               "stages": [{"stage": o.name, "status": o.status, "seconds": o.seconds} for o in result.outcomes]}
    if json_out:
        return print_json(summary)
    total = sum(o.seconds for o in result.outcomes)
    ran = sum(o.status != "cached" for o in result.outcomes)
    out_console = console()
    out_console.print(f"pipeline finished: {ran} of {len(result.outcomes)} stages ran in {total / 60:.1f} min")
    if report and bundle:
        out_console.print(shown(f"report: {report}"), highlight=False)
        out_console.print(shown(f"bundle: {bundle}"), highlight=False)
