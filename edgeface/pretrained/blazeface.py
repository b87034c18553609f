"""MediaPipe's BlazeFace face detectors, taken from the pinned mediapipe wheel.

What each model is (the wheel, the file in it, its preset, its description) is its card
in ``edgeface.cards.pretrained``: ``blazeface`` (short range, 128x128, faces within about
2 m), ``blazeface-full`` (full range, 192x192, up to about 5 m) and ``blazeface-int8``
(short range quantised here). The wheel is downloaded (not installed), checked against
its pinned sha256, and the model becomes a detector-only bundle whose manifest comes from
``edgeface.cards.presets`` and records where it came from.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from edgeface.cards import ModelCard
from edgeface.errors import EdgefaceError


def fetch_float(card: ModelCard, out_dir: str | Path | None = None,
                progress: Callable[[str], None] = lambda message: None) -> Path:
    """A bundle (detector only) with the model of ``card`` as MediaPipe ships it, in
    ``out_dir`` (default ``<cache>/bundles/<card.bundle>``); reused when one made from the
    pinned file is already there."""
    from edgeface.bundle import check_replaceable
    from edgeface.pretrained.fetch import bundle_target, model_file_bytes

    out = bundle_target(card, out_dir)
    if _is_current(out, card):
        return _with_card_search(out, card)
    check_replaceable(out)
    progress(f"downloading {card.source.distribution}")
    return _write(out, card, model_file_bytes(card.source))


def _write(out: Path, card: ModelCard, data: bytes) -> Path:
    from edgeface.bundle import write_bundle
    from edgeface.cards.presets import PRESETS, detector_entry
    from edgeface.runtime import open_backend

    file = card.source.file
    backend = open_backend("tflite", data, file)  # the real tensor names and shapes
    preset_input = PRESETS[card.preset]["input"]
    height, width = preset_input["height"], preset_input["width"]
    (info,) = backend.inputs
    if tuple(info.shape[1:]) != (height, width, 3):
        raise EdgefaceError(f"{file}: input {tuple(info.shape)} is not the (1, {height}, {width}, 3) "
                            f"of the {card.preset} preset")
    detector = {"file": file, "format": "tflite",
                "input": {"layout": "NHWC", "dtype": "float32", "channel_order": "RGB", **preset_input},
                **detector_entry(card.preset, [(o.name, o.shape) for o in backend.outputs], height, width),
                "search": card.search}
    manifest = {"name": card.bundle, "description": card.description,
                "models": {"detector": detector}, "source": card.source.provenance()}
    return write_bundle(out, manifest, {file: data})


def _is_current(out: Path, card: ModelCard) -> bool:
    """Whether ``out`` holds an intact bundle made from the pinned file."""
    if not (out / "manifest.json").is_file():
        return False
    from edgeface.bundle import load_bundle

    try:
        bundle = load_bundle(out)
        detector = bundle.manifest.detector
        if detector is None or detector.sha256 != card.source.member_sha256:
            return False
        if bundle.manifest.extra.get("source") != card.source.provenance():
            return False
        bundle.read_model(detector)  # checks the file against its sha256
    except EdgefaceError:
        return False
    return True


def _with_card_search(out: Path, card: ModelCard) -> Path:
    """``out``, a current bundle of ``card``, with the card's search default: a bundle an
    older edgeface wrote (before ``models.detector.search``) gets its manifest rewritten
    around the same model, not rebuilt."""
    from edgeface.bundle import check_replaceable, load_bundle, write_bundle

    bundle = load_bundle(out)
    detector = bundle.manifest.detector
    if detector.search == card.search:
        return out
    check_replaceable(out)
    manifest = replace(bundle.manifest, detector=replace(detector, search=card.search))
    return write_bundle(out, manifest, {detector.file: bundle.read_model(detector)})


# -- int8, made here by edgeface's own quantizer ---------------------------------------------

def fetch_int8(card: ModelCard, out_dir: str | Path | None = None,
               progress: Callable[[str], None] = lambda message: None) -> Path:
    """A bundle with BlazeFace short-range quantised to int8 by ``edgeface quantize``'s own
    pipeline (TFLite -> ONNX with tf2onnx -> SavedModel with onnx2tf -> int8 TFLite,
    calibrated on real faces), with the fidelity against the float model in the manifest's
    ``source.quantization``. TFLite cannot be re-quantised directly: TFLiteConverter needs
    a TensorFlow model, hence the round trip. Needs the toolchain (TensorFlow, tf2onnx,
    onnx2tf: :class:`BackendUnavailableError` when one is missing); takes about 20 s. Reused
    when a bundle made from the pinned file is there."""
    import shutil
    import tempfile

    from edgeface.bundle import Manifest, check_replaceable, load_bundle, write_bundle
    from edgeface.pretrained import get_model
    from edgeface.pretrained.fetch import bundle_target, require_toolchain, toolchain_versions

    out = bundle_target(card, out_dir)
    if _is_current_int8(out, card):
        return _with_card_search(out, card)
    require_toolchain(card.name, "re-quantised through ONNX and TensorFlow", "blazeface (float, as MediaPipe "
                      "ships it)", modules=("tensorflow", "tf2onnx", "onnx2tf"))
    check_replaceable(out)
    float_model = get_model("blazeface")
    float_bundle = float_model.fetch(progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{card.bundle}-work-", dir=out.parent))
    try:
        from edgeface.converters.job import ConvertRequest, convert
        from edgeface.converters.onnx_export import export_onnx
        from edgeface.converters.sources import load_source

        progress("exporting the float model to ONNX (tf2onnx)")
        source = load_source(float_bundle / float_model.card.source.file)
        # An NCHW input, as onnx2tf expects: it turns NCHW graphs back into NHWC.
        onnx = export_onnx(source, work / "blazeface_short.onnx", nchw=True)
        result = convert(ConvertRequest(source=onnx, out=work / "out", precisions=["int8"],
                                        role="detector", family=card.preset), progress)
        (artifact,) = result.artifacts
        made = load_bundle(artifact.bundle)
        detector = made.manifest.detector
        data = made.read_model(made.manifest.detector)
        fidelity = artifact.fidelity.to_dict()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    file = card.source.file.replace(".tflite", "_int8.tflite")
    detector = replace(detector, file=file, search=card.search)
    quantization = {"tool": "edgeface quantize (edgeface.converters.job.convert)",
                    "route": "tflite -> onnx (tf2onnx, NCHW input) -> SavedModel (onnx2tf) -> "
                             "int8 tflite (TFLiteConverter, float32 input/output)",
                    "calibration": card.calibration, "versions": toolchain_versions(),
                    "fidelity_vs_float": {k: fidelity.get(k) for k in ("outputs", "detector")},
                    "gate_failures": artifact.failures}
    manifest = Manifest(name=card.bundle, description=card.description, detector=detector, embedder=None,
                        extra={"source": {**card.source.provenance(), "quantization": quantization}})
    return write_bundle(out, manifest, {file: data})


def _is_current_int8(out: Path, card: ModelCard) -> bool:
    if not (out / "manifest.json").is_file():
        return False
    from edgeface.bundle import load_bundle

    try:
        bundle = load_bundle(out)
        source = bundle.manifest.extra.get("source")
        if not isinstance(source, dict) or "quantization" not in source or bundle.manifest.detector is None:
            return False
        if {k: v for k, v in source.items() if k != "quantization"} != card.source.provenance():
            return False
        bundle.read_model(bundle.manifest.detector)
    except EdgefaceError:
        return False
    return True
