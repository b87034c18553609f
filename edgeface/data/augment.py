"""Per-sample preprocessing and augmentation in numpy/OpenCV (no TensorFlow).

The tf.data pipelines call these through ``tf.numpy_function``; they are plain functions
so tests can check them by hand. Coordinates are continuous pixels (pixel i covers
[i, i+1)), as everywhere in edgeface.

The letterbox is the SDK's (``edgeface.preprocess.placement_for``, ``resize: letterbox``,
``pad: center``, black padding, bilinear resize), so a detector trained on these inputs
sees at training time what the SDK gives it at run time.
"""

from __future__ import annotations

import numpy as np

from edgeface.data.types import FLIP_PERMUTATION, DetectionSample

try:
    import cv2
except ImportError:  # pragma: no cover - part of the toolchain extra
    cv2 = None


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    if cv2 is not None:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    from edgeface.preprocess import resize_bilinear
    return np.clip(np.rint(resize_bilinear(image, width, height)), 0, 255).astype(np.uint8)


def letterbox(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, size: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``image`` into a ``size`` x ``size`` square keeping its aspect ratio, centred on
    black; boxes (N, 4) and keypoints (N, 5, 2) follow, still in pixels of the output."""
    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    off_x, off_y = (size - new_w) // 2, (size - new_h) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[off_y:off_y + new_h, off_x:off_x + new_w] = _resize(image, new_w, new_h)
    sx, sy = new_w / w, new_h / h
    boxes = boxes * np.array([sx, sy, sx, sy], np.float32) + np.array([off_x, off_y, off_x, off_y], np.float32)
    keypoints = keypoints * np.array([sx, sy], np.float32) + np.array([off_x, off_y], np.float32)
    return out, boxes.astype(np.float32), keypoints.astype(np.float32)


def hflip(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror left-right: x -> W - x, boxes keep x1 < x2, and keypoints swap right/left
    (right_eye <-> left_eye, mouth_right <-> mouth_left): after the mirror, the subject's
    right eye is the one that was their left eye."""
    w = image.shape[1]
    image = np.ascontiguousarray(image[:, ::-1])
    boxes = boxes.copy()
    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    keypoints = keypoints[:, list(FLIP_PERMUTATION)].copy()
    keypoints[..., 0] = w - keypoints[..., 0]
    return image, boxes, keypoints


def crop(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, rect: tuple[int, int, int, int],
         min_visible: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``rect`` = (x0, y0, x1, y1) (integers, inside the image) out of the image. Boxes
    are clipped to it; a box keeping less than ``min_visible`` of its area is dropped.
    Keypoints move with the crop and are kept even where they fall outside it."""
    x0, y0, x1, y1 = rect
    out = image[y0:y1, x0:x1]
    if len(boxes) == 0:
        return out, boxes.reshape(0, 4), keypoints.reshape(0, 5, 2)
    shift = np.array([x0, y0, x0, y0], np.float32)
    clipped = np.empty_like(boxes)
    clipped[:, [0, 2]] = np.clip(boxes[:, [0, 2]], x0, x1)
    clipped[:, [1, 3]] = np.clip(boxes[:, [1, 3]], y0, y1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (inside > 0) & (inside >= min_visible * np.maximum(area, 1e-9))
    return out, (clipped[keep] - shift).astype(np.float32), (keypoints[keep] - shift[:2]).astype(np.float32)


def random_crop(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator,
                scale: tuple[float, float] = (0.3, 1.0), tries: int = 10, min_visible: float = 0.5
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random square crop of side ``scale`` x the image's short side (RetinaFace's
    training crop). When the image has faces, crops that keep none are retried; after
    ``tries`` the image is returned whole."""
    h, w = image.shape[:2]
    short = min(h, w)
    for _ in range(tries):
        side = max(1, int(round(rng.uniform(*scale) * short)))
        x0 = int(rng.integers(0, w - side + 1))
        y0 = int(rng.integers(0, h - side + 1))
        out = crop(image, boxes, keypoints, (x0, y0, x0 + side, y0 + side), min_visible)
        if len(boxes) == 0 or len(out[1]):
            return out
    return image, boxes, keypoints


def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.25,
                 contrast: float = 0.3, saturation: float = 0.4, hue: float = 0.05,
                 gray: float = 0.05) -> np.ndarray:
    """Random brightness, contrast (about the image mean), saturation, a per-channel gain
    (a small hue / white-balance shift), and now and then grey. All of it is one affine
    map of the RGB values, applied in one pass."""
    b = 1 + rng.uniform(-brightness, brightness)
    c = 1 + rng.uniform(-contrast, contrast)
    s = 0.0 if rng.uniform() < gray else 1 + rng.uniform(-saturation, saturation)
    g = 1 + rng.uniform(-hue, hue, 3)
    luma = np.array([0.299, 0.587, 0.114])
    sat = s * np.eye(3) + (1 - s) * np.tile(luma, (3, 1))   # rows sum to 1
    A = g[:, None] * sat * (b * c)
    v = g * (1 - c) * b * float(image.mean())
    M = np.concatenate([A, v[:, None]], 1)
    if cv2 is not None:
        return cv2.transform(image, M)  # saturating uint8 arithmetic
    out = image.astype(np.float32) @ A.T.astype(np.float32) + v.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def prepare_detection(sample: DetectionSample, size: int, max_boxes: int, augment: bool,
                      rng: np.random.Generator | None = None, crop_scale=(0.3, 1.0),
                      crop_prob: float = 0.8):
    """One sample -> (image uint8 (S, S, 3), boxes (M, 4), keypoints (M, 5, 2),
    keypoint_mask (M,), box_mask (M,)), coordinates normalised to [0, 1] of the model
    input, padded with zeros to M = ``max_boxes`` (the largest faces kept when there are
    more). NaN keypoints become 0 with keypoint_mask 0."""
    image, boxes, kps = sample.image, sample.boxes, sample.keypoints
    if augment:
        rng = rng if rng is not None else np.random.default_rng()
        if rng.uniform() < crop_prob:
            image, boxes, kps = random_crop(image, boxes, kps, rng, crop_scale)
        if rng.uniform() < 0.5:
            image, boxes, kps = hflip(image, boxes, kps)
    image, boxes, kps = letterbox(image, boxes, kps, size)
    if augment:
        image = color_jitter(image, rng)
    n = len(boxes)
    if n > max_boxes:
        order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")
        keep = np.sort(order[:max_boxes])
        boxes, kps, n = boxes[keep], kps[keep], max_boxes
    out_boxes = np.zeros((max_boxes, 4), np.float32)
    out_kps = np.zeros((max_boxes, 5, 2), np.float32)
    kp_mask = np.zeros(max_boxes, np.float32)
    box_mask = np.zeros(max_boxes, np.float32)
    out_boxes[:n] = np.clip(boxes / size, 0.0, 1.0)
    valid = np.isfinite(kps).all(axis=(1, 2))
    out_kps[:n] = np.where(valid[:, None, None], np.nan_to_num(kps) / size, 0.0)
    kp_mask[:n] = valid
    box_mask[:n] = 1.0
    return np.ascontiguousarray(image), out_boxes, out_kps, kp_mask, box_mask


def prepare_recognition(image: np.ndarray, size: int, augment: bool,
                        rng: np.random.Generator | None = None) -> np.ndarray:
    """A face crop -> (S, S, 3) uint8: stretched to ``size`` (crops are expected to be
    aligned already), mirrored half the time and colour-jittered when ``augment``."""
    if image.shape[:2] != (size, size):
        shrink = image.shape[0] > size or image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR) \
            if cv2 is not None else _resize(image, size, size)
    if augment:
        rng = rng if rng is not None else np.random.default_rng()
        if rng.uniform() < 0.5:
            image = image[:, ::-1]
        image = color_jitter(image, rng, brightness=0.2, contrast=0.2, saturation=0.3, hue=0.03)
    return np.ascontiguousarray(image)
