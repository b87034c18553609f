"""MediaPipe's face mesh, taken from the pinned mediapipe wheel, as a bundle with the
BlazeFace short-range detector that finds the faces it reads (its cards: ``face-mesh`` and
``face-mesh-iris`` in ``edgeface.cards.pretrained``). The wheel is downloaded, not
installed; the model file is checked against its pinned sha256, and its outputs against
the card's manifest fields.

The attention mesh (``face-mesh-iris``) calls MediaPipe's custom ops, which no LiteRT
has: it is made again with builtin ops (``edgeface.converters.mediapipe_ops``), which
needs TensorFlow (edgeface[toolchain]).
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
    from edgeface.cards.pretrained import FACE_MESH_DETECTOR_INPUT, LANDMARK_FAMILIES
    from edgeface.pretrained import get_model
    from edgeface.pretrained.fetch import bundle_target, model_file_bytes

    out = bundle_target(card, out_dir)
    detector = load_bundle(get_model("blazeface").fetch(progress=progress))
    family = LANDMARK_FAMILIES[card.name]
    replayed = "refinements" in family  # the attention mesh: custom ops made builtin here
    file = card.source.file.replace(".tflite", "_builtin.tflite") if replayed else card.source.file
    landmarks_source = card.source.provenance()
    if replayed:
        landmarks_source["conversion"] = "MediaPipe's custom ops replayed with builtin ops at fp32 " \
                                         "(edgeface.converters.mediapipe_ops)"
    source = {"detector": detector.manifest.extra.get("source"), "landmarks": landmarks_source}
    entry = {"file": file, "format": "tflite", **family,
             "input": {"layout": "NHWC", "dtype": "float32", "channel_order": "RGB", **family["input"]}}
    finder = detector.manifest.detector.to_dict()
    finder["input"].update(FACE_MESH_DETECTOR_INPUT)
    if _is_current(out, source, entry, finder["input"]):
        return out
    if replayed:
        from edgeface.pretrained.fetch import require_toolchain

        require_toolchain(card.name, "made again with builtin ops by TensorFlow", "face-mesh (468 points, no "
                          "irises)", modules=("tensorflow",))
    check_replaceable(out)
    progress(f"taking {card.source.file} from {card.source.distribution}")
    data = model_file_bytes(card.source)
    if replayed:
        from edgeface.converters.tflite import replayed_model

        progress("replacing MediaPipe's custom ops with builtin ones (TensorFlow)")
        data = replayed_model(data, card.source.file)
    _check_outputs(data, file, entry)
    manifest = {"name": card.bundle, "description": card.description,
                "models": {"detector": finder, "landmarks": entry}, "source": source}
    return write_bundle(out, manifest, {**detector.files(roles=("detector",)), file: data})


def _check_outputs(data: bytes, file: str, entry: dict) -> None:
    """The model file has the outputs the manifest fields name, of the sizes they say."""
    from edgeface.runtime import open_backend

    outputs = {o.name: o.shape for o in open_backend("tflite", data, file).outputs}
    refinements = entry.get("refinements", [])
    only_refined = sum(len(r["points"]) for r in refinements if "depth_from" in r)  # the irises
    expected = {entry["points_output"]: 3 * (entry["points"] - only_refined), entry["presence_output"]: 1}
    expected.update({r["output"]: 2 * len(r["points"]) for r in refinements})
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
