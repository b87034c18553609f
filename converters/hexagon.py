"""The job behind ``edgeface compile``: a face model -> QNN context binaries per SoC, verified.

Source model in (ONNX, or Keras/SavedModel/TFLite exported to ONNX first); then, for each
precision, an HTP-ready ONNX (static shapes; QDQ for w8a8/w8a16, calibrated on the same
sets as the TFLite path) and for each SoC a compiled context. Every context is run in the
HTP simulator on real face images and compared with the float source by the same
fidelity code and gate as ``edgeface convert``. With ``role`` set, one bundle per
precision carries the portable ONNX model plus the contexts under their SoC.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeface.converters.job import (ConvertRequest, _calibration, _face_inputs, _jsonable, artifact_fidelity,
                                     bundle_manifest, input_spec, landmark_limit, validate_role, with_role_defaults)
from edgeface.errors import EdgefaceError
from edgeface.fsutil import atomic_write_bytes, write_json

DEFAULT_SOCS = ["SM8650", "SM8750"]


@dataclass
class CompileRequest(ConvertRequest):
    precisions: list[str] = field(default_factory=lambda: ["w8a8"])
    socs: list[str] = field(default_factory=lambda: list(DEFAULT_SOCS))
    allow_fallback: bool = False  # keep contexts whose graph partly falls back to the CPU
    first_passing: bool = False  # per SoC, stop at the first precision whose context passes the gate
    check_images: int | None = None  # images each context is checked on in the simulator; default: all
    # called with (done, total) as the simulator checks each image (a 640x640 model takes ~20 s per image)
    on_check: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)


@dataclass
class CompiledArtifact:
    context: Any  # edgeface.converters.qnn.HtpContext
    fidelity: Any  # edgeface.quantization.fidelity.FidelityReport (HTP simulator vs float source)
    failures: list[str] = field(default_factory=list)


@dataclass
class CompileResult:
    artifacts: list[CompiledArtifact]
    bundles: list[Path]
    skipped: list[str]  # (precision, SoC) pairs not built, and why
    report_json: Path
    report_md: Path
    refused: list[str] = field(default_factory=list)  # precisions (per SoC) that failed to build, and why

    @property
    def failures(self) -> list[str]:
        return [f"{a.context.precision} {a.context.soc}: {f}" for a in self.artifacts for f in a.failures]


def compile_hexagon(request: CompileRequest, progress: Callable[[str], None] = lambda message: None) -> CompileResult:
    """Compile and check every requested precision for every SoC. A precision that cannot
    be built (ops the HTP cannot run, a failed quantization) is recorded in ``refused``
    and the others are still tried; only when nothing could be built does it raise."""
    from edgeface.converters.sources import load_source
    from edgeface.quantization.qdq import static_model
    from edgeface.runtime.qnn import qnn_devices
    from edgeface.socs import find_soc

    socs = [find_soc(name) for name in request.socs]
    _validate(request)
    request = with_role_defaults(request)
    qnn_devices()  # fail now, not after the export, when the qnn extra is missing
    work = request.out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    progress(f"loading {request.source}")
    source = load_source(request.source, input_shape=request.input_shapes)
    onnx_path = _as_onnx(source, work, progress)
    static = static_model(onnx_path, work / f"{request.source.stem}_static.onnx", source.input_shape)
    spec = input_spec(request, source.height, source.width)  # data are NHWC; the graph may be NCHW
    layout = _onnx_layout(static)
    calibration = _calibration(request, spec)
    x_eval = np.concatenate([_face_inputs(request, spec), calibration[:16]]).astype(np.float32)
    x_eval = _check_subset(x_eval, request.check_images)
    ref = source.run(source.to_source_layout(x_eval))
    artifacts, bundles, skipped, refused = [], [], [], []
    passed: dict[str, str] = {}  # SoC -> the first precision that passed
    for precision in request.precisions:
        done = [s.part for s in socs if request.first_passing and s.part in passed]
        skipped += [f"{precision} {part}: not tried, {passed[part]} passed first" for part in done]
        if len(done) == len(socs):
            continue
        try:
            graph = _htp_graph(request, static, calibration, layout, precision, progress)
        except EdgefaceError as exc:  # this precision is refused; the next ones are still tried
            refused.append(f"{precision}: {exc}")
            continue
        compiled = []
        for soc in socs:
            if soc.part in done:
                continue
            if precision == "fp16" and not soc.supports_fp16:
                skipped.append(f"fp16 {soc.part}: the HTP of {soc.part} (Hexagon v{soc.htp_arch}) has no fp16 "
                               f"support (device_profiles/socs.yaml); use w8a8 or w8a16")
                continue
            try:
                artifact, names, got = _compile_and_check(request, graph, soc, precision, spec, source, ref, x_eval,
                                                          progress)
            except EdgefaceError as exc:  # e.g. ops the HTP cannot run at this precision
                refused.append(f"{precision} {soc.part}: {exc}")
                continue
            compiled.append((artifact, names, got))
            artifacts.append(artifact)
            if not artifact.failures:
                passed.setdefault(soc.part, precision)
        if request.role and compiled:
            bundles.append(_bundle(request, dataclasses.replace(spec, layout=layout), graph, compiled))
    if not artifacts:
        raise EdgefaceError("nothing to compile: " + "; ".join(skipped + refused))
    report_json, report_md = write_reports(request, artifacts, skipped, refused, len(x_eval))
    return CompileResult(artifacts, bundles, skipped, report_json, report_md, refused)


def _check_subset(x: np.ndarray, count: int | None) -> np.ndarray:
    """``count`` of the images ``x`` (all when None or more), spread evenly over them so
    that a short check still sees images from the whole list (faces, then calibration)."""
    if count is None or count >= len(x):
        return x
    return x[np.unique(np.linspace(0, len(x) - 1, count).round().astype(int))]


def _htp_graph(request: CompileRequest, static: Path, calibration: np.ndarray, layout: str, precision: str,
               progress) -> Path:
    """The graph the HTP compiler gets at ``precision``: the float one for fp16, else QDQ."""
    from edgeface.quantization.qdq import quantize_for_htp

    if precision == "fp16":
        return static
    progress(f"quantizing for the HTP ({precision})")
    return quantize_for_htp(static, request.out / f"{request.source.stem}_{precision}.onnx",
                            _in_layout(calibration, layout), precision)


def _compile_and_check(request: CompileRequest, graph: Path, soc, precision: str, spec, source, ref, x_eval,
                       progress):
    """Compile ``graph`` for ``soc`` and check the context in the HTP simulator on the
    images ``x_eval`` against the source's outputs ``ref`` on them."""
    from edgeface.converters.qnn import compile_context

    progress(f"compiling {precision} for {soc.part} (Hexagon v{soc.htp_arch})")
    context = compile_context(graph, soc, request.out / precision, request.source.stem, precision,
                              request.allow_fallback)
    progress(f"checking {context.onnx_path.name} in the HTP simulator on {len(x_eval)} images")
    data = context.onnx_path.read_bytes()
    report, names, got = artifact_fidelity(request, spec, source.output_names, ref, data, precision,
                                           context.onnx_path, x_eval, context.to_dict(), fmt="onnx",
                                           accelerator="qnn-htp", on_sample=request.on_check)
    artifact = CompiledArtifact(context, report, report.gate(request.max_cosine_drop, request.min_iou,
                                                             max_landmark_error=landmark_limit(request)))
    if not context.full_offload:
        artifact.failures.append(f"{len(context.fallback_ops)} node(s) fall back to the CPU: "
                                 f"{', '.join(context.fallback_ops)}")
    return artifact, names, got


def _validate(request: CompileRequest) -> None:
    from edgeface.quantization.qdq import HTP_PRECISIONS

    unknown = [p for p in request.precisions if p not in HTP_PRECISIONS]
    if unknown or not request.precisions:
        raise EdgefaceError(f"--precision {','.join(request.precisions)}: choose from {', '.join(HTP_PRECISIONS)}")
    if not request.socs:
        raise EdgefaceError("--soc: name at least one SoC, e.g. --soc SM8650")
    if request.check_images is not None and request.check_images < 1:
        raise EdgefaceError(f"--check-images {request.check_images}: check at least one image")
    validate_role(request)
    if request.calibration is not None and not request.calibration.exists():
        raise EdgefaceError(f"--calib {request.calibration}: no such folder or .npy file")


def _as_onnx(source, work: Path, progress) -> Path:
    if source.kind == "onnx":
        return source.path
    from edgeface.converters.onnx_export import export_onnx

    progress(f"exporting {source.path.name} to ONNX")
    return export_onnx(source, work / f"{source.path.stem}.onnx")


def _onnx_layout(path: Path) -> str:
    import onnx

    dims = [d.dim_value for d in onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim]
    return "NCHW" if len(dims) == 4 and dims[1] == 3 and dims[3] != 3 else "NHWC"


def _in_layout(x_nhwc: np.ndarray, layout: str) -> np.ndarray:
    return np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)) if layout == "NCHW" else x_nhwc


def _bundle(request: CompileRequest, spec, graph: Path, compiled) -> Path:
    """A bundle whose portable file is the (QDQ) ONNX graph, with each SoC's context as a target."""
    from edgeface.bundle import write_bundle

    first, names, got = compiled[0]
    files = {graph.name: graph.read_bytes()}
    targets = {a.context.soc: target_entry(a.context, files) for a, _, _ in compiled}
    manifest = bundle_manifest(request, spec, graph, names, got, "float32", first.context.precision, fmt="onnx",
                               targets=targets)
    return write_bundle(request.out / f"bundle_{first.context.precision}", manifest, files)


def target_entry(ctx, files: dict[str, bytes]) -> dict:
    """The manifest's target entry for a compiled context; adds its file to ``files``."""
    name = f"qnn/{ctx.soc}/{ctx.onnx_path.name}"
    files[name] = ctx.onnx_path.read_bytes()
    return {"file": name, "format": "onnx", "accelerator": "qnn-htp", "precision": ctx.precision,
            "htp_arch": ctx.htp_arch, "soc_model": ctx.soc_model}


def write_reports(request: CompileRequest, artifacts: list[CompiledArtifact], skipped: list[str],
                  refused: list[str], images: int) -> tuple[Path, Path]:
    data = {"source": str(request.source), "socs": request.socs, "precisions": request.precisions, "skipped": skipped,
            "refused": refused, "images_checked": images,
            "gate": {"max_cosine_drop": request.max_cosine_drop, "min_iou": request.min_iou},
            "contexts": [{**a.context.to_dict(), "fidelity": a.fidelity.to_dict(), "passed": not a.failures,
                          "failures": a.failures} for a in artifacts]}
    json_path, md_path = request.out / "report.json", request.out / "report.md"
    write_json(json_path, data, default=_jsonable)
    atomic_write_bytes(md_path, markdown_report(request, artifacts, skipped, refused, images).encode())
    return json_path, md_path


def markdown_report(request: CompileRequest, artifacts: list[CompiledArtifact], skipped: list[str],
                    refused: list[str], images: int) -> str:
    from edgeface.converters.job import role_summary

    lines = [f"# Hexagon compile report: {request.source.name}", "",
             f"Contexts compiled offline with onnxruntime-qnn; fidelity measured in the HTP simulator "
             f"against the float source on {images} images (real faces and calibration samples).", "",
             "| precision | SoC | Hexagon | recorded in context | context KiB | nodes on HTP | compile s "
             "| worst output cosine | role fidelity | gate |", "|---|---|---|---|---|---|---|---|---|---|"]
    for a in artifacts:
        c = a.context
        worst = a.fidelity.worst_cosine()
        recorded = f"{c.recorded_soc} v{c.recorded_arch}" if c.recorded_soc else "-"
        gate = "pass" if not a.failures else "FAIL: " + "; ".join(a.failures)
        lines.append(f"| {c.precision} | {c.soc} | v{c.htp_arch} | {recorded} | {c.binary_bytes / 1024:.0f} "
                     f"| {c.nodes_on_htp}/{c.nodes_total} | {c.compile_seconds:.2f} | {worst:.4f} "
                     f"| {role_summary(a.fidelity)} | {gate} |")
    lines += ["", *(f"Not built: {note}" for note in skipped)] if skipped else []
    lines += ["", *(f"Refused: {note}" for note in refused)] if refused else []
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- a whole bundle

def preset_family(decoder) -> str | None:
    """The detector preset a ``DecoderSpec`` was made from: the one its manifest records,
    else (a bundle written before the preset was recorded) the one with the same
    settings, output names aside."""
    from edgeface.cards.presets import PRESETS

    if decoder.preset is not None:
        return decoder.preset if decoder.preset in PRESETS else None

    def settings(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in ("outputs", "box_scale", "preset")}

    return next((name for name, preset in PRESETS.items()
                 if settings(preset["decoder"]) == settings(decoder.settings)), None)


def landmark_family(spec) -> str:
    """The landmark family (``edgeface.cards.pretrained.LANDMARK_FAMILIES``) whose outputs a
    bundle's landmark model has."""
    from edgeface.cards.pretrained import LANDMARK_FAMILIES

    for name, entry in LANDMARK_FAMILIES.items():
        if (entry["points"], entry["points_output"]) == (spec.points, spec.points_output):
            return name
    raise EdgefaceError(f"models.landmarks ({spec.file}): its outputs match no known landmark family "
                        f"({', '.join(LANDMARK_FAMILIES)}), so its points cannot be checked")


def bundle_requests(bundle, out: Path, socs: list[str], precisions: list[str],
                    **options: Any) -> list[tuple[Any, CompileRequest]]:
    """One compile request per model of an opened bundle, with the model's own input spec
    and the role's gate (embedders: embedding cosine >= 0.99; detectors: no face missed
    or added, IoU >= 0.5). The model files are written under ``out/<role>/.work``."""
    requests = []
    for spec in bundle.manifest.models():
        work = out / spec.role
        source = work / ".work" / Path(spec.file).name
        source.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(source, bundle.read_model(spec))
        family = landmark_family(spec) if spec.role == "landmarks" else None
        if spec.role == "detector":
            family = preset_family(spec.decoder)
            if family is None:
                raise EdgefaceError(f"{bundle.location}: the detector's decoder matches no known family, so its "
                                    f"detections cannot be checked: compile the model file with --role detector "
                                    f"--family")
        gate = {"embedder": {"max_cosine_drop": 0.01}, "detector": {"min_iou": 0.5}}.get(spec.role, {})
        requests.append((spec, CompileRequest(source=source, out=work, precisions=precisions, socs=socs,
                                              role=spec.role, family=family, input=spec.input, **gate, **options,
                                              verify_threshold=getattr(spec, "verify_threshold", 0.5),
                                              score_threshold=getattr(spec, "score_threshold", None))))
    return requests


def compile_bundle(bundle_path: Path, out: Path, socs: list[str], precisions: list[str],
                   progress: Callable[[str], None] = lambda message: None, **options: Any) -> tuple[Path, list[CompileResult]]:
    """Compile every model of a bundle for ``socs``; write ``out/bundle``: the same bundle
    plus, per model and SoC, the first precision in ``precisions`` whose context passes
    the gate (see ``bundle_requests``; later precisions are not tried for that SoC).
    Targets the bundle already has are kept unless rebuilt for the same SoC. A model
    refused at every precision keeps what it had and does not stop the others; only a
    bundle of which nothing compiles is an error. Returns the bundle and each model's
    result."""
    from edgeface.bundle import load_bundle, write_bundle

    bundle = load_bundle(bundle_path)
    manifest, files = bundle.manifest, bundle.files()
    results = []
    for spec, request in bundle_requests(bundle, out, socs, precisions, first_passing=True, **options):
        progress(f"{spec.role}: {spec.file}")
        try:
            result = compile_hexagon(request, progress)
        except EdgefaceError as exc:  # nothing of this model compiled: the bundle's other models still are
            progress(f"{spec.role}: refused: {exc}")
            result = _refused_model(request, f"{spec.role}: {exc}")
        results.append(result)
        targets = {**spec.targets, **passing_targets(result, files)}
        manifest = manifest.with_model(dataclasses.replace(spec, targets=targets))
    if not any(result.artifacts for result in results):
        raise EdgefaceError(f"{bundle_path}: nothing to compile: " + "; ".join(r for res in results for r in res.refused))
    return write_bundle(out / "bundle", manifest, files), results


def _refused_model(request: CompileRequest, reason: str) -> CompileResult:
    """The result of a bundle's model that no requested precision could be built for: no
    contexts, the reason in ``refused`` and in its reports."""
    request.out.mkdir(parents=True, exist_ok=True)
    report_json, report_md = write_reports(request, [], [], [reason], 0)
    return CompileResult([], [], [], report_json, report_md, [reason])


def passing_targets(result: CompileResult, files: dict[str, bytes]) -> dict:
    """Per SoC, the ``TargetSpec`` of the first context (in precision order) that passed
    its gate; adds their files to ``files``."""
    from edgeface.bundle import TargetSpec

    targets = {}
    for artifact in result.artifacts:
        if not artifact.failures and artifact.context.soc not in targets:
            entry = target_entry(artifact.context, files)
            targets[artifact.context.soc] = TargetSpec(soc=artifact.context.soc, **entry,
                                                       sha256=hashlib.sha256(files[entry["file"]]).hexdigest())
    return targets
