"""Non-maximum suppression, hard (keep the best of each cluster) and weighted
(MediaPipe's: blend a cluster's boxes and keypoints by score)."""

from __future__ import annotations

import numpy as np

from edgeface.decoders import RawDetections


def iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of x1y1x2y2 boxes in (N, 4).

    Built from outer products with in-place steps: on the few dozen candidates a frame
    has, numpy's per-call cost dominates, so fewer, larger calls are faster."""
    x1, y1, x2, y2 = boxes.T
    width = np.minimum.outer(x2, x2)
    width -= np.maximum.outer(x1, x1)
    np.maximum(width, 0, out=width)
    inter = np.minimum.outer(y2, y2)
    inter -= np.maximum.outer(y1, y1)
    np.maximum(inter, 0, out=inter)
    inter *= width
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = np.add.outer(area, area)
    union -= inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _clusters(dets: RawDetections, iou_threshold: float, max_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clustering, best score first: (leader index per cluster, (clusters, K) membership)."""
    order = np.argsort(-dets.scores, kind="stable")
    boxes = dets.boxes[order]
    overlaps = iou_matrix(boxes) > iou_threshold
    free = np.ones(len(order), bool)
    leaders, members = [], []
    while len(leaders) < max_out:  # one pass per output: numpy inside, outputs are few
        remaining = np.flatnonzero(free)
        if remaining.size == 0:
            break
        best = remaining[0]
        cluster = overlaps[best] & free
        cluster[best] = True
        free[cluster] = False
        leaders.append(best)
        members.append(cluster)
    membership = np.zeros((len(members), len(order)), bool)
    membership[:, order] = members
    return order[leaders], membership


def hard_nms(dets: RawDetections, iou_threshold: float, max_out: int) -> RawDetections:
    leaders, _ = _clusters(dets, iou_threshold, max_out)
    return dets.take(leaders)


def weighted_nms(dets: RawDetections, iou_threshold: float, max_out: int) -> RawDetections:
    """Each output is the score-weighted mean of the best remaining box and every box
    overlapping it by more than ``iou_threshold``; it keeps the best box's score."""
    leaders, membership = _clusters(dets, iou_threshold, max_out)
    weights = membership * dets.scores[None, :]
    weights /= weights.sum(axis=1, keepdims=True)
    k = dets.keypoints.shape[1]
    keypoints = (weights @ dets.keypoints.reshape(len(dets), -1)).reshape(-1, k, 2)
    return RawDetections((weights @ dets.boxes).astype(np.float32), dets.scores[leaders],
                         keypoints.astype(np.float32))


def suppress(dets: RawDetections, method: str, iou_threshold: float, max_out: int) -> RawDetections:
    if len(dets) == 0:
        return dets
    return (weighted_nms if method == "weighted" else hard_nms)(dets, iou_threshold, max_out)
