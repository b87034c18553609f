"""Plain result types returned by the SDK, in original-image pixel coordinates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


@dataclass(frozen=True, slots=True)
class Face(Detection):
    """A detection with what the embedder and the gallery said of it."""

    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    identity: str | None = None  # best gallery match at or above the threshold, else None
    similarity: float | None = None  # cosine similarity to that identity's best template

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
