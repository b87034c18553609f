"""Face detection: preprocess, run the detector model, decode, suppress, map back."""

from __future__ import annotations

from edgeface.bundle import DetectorSpec
from edgeface.decoders import OutputInfo, RawDetections
from edgeface.decoders.nms import suppress
from edgeface.preprocess import Preprocessor
from edgeface.runtime.model import Model


class Detector:
    def __init__(self, model: Model, spec: DetectorSpec):
        self.model = model
        self.spec = spec
        # A -1 batch dimension counts as 1 for the decoder's shape checks.
        self.decoder = spec.decoder.bound([OutputInfo(o.name, tuple(abs(d) for d in o.shape)) for o in model.outputs])
        self.preprocess = Preprocessor(spec.input)
        self.keypoint_names = spec.keypoint_names or tuple(
            f"point_{i}" for i in range(self.decoder.num_keypoints))

    def detect(self, rgb, score_threshold: float | None = None,
               max_faces: int | None = None) -> RawDetections:
        """HxWx3 uint8 RGB -> detections in original-image pixels, best first."""
        batch, placement = self.preprocess(rgb)
        outputs = self.model.run(batch)
        threshold = self.spec.score_threshold if score_threshold is None else score_threshold
        found = self.decoder.decode(outputs, threshold)
        found = suppress(found, self.spec.nms, self.spec.nms_iou, max_faces or self.spec.max_faces)
        corners = placement.to_original(found.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        return RawDetections(corners, found.scores, placement.to_original(found.keypoints))
