"""Matching predicted track boxes to detected boxes by overlap (IoU).

Greedy: the best-overlapping pair is matched first, then the best among the rest, down
to ``min_iou``. With the handful of faces in a frame it almost always agrees with the
optimal (Hungarian) assignment, needs nothing beyond numpy, and is deterministic.
"""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of (N, 4) and (M, 4) boxes (x0, y0, x1, y1)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_match(scores: np.ndarray, min_score: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (row, column) in decreasing ``scores`` order, each row and column used at
    most once and only at ``min_score`` or above; then the unmatched rows and columns."""
    scores = np.asarray(scores, np.float64)
    rows, cols = scores.shape
    pairs: list[tuple[int, int]] = []
    free_rows, free_cols = set(range(rows)), set(range(cols))
    order = np.argsort(-scores, axis=None, kind="stable")
    for flat in order:
        r, c = divmod(int(flat), cols)
        if scores[r, c] < min_score:
            break
        if r in free_rows and c in free_cols:
            pairs.append((r, c))
            free_rows.discard(r)
            free_cols.discard(c)
    return pairs, sorted(free_rows), sorted(free_cols)
