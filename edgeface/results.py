"""Plain result types returned by the SDK, in original-image pixel coordinates.

``Detections`` holds every face of one image as arrays (the decoders and NMS make and keep
it, in model-input-normalised coordinates until the detector maps it back); ``Detection``
and ``Face`` are one face each, as ``FaceAnalyzer.detect`` and ``analyze`` return them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.gallery import Match


@dataclass(frozen=True, slots=True)
class BoundingBox:
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(frozen=True, slots=True)
class Keypoint:
    name: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Detection:
    bbox: BoundingBox
    score: float
    keypoints: tuple[Keypoint, ...]

    def keypoint_array(self) -> np.ndarray:
        return np.array([[k.x, k.y] for k in self.keypoints], np.float32).reshape(-1, 2)

    def to_dict(self) -> dict[str, Any]:
        b = self.bbox
        return {"bbox": [round(v, 2) for v in (b.x1, b.y1, b.x2, b.y2)], "score": round(self.score, 4),
                "keypoints": {k.name: [round(k.x, 2), round(k.y, 2)] for k in self.keypoints}}


@dataclass(eq=False)  # arrays: compare their fields, or faces()
class Detections:
    """The faces of one image as arrays, best first: what ``FaceAnalyzer.detect_arrays``
    returns and ``embed_faces`` takes, and what video mode and evaluation work on."""

    boxes: np.ndarray  # (N, 4) float32: x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32 in [0, 1]
    keypoints: np.ndarray  # (N, P, 2) float32: x, y
    keypoint_names: tuple[str, ...] = ()  # the P names; () while still unnamed (decoders)

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> "Detections":
        """The rows ``index`` picks (an index array or boolean mask), in its order."""
        return Detections(self.boxes[index], self.scores[index], self.keypoints[index], self.keypoint_names)

    def faces(self) -> list[Detection]:
        """One ``Detection`` per row, keypoints named by ``keypoint_names`` (``point_i``
        where there are none)."""
        names = self.keypoint_names or tuple(f"point_{i}" for i in range(self.keypoints.shape[1]))
        return [Detection(BoundingBox(*box), score, tuple(Keypoint(n, x, y) for n, (x, y) in zip(names, points)))
                for box, score, points in zip(self.boxes.tolist(), self.scores.tolist(), self.keypoints.tolist())]


@dataclass(frozen=True, slots=True)
class Face(Detection):
    """A detection with what the embedder and the gallery said of it.

    ``identify`` fills ``matches`` (its ``top_k`` gallery candidates); such a face also
    unpacks as the ``(face, matches)`` pair ``identify`` returned before it returned
    faces: ``for face, matches in analyzer.identify(image)`` keeps working."""

    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    identity: str | None = None  # best gallery match at or above the threshold, else None
    similarity: float | None = None  # cosine similarity to that identity's best template
    matches: tuple["Match", ...] = field(default=(), compare=False)  # best first, at or above the threshold

    @classmethod
    def of(cls, detection: Detection, embedding: np.ndarray | None = None,
           matches: tuple["Match", ...] = ()) -> "Face":
        """``detection`` with its embedding and gallery matches; named after the best match."""
        best = matches[0] if matches else None
        return cls(detection.bbox, detection.score, detection.keypoints, embedding,
                   best.identity if best else None, best.similarity if best else None, tuple(matches))

    def __iter__(self):
        return iter((self, list(self.matches)))

    def to_dict(self) -> dict[str, Any]:
        out = Detection.to_dict(self)
        out["identity"] = self.identity
        out["similarity"] = None if self.similarity is None else round(self.similarity, 4)
        return out


@dataclass(frozen=True, slots=True)
class Verification:
    similarity: float
    is_same: bool
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {"similarity": round(self.similarity, 4), "is_same": self.is_same,
                "threshold": self.threshold}
