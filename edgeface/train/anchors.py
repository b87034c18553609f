"""Detector anchors, target assignment and the regression encoding.

The SDK decodes the project's detectors with its SSD decoder (``edgeface.decoders.ssd``)
and the manifest fields in ``edgeface.cards.presets.TRAINED_PRESETS``: fixed anchors of
size 1, ``box_format`` xywh and ``box_scale`` = input size S, so for anchor centre (ax, ay)
the model's raw outputs are read as

    cx = raw_x / S + ax      w = raw_w / S      keypoint x = raw_kx / S + ax   (same for y)

(normalised image coordinates). Training works in better-scaled units: each anchor also
has a reference size ``s`` (its SSD scale, what ``fixed_anchor_size: false`` would give)
and the network learns

    t_x = (cx - ax) / s      t_w = w / s      t_kx = (kx - ax) / s

so raw = t * s * S. ``fold_regression_scale`` multiplies the regression heads' 1x1
convolution weights by s * S per output channel, which makes the exported model emit the
decoder's units exactly (no extra op in the graph). Matching uses the reference squares
(centre a, side s): a ground-truth box goes to every anchor whose square overlaps it with
IoU >= ``pos_iou`` and always to its best anchor; anchors below ``neg_iou`` with every
face are background and the rest are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorSet:
    input_size: int
    config: dict  # the manifest's decoder.anchors entry
    centers: np.ndarray  # (A, 2) normalised x, y
    sizes: np.ndarray  # (A,) reference size (normalised) for matching and target scale
    # per regression head: (layer name, anchors per cell) in the order of the model's rows
    heads: tuple[tuple[str, int], ...] = (("reg_16x16", 2), ("reg_8x8", 6))

    def __len__(self) -> int:
        return len(self.centers)

    @property
    def boxes(self) -> np.ndarray:
        """(A, 4) reference squares as normalised x1, y1, x2, y2."""
        half = self.sizes[:, None] / 2
        return np.concatenate([self.centers - half, self.centers + half], axis=1).astype(np.float32)


def anchor_set(input_size: int) -> AnchorSet:
    from edgeface.decoders.ssd import ssd_anchors
    from edgeface.cards.presets import anchor_config

    config = anchor_config(input_size)
    kwargs = dict(strides=config["strides"], min_scale=config["min_scale"], max_scale=config["max_scale"],
                  aspect_ratios=config["aspect_ratios"],
                  anchor_offset=(config["anchor_offset_x"], config["anchor_offset_y"]),
                  interpolated_scale_aspect_ratio=config["interpolated_scale_aspect_ratio"])
    fixed = ssd_anchors(input_size, input_size, fixed_anchor_size=True, **kwargs)
    scaled = ssd_anchors(input_size, input_size, fixed_anchor_size=False, **kwargs)
    return AnchorSet(input_size, config, fixed[:, :2].copy(), scaled[:, 2].copy())


# ----------------------------------------------------------------- encoding (numpy)

def encode(anchors: AnchorSet, box: np.ndarray, keypoints: np.ndarray | None, index: int) -> np.ndarray:
    """Training targets (4 + 2K,) of one normalised x1y1x2y2 box (and (K, 2) keypoints)
    for anchor ``index``."""
    a, s = anchors.centers[index], anchors.sizes[index]
    centre = (box[:2] + box[2:]) / 2
    size = box[2:] - box[:2]
    parts = [(centre - a) / s, size / s]
    if keypoints is not None:
        parts.append(((keypoints - a) / s).reshape(-1))
    return np.concatenate(parts).astype(np.float32)


def to_raw(anchors: AnchorSet, t: np.ndarray) -> np.ndarray:
    """Training units -> the decoder's raw units (what the exported model outputs):
    (A, C) or (..., A, C)."""
    return t * (anchors.sizes[:, None] * anchors.input_size)


# ------------------------------------------------------------- assignment (TensorFlow)

def assign_targets(anchors: AnchorSet, boxes, keypoints, keypoint_mask, box_mask,
                   pos_iou: float = 0.35, neg_iou: float = 0.25):
    """Match a batch of ground truth to the anchors (TensorFlow, graph-friendly).

    boxes (B, M, 4) normalised x1y1x2y2, keypoints (B, M, K, 2), keypoint_mask and
    box_mask (B, M). Returns a dict of
    labels (B, A) float: 1 face, 0 background, -1 ignored;
    box_targets (B, A, 4) and keypoint_targets (B, A, K, 2) in training units;
    keypoint_weights (B, A): 1 where the anchor is positive and its face has keypoints;
    matched_boxes (B, A, 4) normalised (for GIoU).
    """
    import tensorflow as tf

    anchor_boxes = tf.constant(anchors.boxes)  # (A, 4)
    centers = tf.constant(anchors.centers)
    sizes = tf.constant(anchors.sizes)[:, None]
    boxes = tf.cast(boxes, tf.float32)
    valid = tf.cast(box_mask, tf.bool) & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
    iou = pairwise_iou(boxes, anchor_boxes)  # (B, M, A)
    iou = tf.where(valid[..., None], iou, -1.0)
    best_iou = tf.reduce_max(iou, axis=1)  # (B, A)
    best_gt = tf.argmax(iou, axis=1, output_type=tf.int32)  # (B, A)
    # each face keeps its best anchor, whatever the overlap
    num_anchors = len(anchors)
    best_anchor = tf.argmax(iou, axis=2, output_type=tf.int32)  # (B, M)
    forced = tf.one_hot(best_anchor, num_anchors, dtype=tf.float32) * tf.cast(valid, tf.float32)[..., None]
    is_forced = tf.reduce_max(forced, axis=1) > 0  # (B, A)
    forced_gt = tf.argmax(forced, axis=1, output_type=tf.int32)
    gt = tf.where(is_forced, forced_gt, best_gt)
    positive = is_forced | (best_iou >= pos_iou)
    negative = (~positive) & (best_iou < neg_iou)
    labels = tf.where(positive, 1.0, tf.where(negative, 0.0, -1.0))

    matched = tf.gather(boxes, gt, batch_dims=1)  # (B, A, 4)
    centre = (matched[..., :2] + matched[..., 2:]) / 2
    size = matched[..., 2:] - matched[..., :2]
    box_targets = tf.concat([(centre - centers) / sizes, size / sizes], axis=-1)
    kps = tf.cast(keypoints, tf.float32)
    kp_ok = tf.cast(keypoint_mask, tf.bool) & tf.reduce_all(tf.math.is_finite(kps), axis=[2, 3])
    kps = tf.where(tf.math.is_finite(kps), kps, 0.0)
    matched_kp = tf.gather(kps, gt, batch_dims=1)  # (B, A, K, 2)
    kp_targets = (matched_kp - centers[:, None, :]) / sizes[:, :, None]
    kp_weights = tf.cast(positive & tf.gather(kp_ok, gt, batch_dims=1), tf.float32)
    pos = tf.cast(positive, tf.float32)
    return {"labels": labels, "box_targets": box_targets * pos[..., None],
            "keypoint_targets": kp_targets * kp_weights[..., None, None],
            "keypoint_weights": kp_weights, "matched_boxes": matched}


def pairwise_iou(a, b):
    """IoU of (..., M, 4) boxes against (A, 4) boxes -> (..., M, A) (TensorFlow)."""
    import tensorflow as tf

    a = a[..., :, None, :]
    lo = tf.maximum(a[..., :2], b[:, :2])
    hi = tf.minimum(a[..., 2:], b[:, 2:])
    inter = tf.reduce_prod(tf.maximum(hi - lo, 0.0), axis=-1)
    area_a = tf.reduce_prod(tf.maximum(a[..., 2:] - a[..., :2], 0.0), axis=-1)
    area_b = tf.reduce_prod(tf.maximum(b[:, 2:] - b[:, :2], 0.0), axis=-1)
    return inter / tf.maximum(area_a + area_b - inter, 1e-9)


def decode_boxes(anchors: AnchorSet, t):
    """Training-unit box outputs (..., A, >=4) -> normalised x1y1x2y2 (TensorFlow)."""
    import tensorflow as tf

    sizes = tf.constant(anchors.sizes)[:, None]
    centre = t[..., :2] * sizes + tf.constant(anchors.centers)
    half = t[..., 2:4] * sizes / 2
    return tf.concat([centre - half, centre + half], axis=-1)


# ------------------------------------------------------------------ export (Keras)

def fold_regression_scale(model, anchors: AnchorSet, factor: float | None = None):
    """Scale each regression head's output channels by its anchor's s x S (``factor``:
    override S), in place: the model then emits the SDK decoder's raw units."""
    scale_s = anchors.input_size if factor is None else factor
    start = 0
    for name, per_cell in anchors.heads:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        coords = kernel.shape[-1] // per_cell
        cells = None
        # anchors of this head: cells x per_cell rows, sizes repeat per cell
        rows = model.get_layer(f"{name}_flat").output.shape[1]
        cells = rows // per_cell
        sizes = anchors.sizes[start:start + per_cell]  # the same for every cell of the map
        factors = np.repeat(sizes * scale_s, coords).astype(np.float32)
        layer.set_weights([kernel * factors, bias * factors])
        start += cells * per_cell
    if start != len(anchors):
        raise ValueError(f"the regression heads cover {start} anchors, the anchor set has {len(anchors)}")
    return model


def regression_factors(anchors: AnchorSet, coords: int) -> np.ndarray:
    """(A, coords) multipliers from training units to raw units."""
    return np.repeat((anchors.sizes * anchors.input_size)[:, None], coords, axis=1).astype(np.float32)
