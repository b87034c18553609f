"""The default bundle: MediaPipe's BlazeFace detector with dlib's ResNet recognizer.

Each half is taken in int8 when its int8 variant passed edgeface's fidelity gate against
the float model (the manifest's ``source.quantization.gate_failures`` is empty), else
in float. It is what the CLI uses when no ``--bundle`` is given.
"""

from __future__ import annotations

from pathlib import Path

from edgeface.bundle import load_bundle
from edgeface.errors import EdgefaceError
from edgeface.pretrained import PretrainedModel

BUNDLE = "default"


def _passed_gate(bundle_dir: Path) -> bool:
    quantization = (load_bundle(bundle_dir).manifest.extra.get("source") or {}).get("quantization") or {}
    return not quantization.get("gate_failures")


def _pick(float_name: str, int8_name: str) -> Path:
    """The int8 bundle if its fidelity gate passed, else the float one."""
    from edgeface.pretrained import fetch_model

    int8 = fetch_model(int8_name)
    return int8 if _passed_gate(int8) else fetch_model(float_name)


def fetch_default(out_dir: str | Path | None = None) -> Path:
    from edgeface.pretrained.dlib_model import combined_bundle
    from edgeface.pretrained.fetch import bundles_dir

    out = Path(out_dir) if out_dir is not None else bundles_dir() / BUNDLE
    detector = _pick("blazeface", "blazeface-int8")
    embedder = _pick("dlib-resnet", "dlib-resnet-int8")
    if _is_current(out, detector, embedder):
        return out
    return combined_bundle(detector, embedder, out)


def _is_current(out: Path, detector_dir: Path, embedder_dir: Path) -> bool:
    """Whether ``out`` already holds, intact, the detector of ``detector_dir`` and the
    embedder of ``embedder_dir`` with their provenance: then it is left untouched (a
    rewrite would make every reader of it reload for nothing)."""
    if not (out / "manifest.json").is_file():
        return False
    try:
        have = load_bundle(out)
        sources = {"detector": load_bundle(detector_dir), "embedder": load_bundle(embedder_dir)}
        for role, source in sources.items():
            if getattr(have.manifest, role) != getattr(source.manifest, role):
                return False
            if (have.manifest.extra.get("source") or {}).get(role) != source.manifest.extra.get("source"):
                return False
        for spec in have.manifest.models():
            have.read_model(spec)  # checks the file against its sha256
    except EdgefaceError:
        return False
    return True


MODELS = [
    PretrainedModel(name="default", description="BlazeFace short-range + dlib ResNet, each in int8 where "
                    "its fidelity gate passed: detect, align, embed, match (needs edgeface[toolchain] "
                    "to build)", package="mediapipe + face_recognition_models", version="0.10.21 + 0.3.0",
                    licence="Apache-2.0 + MIT", fetch=fetch_default, bundle=BUNDLE),
]
