#!/usr/bin/env python3
"""Build the tiny test models and the fixture bundles in tests/fixtures/bundles.

The SDK's tests need real model files (TFLite and ONNX) in the real output layouts --
MediaPipe's BlazeFace short-range, InsightFace's SCRFD, a batchable embedder -- whose
behaviour is simple enough that a test can work out the answer by hand. These are not
face models:

* the blob detectors score each anchor by how bright its cell of the input is
  (logit ``10 * (mean of the normalised input over the cell - 0.5)``), so a white square
  on black lights up exactly the anchors whose cells it covers, and they regress a
  constant box and constant keypoints around each anchor;
* the embedders are small CNNs with fixed random weights.

Everything is seeded, so a rerun rewrites the same files (see tests/fixtures/README.md):

    python scripts/make_fixtures.py [--out tests/fixtures/bundles]

Needs the ``toolchain`` extra (TensorFlow) plus onnx and onnxruntime.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

import numpy as np

from edgeface.align import ARCFACE_TEMPLATE
from edgeface.bundle import load_bundle, write_bundle
from edgeface.cards.presets import BLAZEFACE_KEYPOINTS, FIVE_KEYPOINTS, SHORT_RANGE_ANCHORS
from edgeface.decoders.ssd import ssd_anchors

ROOT = Path(__file__).resolve().parent.parent
MAX_TOTAL_BYTES = 1024 * 1024

BLAZE_SIZE = 128
BLAZE_LAYERS = ((8, 2), (16, 6))  # (stride, anchors per cell): MediaPipe short-range
BLAZE_BOX = (0.0, 0.0, 24.0, 24.0)  # centre offset and size, 128-px units
# Each keypoint's offset from the box centre, 128-px units, in MediaPipe's keypoint order.
BLAZE_KEYPOINTS = dict(zip(BLAZEFACE_KEYPOINTS, [(-5, -4), (5, -4), (0, 1), (0, 6), (-10, -1), (10, -1)]))
# Below MediaPipe's 0.3: the 24-px boxes of diagonally adjacent 8-px cells overlap at
# IoU 0.286, and a white square covering 2x2 such cells must blend into one face whichever
# anchor leads the weighted NMS.
BLAZE_NMS_IOU = 0.25
BLAZE_ANCHORS = SHORT_RANGE_ANCHORS

SCRFD_SIZE = 160
SCRFD_STRIDES = (8, 16, 32)
SCRFD_PER_CELL = 2
# Left, top, right, bottom, in stride units. SCRFD anchors sit on cell corners, so with
# 2.5 (it must exceed 2) the box of the first white cell still covers the square's centre.
SCRFD_DISTANCE = 2.5
# Each keypoint's offset from the anchor, stride units, in the five-point order.
SCRFD_KEYPOINTS = dict(zip(FIVE_KEYPOINTS, [(-0.5, -0.4), (0.5, -0.4), (0.0, 0.1), (-0.4, 0.6), (0.4, 0.6)]))

CHIP = 112
EMBEDDING_SIZE = 128


# --- inputs and a reference for the blob detectors ------------------------------------------

def blob_images(count: int, size: int, seed: int) -> np.ndarray:
    """Black images with a few squares of random brightness, normalised to [-1, 1]."""
    rng = np.random.default_rng(seed)
    images = np.full((count, size, size, 3), -1.0, np.float32)
    for image in images:
        for _ in range(rng.integers(1, 4)):
            side = int(rng.integers(8, size // 2))
            x, y = rng.integers(0, size - side, 2)
            image[y:y + side, x:x + side] = rng.uniform(-1.0, 1.0)
    return images


def white_square(size: int, x0: int, side: int) -> np.ndarray:
    """One normalised image: black, with a white square at (x0, x0) of the given side."""
    image = np.full((1, size, size, 3), -1.0, np.float32)
    image[0, x0:x0 + side, x0:x0 + side] = 1.0
    return image


def random_chips(count: int, seed: int) -> np.ndarray:
    """Normalised 112x112 chips: half pixel noise, half blocky 'textures'."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (count - count // 2, CHIP, CHIP, 3))
    blocks = rng.integers(0, 256, (count // 2, 4, 4, 3))
    blocky = np.kron(blocks, np.ones((1, CHIP // 4, CHIP // 4, 1), np.int64))
    return ((np.concatenate([noise, blocky]) - 127.5) / 127.5).astype(np.float32)


def face_chips(count: int, seed: int) -> np.ndarray:
    """Normalised chips like the blob detectors' aligned faces: a square of 4x4 bright
    random blocks, about 60 px, near the middle of a black chip."""
    rng = np.random.default_rng(seed)
    chips = np.zeros((count, CHIP, CHIP, 3), np.float32)
    for chip in chips:
        side = 4 * int(rng.integers(13, 17))
        x, y = rng.integers(20, CHIP - side - 20, 2)
        blocks = rng.integers(192, 256, (4, 4, 3))
        chip[y:y + side, x:x + side] = np.kron(blocks, np.ones((side // 4, side // 4, 1)))
    return (chips - 127.5) / 127.5


def cell_logits(image: np.ndarray, stride: int, per_cell: int) -> np.ndarray:
    """What the blob detectors compute: 10 * (cell mean of the channel mean - 0.5), per anchor."""
    grey = image[0].mean(axis=-1)
    rows, cols = grey.shape[0] // stride, grey.shape[1] // stride
    pooled = grey.reshape(rows, stride, cols, stride).mean(axis=(1, 3))
    return np.repeat(10.0 * (pooled.ravel() - 0.5), per_cell)


# --- the models --------------------------------------------------------------------------

def constant_conv(keras, x, values: np.ndarray, name: str):
    """A 1x1 conv with a zero kernel: outputs ``values`` at every cell."""
    layer = keras.layers.Conv2D(len(values), 1, name=name)
    y = layer(x)
    layer.set_weights([np.zeros((1, 1, x.shape[-1], len(values)), np.float32),
                       values.astype(np.float32)])
    return y


def brightness_logits(keras, pooled, per_cell: int, name: str, activation=None):
    """``per_cell`` copies of 10 * (channel mean - 0.5) of an average-pooled input."""
    layer = keras.layers.Conv2D(per_cell, 1, activation=activation, name=name)
    y = layer(pooled)
    layer.set_weights([np.full((1, 1, 3, per_cell), 10.0 / 3, np.float32),
                       np.full(per_cell, -5.0, np.float32)])
    return y


def blazeface_detector(keras):
    """Model 1: the blob detector with MediaPipe face_detection_short_range's outputs."""
    image = keras.Input((BLAZE_SIZE, BLAZE_SIZE, 3), batch_size=1, name="input")
    row = np.array(BLAZE_BOX + sum(BLAZE_KEYPOINTS.values(), ()), np.float32)
    boxes, scores = [], []
    for stride, per_cell in BLAZE_LAYERS:
        pooled = keras.layers.AveragePooling2D(stride, name=f"pool_{stride}")(image)
        regress = constant_conv(keras, pooled, np.tile(row, per_cell), f"regress_{stride}")
        boxes.append(keras.layers.Reshape((-1, len(row)))(regress))
        logits = brightness_logits(keras, pooled, per_cell, f"score_{stride}")
        scores.append(keras.layers.Reshape((-1, 1))(logits))
    regressors = keras.layers.Concatenate(axis=1, name="regressors")(boxes)
    classificators = keras.layers.Concatenate(axis=1, name="classificators")(scores)
    return keras.Model(image, [regressors, classificators], name="blob_blazeface")


def scrfd_detector(keras):
    """Model 2: the blob detector with SCRFD's nine outputs (scores, boxes, keypoints per stride)."""
    image = keras.Input((SCRFD_SIZE, SCRFD_SIZE, 3), batch_size=1, name="input")
    distances = np.full(4 * SCRFD_PER_CELL, SCRFD_DISTANCE)
    offsets = np.tile(np.ravel(list(SCRFD_KEYPOINTS.values())), SCRFD_PER_CELL)
    outputs: dict[str, list] = {"scores": [], "boxes": [], "keypoints": []}
    for stride in SCRFD_STRIDES:
        pooled = keras.layers.AveragePooling2D(stride, name=f"pool_{stride}")(image)
        score = brightness_logits(keras, pooled, SCRFD_PER_CELL, f"logit_{stride}", activation="sigmoid")
        box = constant_conv(keras, pooled, distances, f"distance_{stride}")
        kps = constant_conv(keras, pooled, offsets, f"offset_{stride}")
        for kind, x, width in (("scores", score, 1), ("boxes", box, 4), ("keypoints", kps, 10)):
            outputs[kind].append(keras.layers.Reshape((-1, width), name=f"{kind}_{stride}")(x))
    return keras.Model(image, sum(outputs.values(), []), name="blob_scrfd")


def keras_embedder(keras):
    """Model 3: a small CNN with fixed random weights (seed 0) and a resizable batch.

    A random ReLU net pools every chip to nearly the same direction (cosine > 0.9999 even
    between noise images), so the Dense layer's random kernel is rescaled and its bias set to
    standardise the pooled features over face-like chips: then two blob 'identities' differ.
    """
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((CHIP, CHIP, 3), name="input"),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 1, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(EMBEDDING_SIZE, name="embedding"),
    ], name="random_embedder")
    features = keras.Model(model.inputs, model.layers[-2].output)
    pooled = features.predict(face_chips(64, seed=3), verbose=0)
    mean, std = pooled.mean(axis=0), pooled.std(axis=0)
    dense = model.layers[-1]
    kernel = dense.get_weights()[0] / np.maximum(std, 0.1 * std.mean())[:, None]
    dense.set_weights([kernel, -mean @ kernel])
    return model


def onnx_embedder() -> bytes:
    """Model 4: an NCHW ONNX CNN with fixed random weights (seed 1) and a symbolic batch."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)

    def weight(name, *shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        values = rng.standard_normal(shape) * np.sqrt(2 / fan_in)
        return numpy_helper.from_array(values.astype(np.float32), name)

    conv = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], **conv),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], **conv),
         helper.make_node("Relu", ["c2"], ["r2"]),
         helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "w3", "b3"], ["embedding"])],
        "random_embedder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, CHIP, CHIP])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING_SIZE])],
        initializer=[weight("w1", 8, 3, 3, 3), weight("b1", 8), weight("w2", 16, 8, 3, 3), weight("b2", 16),
                     weight("w3", 16, EMBEDDING_SIZE), weight("b3", EMBEDDING_SIZE)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="edgeface-make-fixtures", ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


# --- conversion and running ----------------------------------------------------------------

def to_tflite(tf, model, representative: np.ndarray | None = None, input_type=None,
              output_type=None) -> bytes:
    """Float TFLite, or full-integer int8 calibrated on ``representative`` when it is given."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None]] for x in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = input_type
        converter.inference_output_type = output_type
    with contextlib.redirect_stdout(io.StringIO()):  # the Keras export's listing of its captures
        return converter.convert()


def tflite_outputs(data: bytes) -> dict[str, tuple[int, ...]]:
    """Output tensor name -> shape, in the interpreter's output order."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=data).get_output_details()
    return {d["name"]: tuple(int(n) for n in d["shape"]) for d in details}


def run_tflite(data: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run on a normalised float batch the way the SDK does: quantise the input with the
    tensor's scale and zero point, dequantise the outputs; resize the batch if needed."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    (inp,) = it.get_input_details()
    if tuple(inp["shape"]) != x.shape:
        it.resize_tensor_input(inp["index"], x.shape)
    it.allocate_tensors()
    scale, zero = inp["quantization"]
    if scale:
        bounds = np.iinfo(inp["dtype"])
        x = np.clip(np.rint(x / scale + zero), bounds.min, bounds.max)
    it.set_tensor(inp["index"], x.astype(inp["dtype"]))
    it.invoke()
    results = {}
    for out in it.get_output_details():
        value = it.get_tensor(out["index"]).astype(np.float32)
        scale, zero = out["quantization"]
        results[out["name"]] = (value - zero) * scale if scale else value
    return results


def run_onnx(data: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(["embedding"], {"input": x})[0]


def name_by_shape(outputs: dict[str, tuple[int, ...]], shape: tuple[int, ...]) -> str:
    """The one output of this shape: TFLite names outputs StatefulPartitionedCall_1:<k> and
    does not keep the Keras order, so outputs are found by shape."""
    (name,) = [n for n, s in outputs.items() if s == shape]
    return name


# --- checks --------------------------------------------------------------------------------

def check_blazeface(data: bytes, boxes: str, scores: str, atol: float) -> None:
    """A white 32x32 square at (48, 48) must light up exactly the anchors whose cells it covers
    (their centres fall inside it: the square is aligned to the 16-px grid)."""
    image = white_square(BLAZE_SIZE, 48, 32)
    out = run_tflite(data, image)
    logits = out[scores].reshape(-1)
    expected = np.concatenate([cell_logits(image, s, n) for s, n in BLAZE_LAYERS])
    np.testing.assert_allclose(logits, expected, atol=atol)
    centres = ssd_anchors(BLAZE_SIZE, BLAZE_SIZE, BLAZE_ANCHORS["strides"], BLAZE_ANCHORS["min_scale"],
                          BLAZE_ANCHORS["max_scale"], fixed_anchor_size=True)[:, :2] * BLAZE_SIZE
    inside = np.flatnonzero(((centres > 48) & (centres < 80)).all(axis=1))
    fired = np.flatnonzero(logits > 0)
    assert np.array_equal(fired, inside) and len(fired) == 16 * 2 + 4 * 6, fired
    row = np.array(BLAZE_BOX + sum(BLAZE_KEYPOINTS.values(), ()))
    np.testing.assert_allclose(out[boxes].reshape(-1, 16), np.tile(row, (896, 1)), atol=atol)


def check_scrfd(data: bytes, refs: dict[str, list[str]]) -> None:
    """A white 32x32 square at (64, 64) lights up the cells it covers at every stride."""
    image = white_square(SCRFD_SIZE, 64, 32)
    out = run_tflite(data, image)
    for i, stride in enumerate(SCRFD_STRIDES):
        expected = 1 / (1 + np.exp(-cell_logits(image, stride, SCRFD_PER_CELL)))
        np.testing.assert_allclose(out[refs["scores"][i]].reshape(-1), expected, atol=1e-5)
        np.testing.assert_allclose(out[refs["boxes"][i]], SCRFD_DISTANCE, atol=1e-6)
        kps = np.ravel(list(SCRFD_KEYPOINTS.values()))
        np.testing.assert_allclose(out[refs["keypoints"][i]].reshape(-1, 10),
                                   np.tile(kps, (len(expected), 1)), atol=1e-6)
    fired = [int((out[refs["scores"][i]] > 0.5).sum()) for i in range(3)]
    assert fired == [16 * 2, 4 * 2, 1 * 2], fired


def check_batching(embed, chips: np.ndarray) -> np.ndarray:
    """A batch must give the same rows as one chip at a time; returns the batch's rows."""
    batch = embed(chips)
    single = np.concatenate([embed(chip[None]) for chip in chips])
    assert batch.shape == (len(chips), EMBEDDING_SIZE)
    np.testing.assert_allclose(batch, single, atol=1e-5)
    return batch


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def check_embedders(embedder, fp32: bytes, int8: bytes) -> dict[str, str]:
    """The TFLite embedders: batches give the rows of single runs, float matches Keras, int8
    stays close on generic images, distinct face-like chips stay apart. Returns the output
    tensor name of each."""
    chips = np.concatenate([random_chips(4, seed=2), face_chips(4, seed=2)])
    rows, names = {}, {}
    for label, data in (("fp32", fp32), ("int8", int8)):
        (names[label],) = tflite_outputs(data)
        rows[label] = check_batching(lambda x, d=data, n=names[label]: run_tflite(d, x)[n], chips)
        faces = unit_rows(rows[label][4:])
        closest = (faces @ faces.T - 2 * np.eye(len(faces))).max()
        assert closest < 0.99, (label, closest)  # two blob "identities" must not look alike
        print(f"embedder {label}: output {names[label]!r}; distinct face chips cosine <= {closest:.4f}")
    np.testing.assert_allclose(rows["fp32"], embedder.predict(chips, verbose=0), rtol=1e-4, atol=1e-4)
    # int8 keeps the embedding of a generic image (what the tests compare), not the small
    # differences between face-like chips that the standardising Dense layer amplifies.
    agreement = np.sum(unit_rows(rows["fp32"][:4]) * unit_rows(rows["int8"][:4]), axis=1).min()
    assert agreement > 0.97, agreement
    print(f"embedder: int8 vs fp32 cosine on random chips >= {agreement:.4f}")
    return names


# --- manifests -----------------------------------------------------------------------------

def input_spec(size: int, mean: float, std: float, resize: str, dtype: str = "float32",
               layout: str = "NHWC", pad: str | None = None) -> dict:
    spec = {"height": size, "width": size, "layout": layout, "dtype": dtype, "channel_order": "RGB",
            "mean": [mean] * 3, "std": [std] * 3, "resize": resize}
    if pad:
        spec["pad"] = pad
    return spec


def blazeface_entry(file: str, dtype: str, boxes: str, scores: str) -> dict:
    return {
        "file": file, "format": "tflite",
        "input": input_spec(BLAZE_SIZE, 127.5, 127.5, "letterbox", dtype, pad="center"),
        "decoder": {"family": "ssd", "outputs": {"boxes": boxes, "scores": scores}, "anchors": BLAZE_ANCHORS,
                    "box_format": "xywh", "box_scale": [128.0] * 4, "box_offset": 0, "keypoint_offset": 4,
                    "num_keypoints": len(BLAZE_KEYPOINTS), "score_activation": "sigmoid",
                    "score_clip": 100.0},
        "keypoint_names": list(BLAZE_KEYPOINTS),
        "score_threshold": 0.5, "nms_iou": BLAZE_NMS_IOU, "nms": "weighted", "max_faces": 20,
    }


def scrfd_entry(file: str, refs: dict[str, list[str]]) -> dict:
    return {
        "file": file, "format": "tflite",
        "input": input_spec(SCRFD_SIZE, 127.5, 128.0, "letterbox", pad="corner"),
        "decoder": {"family": "scrfd", "strides": list(SCRFD_STRIDES), "anchors_per_cell": SCRFD_PER_CELL,
                    "num_keypoints": len(SCRFD_KEYPOINTS), "score_activation": "none", "outputs": refs},
        "keypoint_names": list(SCRFD_KEYPOINTS),
        "score_threshold": 0.5, "nms_iou": 0.4, "nms": "hard", "max_faces": 20,
    }


def embedder_entry(file: str, fmt: str, output: str, dtype: str = "float32", layout: str = "NHWC") -> dict:
    return {
        "file": file, "format": fmt,
        "input": input_spec(CHIP, 127.5, 127.5, "stretch", dtype, layout),
        "embedding_size": EMBEDDING_SIZE, "output": output,
        "alignment": {"width": CHIP, "height": CHIP,
                      "template": {name: list(xy) for name, xy in ARCFACE_TEMPLATE.items()}},
        "verify_threshold": 0.5,
    }


def manifest(name: str, description: str, source: dict, **models: dict) -> dict:
    return {"schema_version": 1, "name": name, "description": description, "source": source,
            "models": models}


# --- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "bundles",
                        help="folder for the bundles (default: %(default)s)")
    out = parser.parse_args(argv).out

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    source = {"generator": "scripts/make_fixtures.py", "tensorflow": tf.__version__}
    not_faces = ("Test fixture, not a face model: {detector}, {embedder}. "
                 "Built by scripts/make_fixtures.py; see tests/fixtures/README.md.")

    # Model 1: BlazeFace-layout blob detector, float and full-integer int8.
    blaze = blazeface_detector(keras)
    blaze_fp32 = to_tflite(tf, blaze)
    blaze_int8 = to_tflite(tf, blaze, blob_images(200, BLAZE_SIZE, seed=1), tf.int8, tf.int8)
    blaze_refs = {}
    for label, data, atol in (("fp32", blaze_fp32, 1e-4), ("int8", blaze_int8, 0.2)):
        outputs = tflite_outputs(data)
        boxes, scores = name_by_shape(outputs, (1, 896, 16)), name_by_shape(outputs, (1, 896, 1))
        check_blazeface(data, boxes, scores, atol)
        blaze_refs[label] = (boxes, scores)
        print(f"blazeface {label}: outputs {outputs}; boxes={boxes!r} scores={scores!r}")

    # Model 2: SCRFD-layout blob detector.
    scrfd = to_tflite(tf, scrfd_detector(keras))
    outputs = tflite_outputs(scrfd)
    counts = [(SCRFD_SIZE // s) ** 2 * SCRFD_PER_CELL for s in SCRFD_STRIDES]
    scrfd_refs = {kind: [name_by_shape(outputs, (1, n, width)) for n in counts]
                  for kind, width in (("scores", 1), ("boxes", 4), ("keypoints", 10))}
    check_scrfd(scrfd, scrfd_refs)
    print(f"scrfd: outputs {outputs}; refs {scrfd_refs}")

    # Model 3: random-weight embedder, float and int8 (uint8 in, float out).
    embedder = keras_embedder(keras)
    embed_fp32 = to_tflite(tf, embedder)
    calibration = np.concatenate([random_chips(100, seed=1), face_chips(100, seed=1)])
    embed_int8 = to_tflite(tf, embedder, calibration, tf.uint8, tf.float32)
    embed_outputs = check_embedders(embedder, embed_fp32, embed_int8)

    # Model 4: ONNX embedder.
    embed_onnx = onnx_embedder()
    check_batching(lambda x: run_onnx(embed_onnx, x), random_chips(4, seed=2).transpose(0, 3, 1, 2).copy())

    bundles = {
        "blob_blazeface": (
            manifest("fixture-blob-blazeface",
                     not_faces.format(detector="a BlazeFace-layout blob detector",
                                      embedder="a random-weight embedder"), source,
                     detector=blazeface_entry("detector.tflite", "float32", *blaze_refs["fp32"]),
                     embedder=embedder_entry("embedder.tflite", "tflite", embed_outputs["fp32"])),
            {"detector.tflite": blaze_fp32, "embedder.tflite": embed_fp32}),
        "blob_blazeface_int8": (
            manifest("fixture-blob-blazeface-int8",
                     not_faces.format(detector="a full-integer int8 BlazeFace-layout blob detector",
                                      embedder="an int8 random-weight embedder (uint8 in, float out)"),
                     source,
                     detector=blazeface_entry("detector_int8.tflite", "int8", *blaze_refs["int8"]),
                     embedder=embedder_entry("embedder_int8.tflite", "tflite", embed_outputs["int8"],
                                             "uint8")),
            {"detector_int8.tflite": blaze_int8, "embedder_int8.tflite": embed_int8}),
        "blob_scrfd_onnx": (
            manifest("fixture-blob-scrfd-onnx",
                     not_faces.format(detector="an SCRFD-layout blob detector",
                                      embedder="a random-weight ONNX embedder (NCHW)"), source,
                     detector=scrfd_entry("detector.tflite", scrfd_refs),
                     embedder=embedder_entry("embedder.onnx", "onnx", "embedding", layout="NCHW")),
            {"detector.tflite": scrfd, "embedder.onnx": embed_onnx}),
        "blob_detector_only": (
            manifest("fixture-blob-detector-only",
                     not_faces.format(detector="a BlazeFace-layout blob detector", embedder="no embedder"),
                     source, detector=blazeface_entry("detector.tflite", "float32", *blaze_refs["fp32"])),
            {"detector.tflite": blaze_fp32}),
    }
    total = 0
    for name, (manifest_dict, files) in bundles.items():
        path = write_bundle(out / name, manifest_dict, files)
        bundle = load_bundle(path)
        for spec in bundle.manifest.models():
            assert bundle.read_model(spec) == files[spec.file]
        size = sum(p.stat().st_size for p in path.iterdir())
        total += size
        print(f"{path}: {size / 1024:.1f} KiB")
    assert total < MAX_TOTAL_BYTES, total
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
