"""``edgeface compile``: a face model (or a whole bundle) to QNN context binaries per Snapdragon SoC."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli import exit_codes
from edgeface.cli.common import (JsonOption, console, listed, native_stdout_to_stderr, print_json, shown,
                                  user_errors)
from edgeface.cli.convert import (Bgr, Calib, CalibSize, Family, InputShape, MaxDrop, Mean, MinIou, Out, Role,
                                  ScalarThreshold, Seed, Std, Threshold, input_shapes)

Model = Annotated[Path, typer.Argument(help="A bundle (directory or .zip), or a model: .onnx, .tflite, "
                                            ".keras, SavedModel dir.", show_default=False)]
Socs = Annotated[Optional[list[str]], typer.Option(
    "--soc", show_default=False, help="SoC part numbers (repeatable or comma-separated): SM8450, SM8550, SM8650, SM8750, SM8850, SM7750, "
                  "QCS6490, QCS8550, ... (edgeface profiles socs); default SM8650 and SM8750.")]
Precision = Annotated[Optional[list[str]], typer.Option(
    show_default=False,
    help="w8a8, w8a16, fp16 (repeatable or comma-separated; default w8a8). For a bundle, the order is the "
         "preference: each model gets the first precision that passes its gate.")]
AllowFallback = Annotated[bool, typer.Option(
    "--allow-fallback", help="Keep contexts whose graph partly runs on the CPU (reported by op).")]
CheckImages = Annotated[Optional[int], typer.Option(
    "--check-images", min=1, show_default=False,
    help="Check each context in the HTP simulator on this many images (spread over the 101 face images and up "
         "to 16 calibration samples; default: all of them). The simulator takes ~20 s per image on a 640x640 "
         "model.")]


@user_errors
def compile_model(model: Model, out: Out = Path("compiled"), soc: Socs = None, precision: Precision = None,
            calib: Calib = None, calib_size: CalibSize = 100, seed: Seed = 0, role: Role = None,
            family: Family = None, mean: Mean = None, std: Std = None, bgr: Bgr = False,
            verify_threshold: Threshold = 0.5, max_cosine_drop: MaxDrop = None, min_iou: MinIou = None,
            allow_fallback: AllowFallback = False, check_images: CheckImages = None,
            input_shape: InputShape = None, scalar_threshold: ScalarThreshold = None,
            json_out: JsonOption = False) -> None:
    """Compile for Qualcomm Hexagon NPUs offline: QNN context binaries per SoC, checked in the HTP simulator."""
    from edgeface.converters.hexagon import DEFAULT_SOCS, CompileRequest, compile_bundle, compile_hexagon

    socs = listed(soc, DEFAULT_SOCS)
    precisions = listed(precision, ["w8a8"])
    with native_stdout_to_stderr(), _progress_display(quiet=json_out) as (progress, on_check):
        options = dict(calibration=calib, calibration_size=calib_size, seed=seed, allow_fallback=allow_fallback,
                       check_images=check_images, on_check=on_check)
        if (model / "manifest.json").is_file() or model.suffix == ".zip":
            bundle, results = compile_bundle(model, out, socs, precisions, progress, **options)
        else:
            request = CompileRequest(
                source=model, out=out, precisions=precisions, socs=socs, role=role, family=family, mean=mean,
                std=std, channel_order="BGR" if bgr else "RGB", verify_threshold=verify_threshold,
                max_cosine_drop=max_cosine_drop, min_iou=min_iou, input_shapes=input_shapes(input_shape),
                scalar_threshold=scalar_threshold, **options)
            bundle, results = None, [compile_hexagon(request, progress)]
    if json_out:
        import json

        return print_json({"bundle": str(bundle) if bundle else None,
                           "reports": [json.loads(r.report_json.read_text()) for r in results]})
    from rich.markdown import Markdown

    out_console = console()
    for result in results:
        out_console.print(Markdown(result.report_md.read_text()))
        out_console.print(shown(f"report: {result.report_json}"))
    if bundle is not None:
        out_console.print(shown(f"bundle with the contexts that passed: {bundle}"))
    failures = [f for r in results for f in r.failures]
    refused = [f for r in results for f in r.refused]
    if refused:
        typer.echo("refused: " + "; ".join(refused), err=True)
    if bundle is not None:
        return  # a bundle keeps, per model and SoC, the first precision that passed
    if failures:
        typer.echo("fidelity gate failed: " + "; ".join(failures), err=True)
    if failures or refused:
        raise typer.Exit(exit_codes.GATE_FAILED)


@contextmanager
def _progress_display(quiet: bool):
    """On stderr, a Rich line with the current step and, while the HTP simulator checks a
    context image by image, a bar with the images done and an estimate of the time left.
    Yields the two callbacks the compile job takes: ``progress(message)`` and
    ``on_check(done, total)``; with ``quiet`` both do nothing."""
    if quiet:
        yield (lambda message: None), (lambda done, total: None)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeRemainingColumn)

    from edgeface.safetext import visible_controls

    # one image can take ~20 s: estimate the speed over the whole check, not Rich's last 30 s
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                   TextColumn("left"), TimeRemainingColumn(), console=Console(stderr=True),
                   speed_estimate_period=3600, transient=True)
    task = bar.add_task("compiling", total=None)
    with bar:
        yield ((lambda message: bar.reset(task, total=None, description=visible_controls(message))),
               (lambda done, total: bar.update(task, completed=done, total=total)))
