"""``edgeface convert`` and ``edgeface quantize``: face models to verified TFLite (or ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cards.presets import PRESETS
from edgeface.cards.pretrained import LANDMARK_FAMILIES
from edgeface.cli import exit_codes
from edgeface.cli.choices import ConvertTarget, IoType, ModelRole
from edgeface.cli.common import JsonOption, console, listed, print_json, shown, user_errors

Source = Annotated[Path, typer.Argument(help="Keras (.keras/.h5), SavedModel dir, frozen .pb, .onnx or a float "
                                              ".tflite (replayed op by op).", show_default=False)]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
Calib = Annotated[Optional[Path], typer.Option(
    "--calib", help="Calibration images (a folder) or a .npy of normalised NHWC inputs; "
                    "default: real face images from scikit-image.")]
CalibSize = Annotated[int, typer.Option("--calib-size", min=1, help="Calibration samples.")]
Seed = Annotated[int, typer.Option(help="Seed for sampling calibration data (reproducible runs).")]
IoTypeOption = Annotated[IoType, typer.Option("--io-type", help="int8 models' input/output type.")]
Role = Annotated[Optional[ModelRole], typer.Option(
    show_default=False, help="Adds the role's metrics to the report and writes a bundle per file.")]
Family = Annotated[Optional[str], typer.Option(
    help=f"Detector family (a preset of the model cards): {', '.join(PRESETS)}; --role landmarks: "
         f"{', '.join(LANDMARK_FAMILIES)}.")]
Mean = Annotated[Optional[float], typer.Option(help="Input normalisation mean (default 127.5 or the family's).")]
Std = Annotated[Optional[float], typer.Option(help="Input normalisation std (default 127.5 or the family's).")]
Bgr = Annotated[bool, typer.Option("--bgr", help="The model takes BGR input.")]
Threshold = Annotated[float, typer.Option("--verify-threshold",
                                          help="Embedder: cosine similarity meaning 'same person'.")]
MaxDrop = Annotated[Optional[float], typer.Option(
    "--max-cosine-drop", help="Gate: fail (exit 1) if any output's worst cosine to the source, or the "
                              "embedding cosine, drops by more than this.")]
Arch = Annotated[Optional[str], typer.Option(
    "--arch", help="For --precision int8-qat: the model's edgeface architecture (edgeface.models).")]
QatSteps = Annotated[int, typer.Option("--qat-steps", min=1, help="Quantization-aware training steps.")]
MinIou = Annotated[Optional[float], typer.Option(
    "--min-iou", help="Gate: fail (exit 1) if a detector's matched boxes overlap less, or faces go missing.")]
MaxLandmarkError = Annotated[Optional[float], typer.Option(
    "--max-landmark-error", min=0.0, show_default=False,
    help="Gate (--role landmarks): fail (exit 1) if the points move by more than this fraction of the eye "
         "distance on average (default 0.01).")]
InputShape = Annotated[Optional[list[str]], typer.Option(
    "--input-shape", help="Fix a free input size, in the model's own layout, batch 1 first: NAME:1,3,640,640 "
                          "(repeat per input), or 1,640,640,3 for a model with one input.")]
ScalarThreshold = Annotated[Optional[float], typer.Option(
    "--scalar-threshold", show_default=False,
    help="Gate: the decision threshold of outputs with one number per input (a face-presence logit), in the "
         "output's own units; default: 0.5 when the source's values lie in [0, 1], else 0 (docs/conversion.md).")]
Outputs = Annotated[Optional[list[str]], typer.Option(
    "--outputs", show_default=False,
    help="Cut the graph at these tensors (repeatable or comma-separated; frozen graph: node names; ONNX: "
         "tensor names; Keras: layer names), before post-processing such as NMS that the SDK does.")]


def input_shapes(values: list[str] | None) -> dict | None:
    """The --input-shape values as load_source takes them (None when not given)."""
    from edgeface.converters.sources import parse_input_shapes

    return parse_input_shapes(values) if values else None


def _names(outputs: list[str] | None) -> list[str] | None:
    """The --outputs values as a list of names (None when not given)."""
    return listed(outputs) or None


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _run(source, out, precisions, calib, calib_size, seed, io_type, role, family, mean, std, bgr,
         verify_threshold, max_cosine_drop, min_iou, json_out, arch=None, qat_steps=200, input_shape=None,
         outputs=None, scalar_threshold=None, max_landmark_error=None) -> None:
    from edgeface.converters.job import ConvertRequest, convert

    request = ConvertRequest(
        source=source, out=out, precisions=precisions,
        calibration=calib, calibration_size=calib_size, seed=seed, io_type=io_type, role=role,
        family=family, mean=mean, std=std, channel_order="BGR" if bgr else "RGB",
        verify_threshold=verify_threshold, max_cosine_drop=max_cosine_drop, min_iou=min_iou,
        architecture=arch, qat_steps=qat_steps, input_shapes=input_shapes(input_shape),
        outputs=_names(outputs), scalar_threshold=scalar_threshold, max_landmark_error=max_landmark_error)
    out_console = console()
    if json_out:
        result = convert(request, warn=_warn)
    else:
        with out_console.status("converting") as status:
            result = convert(request, progress=status.update, warn=_warn)
    if json_out:
        import json

        print_json(json.loads(result.report_json.read_text()))
    else:
        from rich.markdown import Markdown

        out_console.print(Markdown(result.report_md.read_text()))
        out_console.print(shown(f"report: {result.report_json} and {result.report_md}"))
    if result.failures:
        typer.echo("fidelity gate failed: " + "; ".join(result.failures), err=True)
        raise typer.Exit(exit_codes.GATE_FAILED)


@user_errors
def convert(source: Source, out: Out = Path("converted"),
            to: Annotated[ConvertTarget, typer.Option(
                help="Target format (Hexagon targets: edgeface compile).")] = ConvertTarget.tflite,
            precision: Annotated[Optional[list[str]], typer.Option(
                show_default=False, help="fp32, fp16, dynamic, int8, int16x8 (repeatable or comma-separated; "
                                         "default fp32,fp16,int8).")] = None,
            nchw: Annotated[bool, typer.Option(help="--to onnx: make the ONNX input NCHW.")] = False,
            calib: Calib = None, calib_size: CalibSize = 100, seed: Seed = 0, io_type: IoTypeOption = IoType.float32,
            role: Role = None, family: Family = None, mean: Mean = None, std: Std = None, bgr: Bgr = False,
            verify_threshold: Threshold = 0.5, max_cosine_drop: MaxDrop = None, min_iou: MinIou = None,
            input_shape: InputShape = None, outputs: Outputs = None, scalar_threshold: ScalarThreshold = None,
            max_landmark_error: MaxLandmarkError = None, json_out: JsonOption = False) -> None:
    """Convert a face model to TFLite at each precision (or to ONNX), with a fidelity report."""
    if to is ConvertTarget.onnx:
        from edgeface.converters.job import ConvertRequest

        return _to_onnx(ConvertRequest(source=source, out=out, role=role, family=family, mean=mean, std=std,
                                       channel_order="BGR" if bgr else "RGB", input_shapes=input_shapes(input_shape),
                                       outputs=_names(outputs)), nchw, json_out)
    _run(source, out, listed(precision, ["fp32", "fp16", "int8"]), calib, calib_size, seed, io_type, role, family,
         mean, std, bgr, verify_threshold, max_cosine_drop, min_iou, json_out, input_shape=input_shape,
         outputs=outputs, scalar_threshold=scalar_threshold, max_landmark_error=max_landmark_error)


@user_errors
def quantize(source: Source, out: Out = Path("quantized"),
             precision: Annotated[Optional[list[str]], typer.Option(
                 show_default=False, help="int8, int8-qat (quantization-aware training), int16x8, dynamic, fp16 "
                                          "(repeatable or comma-separated; default int8).")] = None,
             calib: Calib = None, calib_size: CalibSize = 100, seed: Seed = 0, io_type: IoTypeOption = IoType.float32,
             role: Role = None, family: Family = None, mean: Mean = None, std: Std = None, bgr: Bgr = False,
             verify_threshold: Threshold = 0.5, max_cosine_drop: MaxDrop = None, min_iou: MinIou = None,
             arch: Arch = None, qat_steps: QatSteps = 200, input_shape: InputShape = None, outputs: Outputs = None,
             scalar_threshold: ScalarThreshold = None, max_landmark_error: MaxLandmarkError = None,
             json_out: JsonOption = False) -> None:
    """Quantize to TFLite (post-training int8 by default, or int8-qat), checked against the float source."""
    _run(source, out, listed(precision, ["int8"]), calib, calib_size, seed, io_type, role, family, mean, std, bgr,
         verify_threshold, max_cosine_drop, min_iou, json_out, arch, qat_steps, input_shape, outputs,
         scalar_threshold, max_landmark_error)


def _to_onnx(request, nchw: bool, json_out: bool) -> None:
    """Export to ONNX and compare it with the source on the real face images that int8
    calibration and the fidelity gate use, normalised as the request says."""
    from edgeface.converters.job import _face_inputs, input_spec
    from edgeface.converters.onnx_export import export_onnx, onnx_parity
    from edgeface.converters.sources import load_source

    src = load_source(request.source, input_shape=request.input_shapes, outputs=request.outputs)
    path = export_onnx(src, request.out / f"{request.source.stem}.onnx", nchw=nchw)
    faces = _face_inputs(request, input_spec(request, src.height, src.width))
    error = onnx_parity(src, path, src.to_source_layout(faces))
    result = {"source": str(request.source), "onnx": str(path), "nchw": nchw, "inputs": len(faces),
              "max_abs_error": float(error)}
    if json_out:
        return print_json(result)
    console().print(shown(f"wrote {path}; max abs error against the source on {len(faces)} face images: "
                          f"{error:.3g}"))
