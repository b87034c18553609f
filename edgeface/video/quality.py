"""How good a face is for recognition, from what the tracker already has: its size, how
much of it is in the frame, its pose (from the detector's keypoints) and its sharpness. A
track is recognised again only when this score improves, so the embedder runs a few times
per track, not per frame.

Each term lies in [0, 1] and the score is their product:

- size: the box side over ``full_size`` pixels (capped at 1): small faces lose detail;
- inside: the fraction of the box inside the frame: a face entering at the frame edge is
  partly missing, and scoring it as whole would make the full view that follows look no
  better, so it would not be recognised again;
- pose: 1 for a frontal face, falling as the nose moves off the eyes' midpoint along the
  eye line (turning the head moves the nose by about half the eye distance at 45 degrees);
- sharpness: the variance of the Laplacian of the face, resized to 64x64 grey so that
  faces of different sizes compare, mapped by v / (v + ``sharpness_half``).
"""

from __future__ import annotations

import numpy as np

from edgeface.preprocess import resize_bilinear

SHARPNESS_SIDE = 64


def face_crop(frame: np.ndarray, box, margin: float = 0.2) -> np.ndarray:
    """A copy of ``box`` grown by ``margin`` of its size on each side, clipped to the frame."""
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = frame.shape[:2]
    cx0, cy0 = int(np.clip(np.floor(x0 - mx), 0, w - 1)), int(np.clip(np.floor(y0 - my), 0, h - 1))
    cx1, cy1 = int(np.clip(np.ceil(x1 + mx), cx0 + 1, w)), int(np.clip(np.ceil(y1 + my), cy0 + 1, h))
    return frame[cy0:cy1, cx0:cx1].copy()


def inside_fraction(box, width: int, height: int) -> float:
    """The fraction of ``box``'s area inside a ``width`` x ``height`` frame (0 for an empty box)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    if area <= 0:
        return 0.0
    inside = max(0.0, min(x1, width) - max(x0, 0.0)) * max(0.0, min(y1, height) - max(y0, 0.0))
    return inside / area


def sharpness(crop: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of ``crop`` resized to 64x64 grey."""
    small = np.asarray(resize_bilinear(np.ascontiguousarray(crop), SHARPNESS_SIDE, SHARPNESS_SIDE), np.float32)
    grey = small @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = (grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1])
    return float(lap.var())


def frontalness(keypoints: np.ndarray, names: tuple[str, ...]) -> float:
    """1 for a frontal face, 0 for a profile; 1 when the detector gives no eyes and nose."""
    try:
        right, left, nose = (np.asarray(keypoints[names.index(n)], np.float64)
                             for n in ("right_eye", "left_eye", "nose_tip"))
    except ValueError:
        return 1.0
    axis = left - right
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        return 0.0
    offset = float(np.dot(nose - (left + right) / 2, axis)) / distance ** 2  # in eye distances
    return float(np.clip(1.0 - 2.0 * abs(offset), 0.0, 1.0))


def face_quality(crop: np.ndarray, box, keypoints: np.ndarray, names: tuple[str, ...],
                 frame_size: tuple[int, int], full_size: float = 100.0, sharpness_half: float = 100.0) -> float:
    """The quality of the face in ``box`` (``crop`` is its cut-out) on a frame of
    ``frame_size`` (width, height)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    size = min(1.0, np.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)) / full_size)
    inside = inside_fraction(box, *frame_size)
    sharp = sharpness(crop)
    return float(size * inside * frontalness(keypoints, names) * sharp / (sharp + sharpness_half))
