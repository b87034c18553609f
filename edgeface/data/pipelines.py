"""tf.data input pipelines over edgeface datasets (TensorFlow is imported when called).

Samples come out of the Python dataset through ``tf.numpy_function`` in a parallel,
order-preserving ``map``; decoding, augmentation and the letterbox run in numpy/OpenCV
(``edgeface.data.augment``), normalisation and batching in TensorFlow; batches are
prefetched. Augmentation randomness is a pure function of (``shuffle_seed``, epoch,
sample index): two pipelines built alike yield the same batches, epoch after epoch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.cards.presets import SIGNED_UNIT
from edgeface.data import augment as _aug
from edgeface.data.types import DatasetError

# The default normalisation (the trainer passes its card's): (x - 127.5) / 127.5.
MEAN, STD = tuple(SIGNED_UNIT["mean"]), tuple(SIGNED_UNIT["std"])


def _tf():
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - toolchain extra
        raise DatasetError(f"tf.data pipelines need TensorFlow ({exc}): pip install 'edgeface[toolchain]'") from None
    return tf


def _norm(mean: float | Sequence[float], std: float | Sequence[float]):
    mean = np.broadcast_to(np.asarray(mean, np.float32), (3,)).copy()
    std = np.broadcast_to(np.asarray(std, np.float32), (3,)).copy()
    if (std <= 0).any():
        raise DatasetError(f"std={std.tolist()}: must be positive")
    return mean, std


def _rng(shuffle_seed: int, seed, index) -> np.random.Generator:
    return np.random.default_rng([int(shuffle_seed) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFFFFFFFFFF, int(index)])


def _batched_indices(tf, n: int, shuffle: bool, seed: int, batch_size: int, drop_remainder: bool):
    """Batches of (indices, per-element seeds): shuffled each epoch when ``shuffle``; the
    seeds change each epoch too (tf.data.Dataset.random re-randomised per iteration).
    Samples are loaded a batch per Python call: far less overhead than one per sample."""
    if n <= 0:
        raise DatasetError("the dataset is empty: nothing to feed the pipeline")
    if batch_size <= 0:
        raise DatasetError(f"batch_size={batch_size}: must be positive")
    if drop_remainder and n < batch_size:
        raise DatasetError(f"the dataset holds {n} samples, fewer than one batch of {batch_size} "
                           f"(drop_remainder is on): use a smaller batch or more data")
    idx = tf.data.Dataset.range(n)
    if shuffle:
        idx = idx.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip((idx, seeds)).batch(batch_size, drop_remainder=drop_remainder)


def detection_pipeline(dataset, input_size: int, batch_size: int, augment: bool, max_boxes: int = 16,
                       mean: float | Sequence[float] = MEAN, std: float | Sequence[float] = STD,
                       shuffle_seed: int = 0, *, shuffle: bool | None = None,
                       drop_remainder: bool | None = None, crop_scale: tuple[float, float] = (0.3, 1.0),
                       num_parallel_calls: int | None = None, prefetch: int | None = None):
    """A ``tf.data.Dataset`` of ``(images, targets)`` batches for detector training / eval.

    images: float32 (B, S, S, 3), ``(pixel - mean) / std``, RGB, letterboxed (centred,
    black padding, as the SDK's ``resize: letterbox, pad: center``).
    targets: dict of
      "boxes" float32 (B, max_boxes, 4): x1, y1, x2, y2 normalised to [0, 1] of the input;
      "keypoints" float32 (B, max_boxes, 5, 2): x, y normalised (may lie outside [0, 1]
      after a crop), KEYPOINT_NAMES order;
      "keypoint_mask" float32 (B, max_boxes): 1 where the face has keypoints;
      "box_mask" float32 (B, max_boxes): 1 for real faces, 0 for padding.
    With ``augment``: random square crop (RetinaFace style, scale ``crop_scale`` of the
    short side; boxes clipped, dropped when less than half stays inside), horizontal flip
    with the right/left keypoint swap, colour jitter. ``shuffle`` and ``drop_remainder``
    default to ``augment``. The dataset is finite (one epoch); add ``.repeat()`` as needed.
    """
    tf = _tf()
    n = len(dataset)
    size, max_boxes = int(input_size), int(max_boxes)
    mean, std = _norm(mean, std)
    shuffle = augment if shuffle is None else shuffle
    drop_remainder = augment if drop_remainder is None else drop_remainder
    bdim = int(batch_size) if drop_remainder else None

    def load(indices, seeds):
        parts = [_aug.prepare_detection(dataset[int(i)], size, max_boxes, augment, _rng(shuffle_seed, s, i),
                                        crop_scale) for i, s in zip(indices, seeds)]
        return tuple(np.stack(column) for column in zip(*parts))

    mul, add = tf.constant(1.0 / std), tf.constant(-mean / std)

    def tf_load(indices, seeds):
        image, boxes, kps, kp_mask, box_mask = tf.numpy_function(
            load, [indices, seeds], [tf.uint8, tf.float32, tf.float32, tf.float32, tf.float32], stateful=False)
        image = tf.ensure_shape(image, (bdim, size, size, 3))
        targets = {"boxes": tf.ensure_shape(boxes, (bdim, max_boxes, 4)),
                   "keypoints": tf.ensure_shape(kps, (bdim, max_boxes, 5, 2)),
                   "keypoint_mask": tf.ensure_shape(kp_mask, (bdim, max_boxes)),
                   "box_mask": tf.ensure_shape(box_mask, (bdim, max_boxes))}
        return tf.cast(image, tf.float32) * mul + add, targets

    ds = _batched_indices(tf, n, shuffle, int(shuffle_seed), int(batch_size), drop_remainder)
    ds = ds.map(tf_load, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(prefetch or tf.data.AUTOTUNE)


def recognition_pipeline(dataset, input_size: int, batch_size: int, augment: bool,
                         mean: float | Sequence[float] = MEAN, std: float | Sequence[float] = STD,
                         shuffle_seed: int = 0, *, shuffle: bool | None = None,
                         drop_remainder: bool | None = None, num_parallel_calls: int | None = None,
                         prefetch: int | None = None):
    """A ``tf.data.Dataset`` of ``(images float32 (B, S, S, 3), labels int32 (B,))``.

    Crops are resized (stretched) to ``input_size``: they are expected to be aligned
    already. With ``augment``: horizontal flip and colour jitter. ``shuffle`` and
    ``drop_remainder`` default to ``augment``; one epoch, add ``.repeat()`` as needed.
    """
    tf = _tf()
    n = len(dataset)
    size = int(input_size)
    mean, std = _norm(mean, std)
    shuffle = augment if shuffle is None else shuffle
    drop_remainder = augment if drop_remainder is None else drop_remainder
    bdim = int(batch_size) if drop_remainder else None

    def load(indices, seeds):
        images, labels = [], []
        for i, s in zip(indices, seeds):
            sample = dataset[int(i)]
            images.append(_aug.prepare_recognition(sample.image, size, augment, _rng(shuffle_seed, s, i)))
            labels.append(sample.label)
        return np.stack(images), np.asarray(labels, np.int32)

    mul, add = tf.constant(1.0 / std), tf.constant(-mean / std)

    def tf_load(indices, seeds):
        images, labels = tf.numpy_function(load, [indices, seeds], [tf.uint8, tf.int32], stateful=False)
        images = tf.ensure_shape(images, (bdim, size, size, 3))
        return tf.cast(images, tf.float32) * mul + add, tf.ensure_shape(labels, (bdim,))

    ds = _batched_indices(tf, n, shuffle, int(shuffle_seed), int(batch_size), drop_remainder)
    ds = ds.map(tf_load, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(prefetch or tf.data.AUTOTUNE)
