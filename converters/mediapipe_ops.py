"""MediaPipe's three custom TFLite ops, written with builtin TensorFlow ops.

MediaPipe's 478-point face mesh (``face_landmark_with_attention.tflite``) crops its
lips, eyes and irises out of a feature map with ops that only MediaPipe's own interpreter
registers, so LiteRT (and so edgeface, Python or native) cannot load the file as it is:

- ``Landmarks2TransformMatrix`` (v2): from the coarse mesh, the 4x4 matrix taking a
  region's output grid to feature-map pixels: the region is the box around ``subset_idxs``
  in a frame levelled by the line from ``left_rotation_idx`` to ``right_rotation_idx``,
  grown by ``scale_x``/``scale_y``;
- ``TransformTensorBilinear`` (v2): samples the feature map at those points (bilinear,
  pixel centres at +0.5, zero outside the map);
- ``TransformLandmarks`` (v2): takes the refined points from the region's grid back to
  the crop by the same matrix (x and y; z kept).

Each is replayed with the ops of its definition (mediapipe/util/tflite/operations), so
``tflite_graph`` can hand the whole graph to TFLiteConverter and the result holds builtin
ops only. The rotation is computed from the eye or lip corners' direction vector, with no
trigonometric op. The ops compute coordinates, which int8 cannot hold: integer targets are
refused by ``tflite_graph``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeface.errors import ConversionError


MAX_SAMPLES = 1 << 22  # points one TransformTensorBilinear samples (the face mesh's: 16 x 16)


def custom_options(graph, op) -> dict:
    """A custom op's attributes (a FlexBuffer map; empty when it has none)."""
    raw = op.customOptions
    if raw is None or len(raw) == 0:
        return {}
    from flatbuffers import flexbuffers

    try:
        options = flexbuffers.Loads(bytes(bytearray(raw)))
    except Exception as exc:
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r} has unreadable attributes "
                              f"({exc}): the file is damaged") from None
    if not isinstance(options, dict):
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r}: its attributes are not a map")
    return options


def _attribute(graph, op, options: dict, key: str, kind: type):
    if key not in options:
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r} has no attribute {key!r}")
    try:
        return kind(options[key])
    except (TypeError, ValueError):
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r}: attribute {key!r} is "
                              f"{options[key]!r}, not a {kind.__name__}") from None


def _version(graph, op) -> int:
    return int(graph.model.operatorCodes[op.opcodeIndex].version)


def _require_v2(graph, op) -> None:
    if _version(graph, op) != 2:
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r} version {_version(graph, op)}: "
                              f"edgeface reads version 2 (MediaPipe 0.10's face mesh with attention)")


def landmarks_to_transform_matrix(tf, graph, op, value, precision):
    _require_v2(graph, op)
    options = custom_options(graph, op)
    left = _attribute(graph, op, options, "left_rotation_idx", int)
    right = _attribute(graph, op, options, "right_rotation_idx", int)
    target = _attribute(graph, op, options, "target_rotation_radians", float)
    out_w = _attribute(graph, op, options, "output_width", int)
    out_h = _attribute(graph, op, options, "output_height", int)
    scale_x = _attribute(graph, op, options, "scale_x", float)
    scale_y = _attribute(graph, op, options, "scale_y", float)
    subset = [int(i) for i in options.get("subset_idxs", [])]
    landmarks = value(op.inputs[0])  # (1, N, 3)
    count = int(landmarks.shape[1])
    if not subset or max(subset + [left, right]) >= count or min(subset + [left, right]) < 0 \
            or min(out_w, out_h) <= 0 or min(scale_x, scale_y) <= 0:
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r}: attributes out of range for "
                              f"{count} landmarks: the file is damaged")
    xy = tf.reshape(landmarks, (count, 3))[:, :2]
    corners = tf.gather(xy, np.array([left, right], np.int32))
    direction = tf.matmul(np.array([[-1.0, 1.0]], np.float32), corners)  # (1, 2)
    unit = direction * tf.math.rsqrt(tf.maximum(tf.reduce_sum(direction * direction), 1e-24))
    # the region's rotation r = target - atan2(dy, dx): R(r) = [[cos r, -sin r], [sin r, cos r]]
    # is linear in (cos, sin) of the corners' direction
    ct, st = float(np.cos(target)), float(np.sin(target))
    rotation = tf.reshape(tf.matmul(unit, np.array([[ct, -st, st, ct], [st, ct, -ct, st]], np.float32)), (2, 2))
    turned = tf.matmul(tf.gather(xy, np.asarray(subset, np.int32)), rotation, transpose_b=True)  # R(r) p
    low, high = tf.reduce_min(turned, axis=0, keepdims=True), tf.reduce_max(turned, axis=0, keepdims=True)
    # scale of the region's grid: its box's side times scale_x, scale_y over the output side
    scale = (high - low) * np.array([[scale_x / out_w, scale_y / out_h]], np.float32)
    # shift(centre) . rotate(-r) . scale . shift(-out / 2), with rotate(-r) = R(r)^T: its 2x2
    # part is R^T diag(scale); its shift R^T (mid - scale * out / 2), as a row: (...) @ R
    linear = tf.transpose(rotation) * scale
    shift = tf.matmul((low + high) * 0.5 - scale * np.array([[out_w / 2, out_h / 2]], np.float32), rotation)
    entries = tf.concat([tf.reshape(linear, (1, 4)), shift], axis=1)  # a00 a01 a10 a11 t0 t1
    return tf.reshape(tf.matmul(entries, _PLACES) + _IDENTITY_REST, (1, 4, 4))


# where a00, a01, a10, a11, t0, t1 go in the 4x4 matrix (row-major), and its constant entries
_PLACES = np.zeros((6, 16), np.float32)
_PLACES[[0, 1, 2, 3, 4, 5], [0, 1, 4, 5, 3, 7]] = 1.0
_IDENTITY_REST = np.zeros((1, 16), np.float32)
_IDENTITY_REST[0, [10, 15]] = 1.0


def _affine_rows(tf, matrix):
    """The 4x4 matrix's x and y rows without their z column, as (3, 2): points (P, 3) of
    (x, y, 1) times this are the points moved."""
    rows = tf.gather(tf.reshape(matrix, (16,)), np.array([0, 4, 1, 5, 3, 7], np.int32))
    return tf.reshape(rows, (3, 2))


def transform_tensor_bilinear(tf, graph, op, value, precision):
    _require_v2(graph, op)
    features = value(op.inputs[0])  # (1, H, W, C)
    _, height, width, channels = (int(d) for d in features.shape)
    out_shape = [int(d) for d in graph.graph.tensors[op.outputs[0]].shape]
    if len(out_shape) != 4 or out_shape[3] != channels:
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r}: output shape {out_shape} does "
                              f"not match its {channels}-channel input: the file is damaged")
    out_h, out_w = out_shape[1], out_shape[2]
    if not 0 < out_h * out_w <= MAX_SAMPLES:
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r}: an output of {out_h}x{out_w} "
                              f"samples (edgeface reads up to {MAX_SAMPLES}): the file is damaged")
    # output pixel centres (x + 0.5, y + 0.5, 1) moved, less 0.5: MediaPipe's pixel-centre
    # correction S(-0.5) . T . A(+0.5)
    grid_y, grid_x = np.meshgrid(np.arange(out_h, dtype=np.float32), np.arange(out_w, dtype=np.float32),
                                 indexing="ij")
    grid = np.stack([grid_x.ravel() + 0.5, grid_y.ravel() + 0.5, np.ones(out_h * out_w, np.float32)], axis=1)
    at = tf.matmul(grid, _affine_rows(tf, value(op.inputs[1]))) - 0.5  # (P, 2): x, y in the map
    limit = np.array([width - 1, height - 1], np.float32)
    inside = tf.cast(tf.reduce_all(tf.logical_and(at >= 0.0, at <= limit), axis=1, keepdims=True), tf.float32)
    corner = tf.floor(tf.clip_by_value(at, 0.0, limit))
    fx, fy = tf.split(at - corner, 2, axis=1)  # (P, 1) each
    # the four neighbours' places in the flattened map; one past the last row or column
    # carries zero weight (the point is on that edge), so any place in the map will do
    first = tf.matmul(corner, np.array([[1.0], [width]], np.float32))  # (P, 1): row * width + column
    index = tf.cast(tf.minimum(first + np.array([[0.0, 1.0, width, width + 1.0]], np.float32),
                               height * width - 1.0), tf.int32)
    corners = tf.gather(tf.reshape(features, (height * width, channels)), index)  # (P, 4, C)
    weights = tf.concat([(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy], axis=1) * inside
    sampled = tf.reduce_sum(corners * tf.expand_dims(weights, 2), axis=1)
    return tf.reshape(sampled, (1, out_h, out_w, channels))


def transform_landmarks(tf, graph, op, value, precision):
    _require_v2(graph, op)
    landmarks = value(op.inputs[0])  # (1, N, D), D = 2 or 3
    count, dims = int(landmarks.shape[1]), int(landmarks.shape[-1])
    if dims not in (2, 3):
        raise ConversionError(f"{graph.where}: custom op {graph.op_name(op)!r}: landmarks of {dims} values "
                              f"(expected 2 or 3): the file is damaged")
    points = tf.reshape(landmarks, (count, dims))
    xy1 = tf.concat([points[:, :2], tf.ones((count, 1))], axis=1)
    moved = tf.matmul(xy1, _affine_rows(tf, value(op.inputs[1])))
    if dims == 3:
        moved = tf.concat([moved, points[:, 2:]], axis=1)
    return tf.reshape(moved, (1, count, dims))


MEDIAPIPE_OPS: dict[str, Any] = {
    "Landmarks2TransformMatrix": landmarks_to_transform_matrix,
    "TransformTensorBilinear": transform_tensor_bilinear,
    "TransformLandmarks": transform_landmarks,
}
