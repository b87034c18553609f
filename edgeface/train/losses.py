"""Losses: detector classification (focal, OHEM) and regression (smooth-L1, GIoU, masked
keypoints), and the recognizer's margin softmax heads (ArcFace, CosFace, plain softmax).

Everything is TensorFlow, imported inside the functions (``import edgeface.train`` stays
light). Detector losses take the targets of ``edgeface.train.anchors.assign_targets``.
"""

from __future__ import annotations

import math

CLASSIFICATION_LOSSES = ("focal", "ohem")
BOX_LOSSES = ("smooth_l1", "giou")
MARGIN_HEADS = ("arcface", "cosface", "softmax")


# ------------------------------------------------------------------------ detector

def focal_loss(logits, labels, alpha: float = 0.25, gamma: float = 2.0):
    """Sigmoid focal loss (Lin et al., 2017) summed over non-ignored anchors (labels -1
    are ignored) and divided by the number of positives (at least 1). logits, labels (B, A)."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    y = tf.maximum(labels, 0.0)
    care = tf.cast(labels >= 0, tf.float32)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
    p = tf.sigmoid(logits)
    p_t = y * p + (1 - y) * (1 - p)
    a_t = y * alpha + (1 - y) * (1 - alpha)
    loss = a_t * tf.pow(1.0 - p_t, gamma) * ce * care
    return tf.reduce_sum(loss) / tf.maximum(tf.reduce_sum(tf.cast(labels > 0, tf.float32)), 1.0)


def ohem_loss(logits, labels, negative_ratio: float = 3.0, min_negatives: int = 8):
    """Binary cross-entropy over every positive and the hardest negatives (online hard
    example mining, SSD style): per image ``negative_ratio`` x its positives (at least
    ``min_negatives``), divided by the number of positives (at least 1)."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    y = tf.maximum(labels, 0.0)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
    positive = labels > 0
    negative = tf.equal(labels, 0.0)
    num_pos = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)  # (B,)
    num_neg = tf.minimum(tf.maximum(tf.cast(negative_ratio * tf.cast(num_pos, tf.float32), tf.int32),
                                    min_negatives), tf.reduce_sum(tf.cast(negative, tf.int32), axis=1))
    neg_loss = tf.where(negative, ce, -1.0)
    # rank of each anchor's negative loss within its image: keep those ranked < num_neg
    order = tf.argsort(neg_loss, axis=1, direction="DESCENDING")
    rank = tf.argsort(order, axis=1)
    hard = negative & (rank < num_neg[:, None])
    keep = tf.cast(positive | hard, tf.float32)
    return tf.reduce_sum(ce * keep) / tf.maximum(tf.reduce_sum(tf.cast(num_pos, tf.float32)), 1.0)


def smooth_l1(pred, target, weights, beta: float = 1.0 / 9.0):
    """Smooth-L1 (Huber / beta) summed over the last axis and the anchors with weight 1,
    divided by the weights' sum (at least 1). pred/target (B, A, C), weights (B, A)."""
    import tensorflow as tf

    diff = tf.abs(tf.cast(pred, tf.float32) - target)
    loss = tf.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    loss = tf.reduce_sum(loss, axis=-1) * weights
    return tf.reduce_sum(loss) / tf.maximum(tf.reduce_sum(weights), 1.0)


def giou(a, b):
    """Generalised IoU of matching x1y1x2y2 boxes (..., 4) -> (...)."""
    import tensorflow as tf

    lo = tf.maximum(a[..., :2], b[..., :2])
    hi = tf.minimum(a[..., 2:], b[..., 2:])
    inter = tf.reduce_prod(tf.maximum(hi - lo, 0.0), axis=-1)
    area_a = tf.reduce_prod(tf.maximum(a[..., 2:] - a[..., :2], 0.0), axis=-1)
    area_b = tf.reduce_prod(tf.maximum(b[..., 2:] - b[..., :2], 0.0), axis=-1)
    union = area_a + area_b - inter
    iou = inter / tf.maximum(union, 1e-9)
    hull = tf.reduce_prod(tf.maximum(tf.maximum(a[..., 2:], b[..., 2:]) - tf.minimum(a[..., :2], b[..., :2]), 0.0),
                          axis=-1)
    return iou - (hull - union) / tf.maximum(hull, 1e-9)


def giou_loss(pred_boxes, target_boxes, weights):
    """Mean of 1 - GIoU over the anchors with weight 1 (boxes as x1y1x2y2)."""
    import tensorflow as tf

    loss = (1.0 - giou(tf.cast(pred_boxes, tf.float32), target_boxes)) * weights
    return tf.reduce_sum(loss) / tf.maximum(tf.reduce_sum(weights), 1.0)


def detector_loss(anchors, regressors, logits, targets, classification: str = "focal",
                  box: str = "smooth_l1", box_weight: float = 1.0, keypoint_weight: float = 1.0):
    """Total detector loss and its parts: regressors (B, A, 4 + 2K) in training units,
    logits (B, A) or (B, A, 1), targets from ``assign_targets``."""
    import tensorflow as tf

    from edgeface.train.anchors import decode_boxes

    regressors = tf.cast(regressors, tf.float32)
    logits = tf.reshape(tf.cast(logits, tf.float32), tf.shape(targets["labels"]))
    labels = targets["labels"]
    if classification == "ohem":
        cls = ohem_loss(logits, labels)
    else:
        cls = focal_loss(logits, labels)
    positive = tf.cast(labels > 0, tf.float32)
    if box == "giou":
        box_loss = 2.0 * giou_loss(decode_boxes(anchors, regressors[..., :4]), targets["matched_boxes"], positive)
    else:
        box_loss = smooth_l1(regressors[..., :4], targets["box_targets"], positive)
    kp_pred = regressors[..., 4:]
    kp_target = tf.reshape(targets["keypoint_targets"], tf.shape(kp_pred))
    kp_loss = smooth_l1(kp_pred, kp_target, targets["keypoint_weights"])
    total = cls + box_weight * box_loss + keypoint_weight * kp_loss
    return total, {"cls": cls, "box": box_loss, "keypoints": kp_loss}


# ---------------------------------------------------------------------- recognizer

def margin_logits(cosine, labels, kind: str, scale: float, margin: float):
    """Scaled logits from cosines (B, K) between L2-normalised embeddings and class
    centres. ``arcface``: s cos(theta + m) on the true class (Deng et al., 2019), with the
    usual fallback cos(theta) - m sin(m) m once theta + m passes pi; ``cosface``:
    s (cos(theta) - m) (Wang et al., 2018); ``softmax``: s cos(theta) (no margin)."""
    import tensorflow as tf

    cosine = tf.cast(cosine, tf.float32)
    onehot = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(cosine)[-1], dtype=tf.float32)
    if kind == "arcface":
        cos_m, sin_m = math.cos(margin), math.sin(margin)
        threshold, mm = math.cos(math.pi - margin), math.sin(math.pi - margin) * margin
        sine = tf.sqrt(tf.clip_by_value(1.0 - cosine * cosine, 1e-7, 1.0))
        phi = cosine * cos_m - sine * sin_m
        phi = tf.where(cosine > threshold, phi, cosine - mm)
        target = phi
    elif kind == "cosface":
        target = cosine - margin
    else:
        target = cosine
    return scale * (onehot * target + (1.0 - onehot) * cosine)


def margin_head(num_classes: int, embedding_size: int, kind: str = "arcface", scale: float = 32.0,
                margin: float | None = None, name: str = "margin_head"):
    """A Keras layer holding the class centres W (D, K): ``head(embeddings, labels)``
    L2-normalises both and returns the margin logits (B, K); ``head.cosine(embeddings)``
    the plain cosines. Margins default to 0.5 (ArcFace) and 0.35 (CosFace)."""
    import keras
    import tensorflow as tf

    if margin is None:
        margin = {"arcface": 0.5, "cosface": 0.35}.get(kind, 0.0)

    class MarginHead(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(name=name, **kw)
            self.kind, self.scale, self.margin = kind, scale, margin
            self.centres = self.add_weight(shape=(embedding_size, num_classes), name="centres",
                                           initializer=keras.initializers.GlorotUniform())

        def cosine(self, embeddings):
            e = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
            w = tf.math.l2_normalize(tf.cast(self.centres, tf.float32), axis=0)
            return tf.matmul(e, w)

        def call(self, embeddings, labels):
            return margin_logits(self.cosine(embeddings), labels, self.kind, self.scale, self.margin)

    return MarginHead()


def classification_loss(logits, labels):
    """Mean sparse softmax cross-entropy."""
    import tensorflow as tf

    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)))
