"""MediaPipe's face mesh, taken from the pinned mediapipe wheel, as a bundle with the
BlazeFace short-range detector that finds the faces it reads (its card: ``face-mesh`` in
``edgeface.cards.pretrained``). The wheel is downloaded, not installed; the model file is
checked against its pinned sha256, and its outputs against the card's manifest fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from edgeface.cards import ModelCard
from edgeface.errors import EdgefaceError


def fetch_face_mesh(card: ModelCard, out_dir: str | Path | None = None,
                    progress: Callable[[str], None] = lambda message: None) -> Path:
    """The ``face-mesh`` bundle (detector + landmarks) in ``out_dir`` (default
    ``<cache>/bundles/face-mesh``); reused when it holds the pinned files intact."""
    from edgeface.bundle import check_replaceable, load_bundle, write_bundle
    from edgeface.cards.pretrained import FACE_MESH_DETECTOR_INPUT, FACE_MESH_ENTRY
    from edgeface.pretrained import get_model
    from edgeface.pretrained.fetch import bundle_target, model_file_bytes

    out = bundle_target(card, out_dir)
    detector = load_bundle(get_model("blazeface").fetch(progress=progress))
    source = {"detector": detector.manifest.extra.get("source"), "landmarks": card.source.provenance()}
    entry = {"file": card.source.file, "format": "tflite", **FACE_MESH_ENTRY,
             "input": {"layout": "NHWC", "dtype": "float32", "channel_order": "RGB", **FACE_MESH_ENTRY["input"]}}
    finder = detector.manifest.detector.to_dict()
    finder["input"].update(FACE_MESH_DETECTOR_INPUT)
    if _is_current(out, source, entry, finder["input"]):
        return out
    check_replaceable(out)
    progress(f"taking {card.source.file} from {card.source.distribution}")
    data = model_file_bytes(card.source)
    _check_outputs(data, card.source.file, entry)
    manifest = {"name": card.bundle, "description": card.description,
                "models": {"detector": finder, "landmarks": entry}, "source": source}
    return write_bundle(out, manifest, {**detector.files(roles=("detector",)), card.source.file: data})


def _check_outputs(data: bytes, file: str, entry: dict) -> None:
    """The model file has the outputs the manifest fields name, of the sizes they say."""
    from edgeface.runtime import open_backend

    outputs = {o.name: o.shape for o in open_backend("tflite", data, file).outputs}
    expected = {entry["points_output"]: 3 * entry["points"], entry["presence_output"]: 1}
    for name, size in expected.items():
        if name not in outputs or abs(int(outputs[name][-1])) != size:
            raise EdgefaceError(f"{file}: expected an output {name} of {size} values, the model has "
                                f"{', '.join(f'{n} {tuple(s)}' for n, s in outputs.items())}")


def _is_current(out: Path, source: dict, entry: dict, detector_input: dict) -> bool:
    """Whether ``out`` holds an intact face-mesh bundle made from these sources, with the
    card's landmark fields and detector input (an older edgeface's are rewritten)."""
    from edgeface.pretrained.fetch import holds_intact

    def same(bundle) -> bool:
        written = bundle.manifest.raw["models"].get("landmarks") or {}
        finder = bundle.manifest.detector
        return (bundle.manifest.extra.get("source") == source and all(written.get(k) == v for k, v in entry.items())
                and finder is not None and finder.input.to_dict() == detector_input)
    return holds_intact(out, same)
