"""Face metrics in numpy: detection AP (WIDER FACE style), keypoint NME, and
verification (LFW 10-fold accuracy, ROC, TAR@FAR, threshold calibration).

Conventions, fixed here and tested against hand-worked examples (tests/test_eval_metrics.py):

- **Detection AP** at IoU 0.5, as the WIDER FACE evaluation: every detection of every
  image is ranked by score; going down the list, a detection is a true positive when it
  overlaps a not-yet-matched ground-truth face of its image with IoU >= 0.5 (the image's
  detections are matched greedily, best score first, each to the unmatched face it
  overlaps most), otherwise a false positive; precision and recall are taken after
  each detection, precision is made monotone (each point takes the best precision at
  any higher recall) and AP is the area under that curve (all points, VOC 2010+ style).
  Ground-truth faces marked ``ignore`` (in WIDER FACE's easy / medium / hard, the faces
  outside the subset) are neither counted nor penalised: a detection whose best overlap
  (IoU >= 0.5) is an ignored face is dropped.
- **Keypoint NME**: mean over matched faces (IoU >= 0.5) of the mean point-to-point
  distance over the face's keypoints, divided by the inter-ocular distance (distance
  between the two eye keypoints, the outer-eye-corner convention's 5-point stand-in);
  ``normalizer="box"`` divides by sqrt(w * h) of the ground-truth box instead (stable for
  profile faces whose eyes nearly coincide). Faces without keypoints are skipped.
- **Verification**: scores are cosine similarities; "same" when score >= threshold.
  10-fold accuracy: for each fold, the threshold that maximises accuracy on the other
  nine folds (searched over the midpoints between sorted scores) is applied to it; the
  mean and standard deviation over folds are reported (LFW's "unrestricted" protocol).
  TAR@FAR: the threshold is the smallest score that keeps the false-accept rate (over
  the different-person pairs) at or below FAR; TAR is the share of same-person pairs at
  or above it. It needs at least 1 / FAR different-person pairs to mean anything; with
  fewer it is still computed but flagged ``reliable: False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


# ----------------------------------------------------------------------- detection

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of (N, 4) against (M, 4) x1y1x2y2 boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_image(pred_boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray,
                iou_threshold: float = 0.5, ignore: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's detections against its faces. Returns (tp (N,) bool, keep (N,) bool:
    False for detections dropped because they hit an ignored face, matched (N,) int: the
    face index of each true positive, -1 otherwise)."""
    n = len(pred_boxes)
    tp = np.zeros(n, bool)
    keep = np.ones(n, bool)
    matched = np.full(n, -1, int)
    if n == 0 or len(gt_boxes) == 0:
        return tp, keep, matched
    ignore = np.zeros(len(gt_boxes), bool) if ignore is None else np.asarray(ignore, bool)
    iou = box_iou(pred_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        candidates = np.where(taken & ~ignore, -1.0, iou[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            if ignore[j]:
                keep[i] = False
            else:
                tp[i] = True
                matched[i] = j
                taken[j] = True
    return tp, keep, matched


def average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> tuple[float, np.ndarray, np.ndarray]:
    """AP of detections pooled over all images: (AP, precision, recall) with the curve
    points after each detection in descending score order."""
    scores = np.asarray(scores, np.float64)
    tp = np.asarray(tp, bool)
    if num_gt == 0:
        return float("nan"), np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(tp[order])
    misses = np.cumsum(~tp[order])
    recall = hits / num_gt
    precision = hits / np.maximum(hits + misses, 1)
    # all-point interpolation: monotone envelope, area over recall steps
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    ap = float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
    return ap, precision, recall


@dataclass
class DetectionEval:
    ap: float
    num_images: int
    num_faces: int
    num_detections: int
    precision: np.ndarray = field(repr=False)
    recall: np.ndarray = field(repr=False)
    nme: float | None  # keypoint NME (see module docs) over matched faces with keypoints
    nme_faces: int
    nme_normalizer: str

    def to_dict(self) -> dict:
        return {"ap": self.ap, "images": self.num_images, "faces": self.num_faces,
                "detections": self.num_detections, "recall_max": float(self.recall[-1]) if len(self.recall) else 0.0,
                "keypoint_nme": self.nme, "nme_faces": self.nme_faces, "nme_normalizer": self.nme_normalizer}


def keypoint_nme(pred: np.ndarray, gt: np.ndarray, gt_box: np.ndarray | None = None,
                 normalizer: str = "inter_ocular", eyes: tuple[int, int] = (0, 1)) -> float:
    """Normalised mean error of one face's (K, 2) keypoints (see module docs)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    error = float(np.mean(np.linalg.norm(pred - gt, axis=1)))
    if normalizer == "box":
        w, h = gt_box[2] - gt_box[0], gt_box[3] - gt_box[1]
        scale = float(np.sqrt(max(w * h, 1e-12)))
    else:
        scale = float(np.linalg.norm(gt[eyes[0]] - gt[eyes[1]]))
    return error / max(scale, 1e-12)


def evaluate_detections(predictions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                        ground_truth: Sequence[tuple[np.ndarray, np.ndarray | None]],
                        iou_threshold: float = 0.5, ignore: Sequence[np.ndarray | None] | None = None,
                        normalizer: str = "inter_ocular") -> DetectionEval:
    """predictions: per image (boxes (N, 4), scores (N,), keypoints (N, K, 2) or None);
    ground_truth: per image (boxes (M, 4), keypoints (M, K, 2) with NaN where missing, or
    None). Pixels of the same image for both."""
    all_scores, all_tp, errors = [], [], []
    num_gt = 0
    for i, ((boxes, scores, kps), (gt_boxes, gt_kps)) in enumerate(zip(predictions, ground_truth)):
        gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        ign = None if ignore is None or ignore[i] is None else np.asarray(ignore[i], bool)
        num_gt += int(len(gt_boxes) - (ign.sum() if ign is not None else 0))
        tp, keep, matched = match_image(np.asarray(boxes).reshape(-1, 4), np.asarray(scores), gt_boxes,
                                        iou_threshold, ign)
        all_scores.append(np.asarray(scores, np.float64)[keep])
        all_tp.append(tp[keep])
        if kps is None or gt_kps is None:
            continue
        for d in np.flatnonzero(tp):
            g = matched[d]
            truth = np.asarray(gt_kps[g], np.float64)
            if not np.isfinite(truth).all():
                continue
            errors.append(keypoint_nme(kps[d], truth, gt_boxes[g], normalizer))
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tps = np.concatenate(all_tp) if all_tp else np.zeros(0, bool)
    ap, precision, recall = average_precision(scores, tps, num_gt)
    return DetectionEval(ap=ap, num_images=len(ground_truth), num_faces=num_gt, num_detections=len(scores),
                         precision=precision, recall=recall,
                         nme=float(np.mean(errors)) if errors else None, nme_faces=len(errors),
                         nme_normalizer=normalizer)


# ---------------------------------------------------------------------- verification

def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((np.asarray(scores) >= threshold) == np.asarray(same, bool)))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the best accuracy: candidates are the midpoints between
    consecutive distinct sorted scores plus one below and one above all (the lowest
    candidate wins a tie)."""
    s = np.unique(np.asarray(scores, np.float64))
    if len(s) == 0:
        return 0.0
    candidates = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]])
    same = np.asarray(same, bool)
    scores = np.asarray(scores, np.float64)
    # accuracy of every candidate at once: sort scores, count same/different below each
    order = np.sort(scores)
    same_sorted = np.sort(scores[same])
    diff_sorted = np.sort(scores[~same])
    tp = len(same_sorted) - np.searchsorted(same_sorted, candidates, side="left")
    tn = np.searchsorted(diff_sorted, candidates, side="left")
    acc = (tp + tn) / max(len(order), 1)
    return float(candidates[int(np.argmax(acc))])


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    """LFW protocol: per fold, the best threshold on the other folds, accuracy on it."""
    scores, same, folds = np.asarray(scores, np.float64), np.asarray(same, bool), np.asarray(folds)
    accs, thresholds = [], []
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        if not train.any():  # a single fold: fit and test on it (flagged by folds == 1)
            train = test
        t = best_threshold(scores[train], same[train])
        thresholds.append(t)
        accs.append(accuracy_at(scores[test], same[test], t))
    return {"accuracy": float(np.mean(accs)), "std": float(np.std(accs)), "folds": len(accs),
            "fold_accuracies": [float(a) for a in accs], "thresholds": [float(t) for t in thresholds],
            "threshold": float(np.mean(thresholds))}


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FAR, TAR, thresholds): one point per distinct score, thresholds descending, with
    "accept score >= threshold"; starts at (0, 0) with threshold +inf."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    thresholds = np.unique(scores)[::-1]
    pos, neg = max(same.sum(), 1), max((~same).sum(), 1)
    same_sorted, diff_sorted = np.sort(scores[same]), np.sort(scores[~same])
    tar = (len(same_sorted) - np.searchsorted(same_sorted, thresholds, side="left")) / pos
    far = (len(diff_sorted) - np.searchsorted(diff_sorted, thresholds, side="left")) / neg
    return (np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]),
            np.concatenate([[np.inf], thresholds]))


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """The smallest threshold whose false-accept rate is at most ``far`` (accept score >=
    threshold). With no different-person pairs: the lowest score."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    impostor = np.sort(scores[~same])[::-1]  # descending
    if len(impostor) == 0:
        return float(scores.min()) if len(scores) else 0.0
    allowed = int(np.floor(far * len(impostor) + 1e-9))  # false accepts we may have
    if allowed >= len(impostor):
        return float(impostor[-1])
    # accept only scores above the (allowed+1)-th highest impostor: nudge just past it
    return float(np.nextafter(impostor[allowed], np.inf))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> dict:
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    negatives = int((~same).sum())
    t = threshold_at_far(scores, same, far)
    genuine = scores[same]
    tar = float(np.mean(genuine >= t)) if len(genuine) else float("nan")
    achieved = float(np.mean(scores[~same] >= t)) if negatives else float("nan")
    reliable = negatives >= int(np.ceil(1.0 / far))
    result = {"far": far, "tar": tar, "threshold": t, "far_achieved": achieved,
              "negatives": negatives, "reliable": reliable}
    if not reliable:
        result["note"] = (f"only {negatives} different-person pairs: FAR {far:g} needs at least "
                          f"{int(np.ceil(1.0 / far))} to be measured")
    return result
