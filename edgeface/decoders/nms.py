"""Non-maximum suppression, hard (keep the best of each cluster) and weighted
(MediaPipe's: blend a cluster's boxes and keypoints by score)."""

from __future__ import annotations

import numpy as np

from edgeface.decoders import Detections


MAX_CANDIDATES = 20_000  # the best-scoring boxes NMS looks at (a real frame has tens)


def iou_with(boxes: np.ndarray, areas: np.ndarray, i: int) -> np.ndarray:
    """Intersection over union of box ``i`` with every x1y1x2y2 box in (N, 4) (``areas``:
    each box's area). One row at a time: memory stays O(N) however many boxes a model
    (or a hostile one) scores above the threshold."""
    x1, y1, x2, y2 = boxes[i]
    width = np.minimum(boxes[:, 2], x2) - np.maximum(boxes[:, 0], x1)
    height = np.minimum(boxes[:, 3], y2) - np.maximum(boxes[:, 1], y1)
    inter = np.maximum(width, 0) * np.maximum(height, 0)
    union = areas + areas[i] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _clusters(dets: Detections, iou_threshold: float, max_out: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Greedy clustering, best score first: (leader index per cluster, member indices of
    each cluster). Work is bounded by ``max_out`` x ``MAX_CANDIDATES`` box comparisons."""
    order = np.argsort(-dets.scores, kind="stable")[:MAX_CANDIDATES]
    boxes = dets.boxes[order]
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    free = np.ones(len(order), bool)
    leaders, members = [], []
    while len(leaders) < max_out:  # one pass per output: numpy inside, outputs are few
        remaining = np.flatnonzero(free)
        if remaining.size == 0:
            break
        best = remaining[0]
        cluster = (iou_with(boxes, areas, best) > iou_threshold) & free
        cluster[best] = True
        free[cluster] = False
        leaders.append(best)
        members.append(order[cluster])
    return order[leaders], members


def hard_nms(dets: Detections, iou_threshold: float, max_out: int) -> Detections:
    leaders, _ = _clusters(dets, iou_threshold, max_out)
    return dets.take(leaders)


def weighted_nms(dets: Detections, iou_threshold: float, max_out: int) -> Detections:
    """Each output is the score-weighted mean of the best remaining box and every box
    overlapping it by more than ``iou_threshold``; it keeps the best box's score."""
    leaders, members = _clusters(dets, iou_threshold, max_out)
    k = dets.keypoints.shape[1]
    boxes = np.empty((len(leaders), 4), np.float32)
    keypoints = np.empty((len(leaders), k, 2), np.float32)
    for j, idx in enumerate(members):
        weights = dets.scores[idx] / dets.scores[idx].sum()
        boxes[j] = weights @ dets.boxes[idx]
        keypoints[j] = (weights @ dets.keypoints[idx].reshape(len(idx), -1)).reshape(k, 2)
    return Detections(boxes, dets.scores[leaders], keypoints)


def suppress(dets: Detections, method: str, iou_threshold: float, max_out: int) -> Detections:
    if len(dets) == 0:
        return dets
    return (weighted_nms if method == "weighted" else hard_nms)(dets, iou_threshold, max_out)
