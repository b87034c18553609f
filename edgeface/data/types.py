"""The sample types and dataset protocols every reader and generator in edgeface.data returns.

Numpy only: nothing here imports TensorFlow. Coordinates are in pixels of the sample's own
image, x before y. Keypoints follow ``KEYPOINT_NAMES`` (the model cards' five keypoints,
``edgeface.cards.presets.FIVE_KEYPOINTS``); "right" is the subject's right, which
appears on the image's left in a frontal, unmirrored photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from edgeface.cards.presets import FIVE_KEYPOINTS

KEYPOINT_NAMES = tuple(FIVE_KEYPOINTS)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
# Index permutation that a horizontal flip applies to keypoints: right <-> left.
FLIP_PERMUTATION = (1, 0, 2, 4, 3)


@dataclass
class DetectionSample:
    """One image with its faces.

    image: (H, W, 3) uint8 RGB.
    boxes: (N, 4) float32 x1, y1, x2, y2 in pixels (N may be 0).
    keypoints: (N, 5, 2) float32 pixels in ``KEYPOINT_NAMES`` order; NaN where a face has
        no keypoint annotation (e.g. WIDER FACE boxes).
    source: file path, or "synthetic:<seed>:<index>".
    """

    image: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        n = len(self.boxes)
        if self.keypoints is None:
            self.keypoints = np.full((n, NUM_KEYPOINTS, 2), np.nan, np.float32)
        else:
            self.keypoints = np.asarray(self.keypoints, np.float32).reshape(n, NUM_KEYPOINTS, 2)

    @property
    def keypoint_mask(self) -> np.ndarray:
        """(N,) bool: True where a face has all 5 keypoints."""
        return np.isfinite(self.keypoints).all(axis=(1, 2))


@dataclass
class DetectionSubset:
    """The part of a detection set that one evaluation figure counts, with its own ground
    truth: WIDER FACE's easy / medium / hard (``edgeface.data.wider_mat``).

    images: indices of the dataset's images the subset covers.
    boxes: per listed image, (M, 4) float x1, y1, x2, y2 pixels: every face of the image.
    ignore: per listed image, (M,) bool: True for faces outside the subset; a detection
        matched to one is neither a true nor a false positive, and the face is not counted.
    """

    images: list[int]
    boxes: list[np.ndarray]
    ignore: list[np.ndarray]


@dataclass
class IdentitySample:
    """One face crop of a known identity: image (H, W, 3) uint8 RGB, label 0..K-1."""

    image: np.ndarray
    label: int
    source: str = ""


@runtime_checkable
class DetectionDataset(Protocol):
    """A random-access sequence of ``DetectionSample``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> DetectionSample: ...


@runtime_checkable
class RecognitionDataset(Protocol):
    """A random-access sequence of ``IdentitySample`` with ``num_identities`` classes."""

    num_identities: int
    identity_names: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> IdentitySample: ...


@dataclass
class Pair:
    """One verification pair (LFW protocol): two uint8 RGB crops, same person or not,
    and the fold 0..9 it belongs to in 10-fold cross-validation."""

    a: np.ndarray
    b: np.ndarray
    same: bool
    fold: int
    source: str = field(default="")


from edgeface.errors import EdgefaceError  # noqa: E402  (kept beside the types it guards)


class DatasetError(EdgefaceError):
    """A dataset file or folder is missing, malformed or inconsistent. The message names
    the file (and line, for text formats) and says how to fix it."""
