"""MediaPipe's custom ops as edgeface replays them (edgeface.converters.mediapipe_ops),
against a plain numpy reading of their definitions (mediapipe/util/tflite/operations, v2):
angles by atan2, the matrix as a product of 4x4 shift, rotation and scale matrices, and
bilinear sampling pixel by pixel with zero outside the map."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
flexbuffers = pytest.importorskip("flatbuffers.flexbuffers")

from edgeface.converters.mediapipe_ops import MEDIAPIPE_OPS  # noqa: E402
from edgeface.errors import ConversionError  # noqa: E402


def _run(name: str, inputs: list[np.ndarray], options: dict | None = None, output_shape=None, version: int = 2):
    """The op replayed on ``inputs``, through the same interface tflite_graph gives it."""
    tensors = [SimpleNamespace(shape=np.asarray(x.shape)) for x in inputs]
    tensors.append(SimpleNamespace(shape=np.asarray(output_shape if output_shape is not None else [1])))
    graph = SimpleNamespace(where="test.tflite", op_name=lambda op: name,
                            model=SimpleNamespace(operatorCodes=[SimpleNamespace(version=version)]),
                            graph=SimpleNamespace(tensors=tensors))
    op = SimpleNamespace(opcodeIndex=0, inputs=list(range(len(inputs))), outputs=[len(inputs)],
                         customOptions=None if options is None else np.frombuffer(flexbuffers.Dumps(options),
                                                                                  np.uint8))
    return MEDIAPIPE_OPS[name](tf, graph, op, lambda i: tf.constant(inputs[i]), "fp32").numpy()


def _shift(x, y):
    m = np.eye(4)
    m[0, 3], m[1, 3] = x, y
    return m


def _rotation(r):
    m = np.eye(4)
    m[:2, :2] = [[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]]
    return m


def reference_matrix(landmarks: np.ndarray, o: dict) -> np.ndarray:
    left, right = landmarks[o["left_rotation_idx"]], landmarks[o["right_rotation_idx"]]
    rotation = o["target_rotation_radians"] - math.atan2(right[1] - left[1], right[0] - left[0])
    turned = landmarks[o["subset_idxs"], :2] @ _rotation(rotation)[:2, :2].T
    low, high = turned.min(axis=0), turned.max(axis=0)
    centre = _rotation(-rotation)[:2, :2] @ ((low + high) / 2)
    scale = np.diag([o["scale_x"] * (high[0] - low[0]) / o["output_width"],
                     o["scale_y"] * (high[1] - low[1]) / o["output_height"], 1.0, 1.0])
    return (_shift(*centre) @ _rotation(-rotation) @ scale
            @ _shift(-o["output_width"] / 2, -o["output_height"] / 2))


def reference_bilinear(features: np.ndarray, matrix: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    height, width, channels = features.shape
    x_row, y_row = matrix[0].copy(), matrix[1].copy()
    x_row[3] += 0.5 * x_row[0] + 0.5 * x_row[1] - 0.5
    y_row[3] += 0.5 * y_row[0] + 0.5 * y_row[1] - 0.5

    def read(h, w):
        return features[h, w] if 0 <= h < height and 0 <= w < width else np.zeros(channels)

    out = np.zeros((out_h, out_w, channels))
    for oy in range(out_h):
        for ox in range(out_w):
            x = x_row[0] * ox + x_row[1] * oy + x_row[3]
            y = y_row[0] * ox + y_row[1] * oy + y_row[3]
            if x < 0 or x > width - 1 or y < 0 or y > height - 1:
                continue
            fx, fy = math.floor(x), math.floor(y)
            rx, ly = x - fx, y - fy
            upper = (1 - rx) * read(fy, fx) + rx * read(fy, fx + 1)
            lower = (1 - rx) * read(fy + 1, fx) + rx * read(fy + 1, fx + 1)
            out[oy, ox] = ly * lower + (1 - ly) * upper
    return out


OPTIONS = {"left_rotation_idx": 3, "right_rotation_idx": 7, "output_height": 6, "output_width": 5,
           "scale_x": 1.5, "scale_y": 1.25, "subset_idxs": [3, 7, 1, 9, 12, 4], "target_rotation_radians": 0.0}


@pytest.mark.parametrize("target", [0.0, 0.4])
def test_the_region_matrix_is_mediapipes_shift_rotation_scale_product(target):
    rng = np.random.default_rng(1)
    landmarks = rng.uniform(2, 40, (20, 3)).astype(np.float32)
    options = {**OPTIONS, "target_rotation_radians": target}
    got = _run("Landmarks2TransformMatrix", [landmarks[None]], options)
    np.testing.assert_allclose(got[0], reference_matrix(landmarks.astype(np.float64), options), rtol=1e-4,
                               atol=1e-4)


def test_sampling_matches_pixel_by_pixel_bilinear_with_zero_outside():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(12, 10, 3)).astype(np.float32)
    landmarks = rng.uniform(0, 11, (20, 3)).astype(np.float32)
    # a region reaching past the map's edges, turned: some samples fall outside
    matrix = reference_matrix(landmarks, {**OPTIONS, "scale_x": 3.0, "scale_y": 3.0}).astype(np.float32)
    got = _run("TransformTensorBilinear", [features[None], matrix[None]], {"output_height": 6, "output_width": 5},
               output_shape=[1, 6, 5, 3])
    want = reference_bilinear(features.astype(np.float64), matrix.astype(np.float64), 6, 5)
    assert (np.abs(want).sum(axis=2) == 0).any() and (np.abs(want).sum(axis=2) > 0).any()
    np.testing.assert_allclose(got[0], want, atol=1e-5)


def test_the_identity_matrix_copies_the_map_up_to_its_last_row_and_column():
    features = np.arange(4 * 5 * 2, dtype=np.float32).reshape(1, 4, 5, 2)
    got = _run("TransformTensorBilinear", [features, np.eye(4, dtype=np.float32)[None]], {},
               output_shape=[1, 4, 5, 2])
    np.testing.assert_array_equal(got, features)


@pytest.mark.parametrize("dims", [2, 3])
def test_points_move_by_the_matrix_and_keep_their_depth(dims):
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 16, (1, 7, dims)).astype(np.float32)
    matrix = reference_matrix(rng.uniform(0, 40, (20, 3)), OPTIONS).astype(np.float32)
    got = _run("TransformLandmarks", [points, matrix[None]])
    want = points[0, :, :2] @ matrix[:2, :2].T + matrix[:2, 3]
    np.testing.assert_allclose(got[0, :, :2], want, rtol=1e-5, atol=1e-4)
    if dims == 3:
        np.testing.assert_array_equal(got[0, :, 2], points[0, :, 2])


def test_other_versions_and_damaged_attributes_are_refused_with_the_op_named():
    landmarks = np.zeros((1, 20, 3), np.float32)
    with pytest.raises(ConversionError, match="Landmarks2TransformMatrix.*version 1"):
        _run("Landmarks2TransformMatrix", [landmarks], OPTIONS, version=1)
    with pytest.raises(ConversionError, match="no attribute 'scale_x'"):
        _run("Landmarks2TransformMatrix", [landmarks], {k: v for k, v in OPTIONS.items() if k != "scale_x"})
    with pytest.raises(ConversionError, match="out of range for 20 landmarks"):
        _run("Landmarks2TransformMatrix", [landmarks], {**OPTIONS, "subset_idxs": [3, 40]})
    features = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ConversionError, match="an output of 100000x100000 samples"):
        _run("TransformTensorBilinear", [features, np.eye(4, dtype=np.float32)[None]], {},
             output_shape=[1, 100000, 100000, 2])
