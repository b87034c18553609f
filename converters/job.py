"""The conversion job behind ``edgeface convert`` and ``edgeface quantize``.

Source model in; for each requested precision a .tflite file, its fidelity against the
source on real face images and calibration samples, its delegate coverage, and (when the
user says what the model is) a bundle; then report.json and report.md. The gate turns
the fidelity figures into pass/fail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeface.bundle import AlignmentSpec, InputSpec, write_bundle
from edgeface.errors import ConversionError, EdgefaceError
from edgeface.fsutil import atomic_write_bytes, write_json

ROLES = ("detector", "embedder", "landmarks")


@dataclass
class ConvertRequest:
    source: Path
    out: Path
    precisions: list[str] = field(default_factory=lambda: ["fp32", "fp16", "int8"])
    calibration: Path | None = None  # folder of images or .npy; default: real face images
    calibration_size: int = 100
    seed: int = 0
    io_type: str = "float32"  # int8 models' input/output type: float32, int8 or uint8
    role: str | None = None  # detector, embedder or landmarks: adds role metrics and a bundle per file
    family: str | None = None  # detector preset (edgeface.cards.presets) or landmark family (LANDMARK_FAMILIES)
    mean: float | None = None  # normalisation; default: the family preset's, else 127.5
    std: float | None = None
    channel_order: str = "RGB"
    verify_threshold: float = 0.5  # embedder: cosine for "same person" (uncalibrated)
    max_cosine_drop: float | None = None
    min_iou: float | None = None
    max_landmark_error: float | None = None  # landmarks: mean error / eye distance; default LANDMARK_ERROR_GATE
    architecture: str | None = None  # edgeface.models name, for int8-qat
    input: InputSpec | None = None  # the exact input spec (a bundle's): overrides mean, std, channel order
    qat_steps: int = 200
    # Scalar outputs (a face-presence logit) are judged by their decision at a threshold: scalar_threshold
    # (in the output's units), else score_threshold (a manifest's probability), else 0.5 or 0 by the values'
    # range (edgeface.quantization.fidelity.decision_threshold).
    scalar_threshold: float | None = None
    score_threshold: float | None = None
    # What goes into each bundle besides the model, so that it is written once:
    bundle_dir: Path | None = None  # where bundle_<precision> folders go; default: out
    name: str | None = None  # the bundle's name is "<name>-<precision>"; default: from the file
    description: str | None = None  # the bundle's is "<description>, <precision>"; default: its source
    training: dict | None = None  # the manifest's ``training`` (how the model was trained)
    alignment: AlignmentSpec | None = None  # embedder: its chip; default: ArcFace's, scaled to the input
    input_shapes: dict | None = None  # --input-shape: input name (None: the only one) -> sizes, batch first
    outputs: list[str] | None = None  # --outputs: cut the graph at these tensors


QAT = "int8-qat"  # quantization-aware training (edgeface.quantization.qat), then int8


@dataclass
class Artifact:
    precision: str
    path: Path
    size_bytes: int
    seconds: float
    fidelity: Any  # edgeface.quantization.fidelity.FidelityReport; None when the precision failed
    coverage: Any  # edgeface.quantization.coverage.CoverageReport; None when the precision failed
    bundle: Path | None = None
    failures: list[str] = field(default_factory=list)
    error: str | None = None  # why this precision could not be converted or checked (no file is left)


@dataclass
class ConvertResult:
    source: Any
    artifacts: list[Artifact]
    report_json: Path
    report_md: Path
    notes: list[str] = field(default_factory=list)  # what the user should know about the source graph

    @property
    def failures(self) -> list[str]:
        return [f"{a.precision}: {f}" for a in self.artifacts for f in a.failures]


def input_spec(request: ConvertRequest, height: int, width: int) -> InputSpec:
    if request.input is not None:
        return request.input
    from edgeface.cards.presets import PRESETS

    if request.role == "landmarks":
        preset = landmark_entry(request.family)["input"]
    else:
        preset = PRESETS[request.family]["input"] if request.family else {}
    mean = [request.mean] * 3 if request.mean is not None else preset.get("mean", [127.5] * 3)
    std = [request.std] * 3 if request.std is not None else preset.get("std", [127.5] * 3)
    return InputSpec(height=height, width=width, layout="NHWC", dtype="float32",
                     channel_order=request.channel_order, mean=tuple(mean), std=tuple(std),
                     resize=preset.get("resize", "stretch"), pad=preset.get("pad", "center"))


def landmark_entry(family: str) -> dict:
    """The manifest fields of a landmark model family (which outputs hold what, the crop,
    the point groups)."""
    from edgeface.cards.pretrained import LANDMARK_FAMILIES

    if family not in LANDMARK_FAMILIES:
        raise EdgefaceError(f"--family {family}: --role landmarks takes a landmark family: "
                            f"{', '.join(LANDMARK_FAMILIES)}")
    return LANDMARK_FAMILIES[family]


def with_role_defaults(request: ConvertRequest) -> ConvertRequest:
    """The request with what its role implies filled in: a landmark model's presence logit
    is judged at its family's presence threshold."""
    if request.role == "landmarks" and request.score_threshold is None:
        return replace(request, score_threshold=landmark_entry(request.family)["presence_threshold"])
    return request


def _calibration(request: ConvertRequest, spec: InputSpec) -> np.ndarray:
    from edgeface.quantization import calibration as calib

    if request.calibration is None:
        return _face_inputs(request, spec)[: request.calibration_size]
    if request.calibration.suffix == ".npy":
        return calib.calibration_from_npy(request.calibration, request.calibration_size, request.seed,
                                          (spec.height, spec.width, 3))
    return calib.calibration_from_images(request.calibration, spec, request.calibration_size, request.seed)


def _face_inputs(request: ConvertRequest, spec: InputSpec) -> np.ndarray:
    """Real faces, preprocessed as the SDK would: aligned-style crops for embedders, face
    crops framed as a landmark model sees them, whole images for detectors and unknown models."""
    from edgeface.preprocess import Preprocessor
    from edgeface.quantization import calibration as calib

    pre = Preprocessor(spec)
    if request.role == "embedder":
        return pre.normalize(calib.face_chips((spec.height, spec.width)))
    if request.role == "landmarks":
        return pre.normalize(calib.landmark_crops(spec.height))
    return np.stack([pre(image)[0][0].copy() for image in calib.face_images()])


def _detections(family: str, names: list[str], outputs: list[np.ndarray], spec: InputSpec):
    """Decode every image's outputs through the SDK's detector (decoder and NMS, in
    model-input-normalised coordinates): one Detections per image."""
    from types import SimpleNamespace

    from edgeface.decoders import OutputInfo
    from edgeface.cards.presets import detector_entry
    from edgeface.detect import Detector, detector_spec

    shapes = [(n, (1, *o.shape[1:])) for n, o in zip(names, outputs)]
    entry = detector_entry(family, shapes, spec.height, spec.width)
    # The outputs are computed already: the detector only binds to their shapes and decodes.
    detector = Detector(SimpleNamespace(outputs=[OutputInfo(n, s) for n, s in shapes]), detector_spec(entry, spec))
    return [detector.decode([o[i:i + 1] for o in outputs]) for i in range(len(outputs[0]))]


def split_variable(names: list[str], samples: list[list[np.ndarray]], variable: list[str]
                   ) -> tuple[list[str], list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Per-output lists of per-sample arrays, split into the outputs of fixed size (names,
    arrays with the samples stacked) and the ``variable`` ones (name -> per-sample list)."""
    from edgeface.quantization.fidelity import stack_samples

    fixed = [(name, stack_samples(per)) for name, per in zip(names, samples) if name not in variable]
    return ([name for name, _ in fixed], [array for _, array in fixed],
            {name: per for name, per in zip(names, samples) if name in variable})


def reference_outputs(source, x_eval: np.ndarray):
    """The source's outputs on the NHWC batch ``x_eval``: (names, arrays) of the outputs of
    fixed size, and the per-input outputs of those fed by post-processing in the graph."""
    x = source.to_source_layout(x_eval)
    if not source.variable_outputs:
        return list(source.output_names), source.run(x), {}
    each = source.run_each(x)
    samples = [[outputs[k] for outputs in each] for k in range(len(source.output_names))]
    return split_variable(list(source.output_names), samples, source.variable_outputs)


def _converted_outputs(fmt: str, data: bytes, x_eval, path: Path, accelerator, variable: dict, on_sample=None):
    """The converted file's outputs on ``x_eval``: (names, arrays) of the fixed-size ones,
    and the per-input outputs named in ``variable`` (the file keeps the source's names)."""
    from edgeface.quantization import fidelity as fid

    if not variable:
        got, outputs = fid.run_model(fmt, data, x_eval, str(path), accelerator=accelerator, on_sample=on_sample)
        return [name for name, _ in outputs], got, {}
    samples, outputs = fid.run_model_samples(fmt, data, x_eval, str(path), accelerator=accelerator,
                                             on_sample=on_sample)
    names = [name for name, _ in outputs]
    missing = [name for name in variable if name not in names]
    if missing:
        raise fid.FidelityError(f"{path.name}: no output named {missing[0]!r} (it has {', '.join(names)}): the "
                                f"outputs whose size varies are compared by name")
    return split_variable(names, samples, list(variable))


def artifact_fidelity(request, spec, ref_names, ref, data: bytes, precision: str, path: Path, x_eval,
                      coverage: dict, fmt: str = "tflite", accelerator: str | None = None,
                      variable: dict[str, list[np.ndarray]] | None = None,
                      on_sample: Callable[[int, int], None] | None = None):
    """Run a converted file the SDK's way on ``x_eval`` and compare it with the source's
    outputs ``ref``: per-output figures, plus the role's (embedding or detections).
    ``variable``: the source's per-input outputs whose size varies (``reference_outputs``).
    ``on_sample``: see ``edgeface.quantization.fidelity.run_model``.
    Returns the report and the file's (output names, outputs) for the bundle."""
    from edgeface.quantization import fidelity as fid

    names, got, got_variable = _converted_outputs(fmt, data, x_eval, path, accelerator, variable or {}, on_sample)
    # whole shapes, batch axis included: align_outputs applies the permutations to whole arrays
    matches = fid.match_outputs([(n, r.shape) for n, r in zip(ref_names, ref)],
                                [(n, g.shape) for n, g in zip(names, got)])
    aligned = fid.align_outputs(got, matches)
    report = fid.FidelityReport(file=path.name, precision=precision, size_bytes=len(data),
                                outputs=fid.compare_outputs(ref, aligned, names=ref_names),
                                coverage=coverage,
                                scalars=fid.scalar_outputs(ref, aligned, ref_names, request.scalar_threshold,
                                                           request.score_threshold))
    if variable:
        report.variable_outputs = fid.compare_variable_outputs(
            list(variable.values()), [got_variable[name] for name in variable], list(variable))
    if request.role == "embedder":
        i = embedding_index(ref)
        report.embedder = fid.embedder_fidelity(ref[i], aligned[i], request.verify_threshold)
        names = [names[next(d for s, d, _ in matches if s == i)]]  # the embedding's name in the file
        got = [got[next(d for s, d, _ in matches if s == i)]]
    elif request.role == "detector":
        ref_dets = _detections(request.family, ref_names, ref, spec)
        got_dets = _detections(request.family, names, got, spec)
        report.detector = fid.detector_fidelity(ref_dets, got_dets)
    elif request.role == "landmarks":
        entry = landmark_entry(request.family)
        _output_named(ref_names, entry["points_output"])
        groups = entry["point_groups"]
        report.landmarks = fid.landmark_fidelity(all_points(entry, ref_names, ref),
                                                 all_points(entry, ref_names, aligned), entry["points"],
                                                 groups["right_eye"], groups["left_eye"])
    return report, names, got


def all_points(entry: dict, names: list[str], outputs: list[np.ndarray]) -> np.ndarray:
    """(N, points, 3) crop points of a landmark family's model outputs (N crops): its
    points output with the family's refinements applied, as the SDK reads them."""
    from edgeface.bundle import Refinement
    from edgeface.landmarks import CropPoints

    refinements = [Refinement(r["output"], tuple(r["points"]), tuple(r.get("depth_from", ())))
                   for r in entry.get("refinements", [])]
    sizes = [int(np.prod(o.shape[1:])) for o in outputs]
    read = CropPoints(entry["points"], entry["points_output"], refinements, names, sizes, "--role landmarks")
    return np.stack([read([o[k] for o in outputs]) for k in range(len(outputs[0]))])


def _output_named(names: list[str], name: str) -> int:
    if name not in names:
        raise EdgefaceError(f"--role landmarks: the model has no output {name!r} (its outputs: {', '.join(names)}): "
                            f"is it the family's model?")
    return names.index(name)


def embedding_index(outputs: list[np.ndarray]) -> int:
    """The embedder's output: the first (N, D) one."""
    for i, out in enumerate(outputs):
        if out.ndim == 2:
            return i
    raise EdgefaceError(f"--role embedder: the model has no (N, D) output (its outputs: "
                        f"{[o.shape[1:] for o in outputs]})")


def role_summary(report) -> str:
    """One line of the embedder or detector figures of a fidelity report, and of its
    scalar outputs' decisions (None: a precision that failed before it could be checked)."""
    if report is None:
        return "-"
    parts = [f"{s.name}: {s.flips}/{s.samples} flip at {s.threshold:g}" for s in report.scalars]
    if report.embedder is not None:
        e = report.embedder
        parts.insert(0, f"embedding cos mean {e.cosine_mean:.4f} worst {e.cosine_worst:.4f}, {e.flips} flips")
    elif report.landmarks is not None:
        m = report.landmarks
        parts.insert(0, f"landmarks error mean {m.error_mean:.2%} worst {m.error_max:.2%} of the eye distance")
    elif report.detector is not None:
        d = report.detector
        iou = "-" if d.min_iou is None else f"{d.mean_iou:.3f}/{d.min_iou:.3f}"
        parts.insert(0, f"faces {d.ref_faces}->{d.got_faces}, IoU mean/min {iou}, missed {d.missed}, "
                        f"extra {d.extra}")
    return "; ".join(parts) or "-"


def bundle_manifest(request, spec: InputSpec, path: Path, names, got, io_dtype: str, precision: str,
                    fmt: str = "tflite", targets: dict | None = None) -> dict:
    """The manifest of a one-model bundle for ``path`` (at ``precision``) in the request's
    role, with the request's name, description, training info and alignment, and the
    model's accelerator builds (``targets``: SoC -> entry)."""
    model = {"file": path.name, "format": fmt, "input": {**spec.to_dict(), "dtype": io_dtype}, "targets": targets or {}}
    if request.role == "embedder":
        alignment = request.alignment or arcface_alignment(spec.width, spec.height)
        model.update(embedding_size=int(np.prod(got[0].shape[1:])), output=names[0], alignment=alignment.to_dict(),
                     verify_threshold=request.verify_threshold)
    elif request.role == "landmarks":
        model.update({k: v for k, v in landmark_entry(request.family).items() if k != "input"})
    else:
        from edgeface.cards.presets import detector_entry

        model.update(detector_entry(request.family, [(n, (1, *g.shape[1:])) for n, g in zip(names, got)],
                                    spec.height, spec.width))
    description = request.description or f"converted from {request.source.name} by edgeface"
    manifest = {"name": f"{request.name}-{precision}" if request.name else f"{request.source.stem}-{path.stem}",
                "models": {request.role: model},
                "description": f"{description}, {precision}" if request.description else description,
                "source": {"model": request.source.name}}
    if request.training is not None:
        manifest["training"] = request.training
    return manifest


def arcface_alignment(width: int, height: int) -> AlignmentSpec:
    """The ArcFace 112x112 template scaled to a ``width`` x ``height`` chip."""
    from edgeface.align import ARCFACE_TEMPLATE

    scale_x, scale_y = width / 112.0, height / 112.0
    return AlignmentSpec(width=width, height=height,
                         template={k: (x * scale_x, y * scale_y) for k, (x, y) in ARCFACE_TEMPLATE.items()})


def convert(request: ConvertRequest, progress: Callable[[str], None] = lambda message: None,
            warn: Callable[[str], None] = lambda message: None) -> ConvertResult:
    """Convert at every requested precision; one precision failing is reported and the
    others still run. ``warn`` hears, before any conversion, what the source graph holds
    that the user should know (post-processing inside it)."""
    from edgeface.converters.sources import load_source
    from edgeface.converters.tflite import PRECISIONS

    _validate(request, PRECISIONS)
    request = with_role_defaults(request)
    request.out.mkdir(parents=True, exist_ok=True)
    progress(f"loading {request.source}")
    source = load_source(request.source, input_shape=request.input_shapes, outputs=request.outputs)
    notes = postprocessing_notes(source)
    for note in notes:
        warn(note)
    spec = input_spec(request, source.height, source.width)
    calibration = _calibration(request, spec)
    x_eval = np.concatenate([_face_inputs(request, spec), calibration[:16]]).astype(np.float32)
    reference = reference_outputs(source, x_eval)
    artifacts = [_convert_precision(request, source, spec, precision, calibration, x_eval, reference, progress)
                 for precision in request.precisions]
    report_json, report_md = write_reports(request, source, artifacts, notes)
    if all(a.error for a in artifacts):
        raise ConversionError("; ".join(f"{a.precision}: {a.error}" for a in artifacts) + f" (report: {report_md})")
    return ConvertResult(source, artifacts, report_json, report_md, notes)


def postprocessing_notes(source) -> list[str]:
    """What to tell the user about post-processing ops inside the source graph."""
    if not source.postprocessing:
        return []
    ops = "; ".join(p.describe() for p in source.postprocessing)
    reads = sorted({tensor for p in source.postprocessing for tensor in p.reads})
    cut = f" (e.g. --outputs {','.join(reads[:4])})" if reads else ""
    return [f"{source.path.name}: post-processing inside the graph: {ops}. These outputs vary in size or order "
            f"per image, so they are compared image by image and any change of size fails the gate; TFLite "
            f"int8 has no kernel for some of these ops. To convert the raw outputs and let the SDK's decoders "
            f"do this part, cut the graph before it with --outputs{cut}"]


def _convert_precision(request: ConvertRequest, source, spec: InputSpec, precision: str, calibration, x_eval,
                       reference, progress) -> Artifact:
    """One precision: convert, check, write the file (and bundle). An error is reported as
    this precision's failure; the file is removed only if this run created it."""
    path = request.out / f"{request.source.stem}_{precision}.tflite"
    existed = path.exists()
    start = time.perf_counter()
    try:
        return _converted_artifact(request, source, spec, precision, calibration, x_eval, reference, path,
                                   progress)
    except EdgefaceError as exc:
        if not existed:
            path.unlink(missing_ok=True)
        return Artifact(precision, path, 0, time.perf_counter() - start, None, None, error=str(exc),
                        failures=[f"not converted: {exc}"])


def _converted_artifact(request: ConvertRequest, source, spec: InputSpec, precision: str, calibration, x_eval,
                        reference, path: Path, progress) -> Artifact:
    from edgeface.converters.tflite import convert_to_tflite
    from edgeface.quantization.coverage import delegate_coverage

    ref_names, ref, variable = reference
    workdir = request.out / ".work"
    progress(f"converting to {precision}")
    start = time.perf_counter()
    if precision == QAT:
        data = _quantization_aware(request, source, calibration, ref, path, workdir)
    else:
        io_type = request.io_type if precision == "int8" else "float32"  # integer I/O: int8 only
        data = convert_to_tflite(source, precision, calibration, io_type=io_type, workdir=workdir)
    seconds = time.perf_counter() - start
    progress(f"checking {path.name}")
    coverage = delegate_coverage(data, where=path.name)
    report, names, got = artifact_fidelity(request, spec, ref_names, ref, data, precision, path, x_eval,
                                           coverage.to_dict(), variable=variable)
    atomic_write_bytes(path, data)  # written once checked: a file that cannot be checked is never left
    artifact = Artifact(precision, path, len(data), seconds, report, coverage)
    artifact.failures = report.gate(request.max_cosine_drop, request.min_iou, max_landmark_error=landmark_limit(request))
    if request.role:
        io_dtype = request.io_type if precision in ("int8", QAT) else "float32"
        manifest = bundle_manifest(request, spec, path, names, got, io_dtype, precision)
        artifact.bundle = write_bundle((request.bundle_dir or request.out) / f"bundle_{precision}", manifest,
                                       {path.name: data})
    return artifact


def landmark_limit(request: ConvertRequest) -> float:
    from edgeface.quantization.fidelity import LANDMARK_ERROR_GATE

    return LANDMARK_ERROR_GATE if request.max_landmark_error is None else request.max_landmark_error


def _quantization_aware(request, source, calibration: np.ndarray, ref, path: Path, workdir: Path) -> bytes:
    """int8 by quantization-aware training of the source's architecture (self-distillation
    on the calibration set), in a child process: see edgeface.quantization.qat."""
    from edgeface.models import architecture_kwargs
    from edgeface.quantization.qat import qat_to_tflite

    workdir.mkdir(parents=True, exist_ok=True)
    data_path = workdir / "qat_data.npy"
    np.save(data_path, calibration)
    kwargs = architecture_kwargs(request.architecture, source.height, [r.shape[1:] for r in ref])
    qat_to_tflite(request.architecture, kwargs, request.source, data_path, path, steps=request.qat_steps,
                  io_type=request.io_type, seed=request.seed)
    return path.read_bytes()


def _validate(request: ConvertRequest, precisions) -> None:
    known = (*precisions, QAT)
    unknown = [p for p in request.precisions if p not in known]
    if unknown or not request.precisions:
        raise EdgefaceError(f"--precision {','.join(request.precisions)}: choose from {', '.join(known)}")
    if QAT in request.precisions and (request.architecture is None or request.source.suffix != ".keras"):
        from edgeface.models import list_models

        raise EdgefaceError(f"--precision {QAT} trains the project's own architectures: give a .keras model "
                            f"and --arch ({', '.join(list_models())})")
    validate_role(request)
    if request.io_type not in ("float32", "int8", "uint8"):
        raise EdgefaceError(f"--io-type {request.io_type}: choose float32, int8 or uint8")
    if request.calibration is not None and not request.calibration.exists():
        raise EdgefaceError(f"--calib {request.calibration}: no such folder or .npy file")


def validate_role(request: ConvertRequest) -> None:
    """A role edgeface knows, with the family it needs to judge (and bundle) the model."""
    if request.role is not None and request.role not in ROLES:
        raise EdgefaceError(f"--role {request.role}: choose {', '.join(ROLES)}")
    if request.role == "detector" and not request.family:
        from edgeface.cards.presets import PRESETS

        raise EdgefaceError(f"--role detector needs --family ({', '.join(PRESETS)}) to decode its outputs")
    if request.role == "landmarks":
        landmark_entry(request.family or "")


def write_reports(request: ConvertRequest, source: Any, artifacts: list[Artifact],
                  notes: list[str] = ()) -> tuple[Path, Path]:
    base = next((a.size_bytes for a in artifacts if a.precision == "fp32" and not a.error), None)
    data = {"source": {"path": str(request.source), "kind": source.kind, "layout": source.layout,
                       "input_shape": list(source.input_shape), "outputs": list(source.output_names)},
            "gate": {"max_cosine_drop": request.max_cosine_drop, "min_iou": request.min_iou,
                     **({"max_landmark_error": landmark_limit(request)} if request.role == "landmarks" else {})},
            "notes": list(notes),
            "artifacts": [{"precision": a.precision, "file": None if a.error else a.path.name,
                           "size_bytes": a.size_bytes, "size_vs_fp32": a.size_bytes / base if base else None,
                           "convert_seconds": round(a.seconds, 2),
                           "fidelity": a.fidelity.to_dict() if a.fidelity else None,
                           "bundle": a.bundle.name if a.bundle else None, "error": a.error,
                           "passed": not a.failures, "failures": a.failures} for a in artifacts]}
    json_path, md_path = request.out / "report.json", request.out / "report.md"
    write_json(json_path, data, default=_jsonable)
    atomic_write_bytes(md_path, markdown_report(request, source, artifacts, base, notes).encode())
    return json_path, md_path


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def markdown_report(request: ConvertRequest, source: Any, artifacts: list[Artifact], base: int | None,
                    notes: list[str] = ()) -> str:
    lines = [f"# Conversion report: {request.source.name}", "",
             f"Source: {source.kind}, input {tuple(source.input_shape)} ({source.layout}). "
             f"Gate: max cosine drop {request.max_cosine_drop}, min IoU {request.min_iou}"
             + (f", max landmark error {landmark_limit(request):.2%} of the eye distance"
                if request.role == "landmarks" else "") + ".", "",
             *[f"Note: {note}\n" for note in notes],
             "| precision | file | KiB | vs fp32 | convert s | worst output cosine | role fidelity "
             "| XNNPACK | gate |", "|---|---|---|---|---|---|---|---|---|"]
    for a in artifacts:
        if a.error:
            lines.append(f"| {a.precision} | - | - | - | {a.seconds:.1f} | - | - | - | FAIL: {'; '.join(a.failures)} |")
            continue
        worst = a.fidelity.worst_cosine()
        ratio = f"{a.size_bytes / base:.2f}" if base else "-"
        gate = "pass" if not a.failures else "FAIL: " + "; ".join(a.failures)
        lines.append(f"| {a.precision} | {a.path.name} | {a.size_bytes / 1024:.1f} | {ratio} | {a.seconds:.1f} "
                     f"| {worst:.5f} | {role_summary(a.fidelity)} | {a.coverage.summary()} | {gate} |")
    return "\n".join(lines) + "\n"
