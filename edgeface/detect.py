"""Face detection: preprocess, run the detector model, decode, suppress, map back.

The one detect -> decode -> NMS -> map-back path: the SDK runs it on a bundle's model, the
converter's fidelity check on the outputs of a source and a converted model, and training
on a Keras model, each through a runner (``Runner``).
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from edgeface.bundle import DecoderSpec, DetectorSpec, InputSpec
from edgeface.decoders import OutputInfo
from edgeface.decoders.nms import suppress
from edgeface.preprocess import Placement, Preprocessor
from edgeface.results import Detections
from edgeface.schema import Fields


class Runner(Protocol):
    """What the detector needs of a model: its outputs' names and shapes, and a run from a
    normalised float32 input batch to every output as float32 (``edgeface.runtime.model.Model``
    is one; a Keras model or any function can be wrapped as one)."""

    outputs: Sequence  # each with .name and .shape (-1 where the batch size varies)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """(B, ...) input batch -> every output, batch first."""


class Detector:
    def __init__(self, model: Runner, spec: DetectorSpec):
        self.model = model
        self.spec = spec
        # A -1 batch dimension counts as 1 for the decoder's shape checks.
        self.decoder = spec.decoder.bound([OutputInfo(o.name, tuple(abs(d) for d in o.shape)) for o in model.outputs])
        self.preprocess = Preprocessor(spec.input)
        self.keypoint_names = spec.keypoint_names or tuple(
            f"point_{i}" for i in range(self.decoder.num_keypoints))

    def detect(self, rgb, score_threshold: float | None = None,
               max_faces: int | None = None) -> Detections:
        """HxWx3 uint8 RGB -> detections in original-image pixels, best first."""
        batch, placement = self.preprocess(rgb)
        return self.decode(self.model.run(batch), placement, score_threshold, max_faces)

    def detect_batch(self, images: Sequence[np.ndarray], score_threshold: float | None = None,
                     max_faces: int | None = None, batch: int = 32) -> list[Detections]:
        """``detect`` for each image, running the model on ``batch`` images at a time (for
        runners that take a batch, such as a Keras model)."""
        found = []
        for start in range(0, len(images), batch):
            prepared = [(x.copy(), p) for x, p in map(self.preprocess, images[start:start + batch])]  # reused buffer
            outputs = self.model.run(np.concatenate([x for x, _ in prepared]))
            found += [self.decode([o[i:i + 1] for o in outputs], placement, score_threshold, max_faces)
                      for i, (_, placement) in enumerate(prepared)]
        return found

    def decode(self, outputs: Sequence[np.ndarray], placement: Placement | None = None,
               score_threshold: float | None = None, max_faces: int | None = None) -> Detections:
        """One image's model outputs -> its detections, best first: decoded at the
        manifest's (or the given) threshold, suppressed, and mapped back to original-image
        pixels through ``placement`` (None: left normalised to the model input)."""
        threshold = self.spec.score_threshold if score_threshold is None else score_threshold
        found = self.decoder.decode(outputs, threshold)
        found = suppress(found, self.spec.nms, self.spec.nms_iou, max_faces or self.spec.max_faces)
        boxes, keypoints = found.boxes, found.keypoints
        if placement is not None:
            boxes = placement.to_original(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
            keypoints = placement.to_original(keypoints)
        return Detections(boxes, found.scores, keypoints, self.keypoint_names)


def detector_spec(entry: dict, input_spec: InputSpec) -> DetectorSpec:
    """The spec of a detector not read from a bundle (a model being converted or trained)
    from its manifest fields (``edgeface.cards.presets.detector_entry``'s form) and input."""
    return DetectorSpec(role="detector", file="", sha256="", format="", input=input_spec, targets={},
                        decoder=DecoderSpec.parse(Fields(entry["decoder"], "decoder"), input_spec),
                        keypoint_names=tuple(entry.get("keypoint_names", ())),
                        score_threshold=entry["score_threshold"], nms_iou=entry["nms_iou"],
                        nms=entry.get("nms", "hard"), max_faces=entry.get("max_faces", 100),
                        search=entry.get("search", "whole"))
