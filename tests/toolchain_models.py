"""Tiny face-model stand-ins for the conversion toolchain, built in code (no network).

Each builder takes a directory and returns the path it wrote. The graphs use the ops
real face models use (Conv, depthwise Conv, BatchNorm, PReLU, Dense/Gemm, global
average pooling, resize, concat) and have two outputs: a 2-D ``embedding`` (batch, 16)
and a 4-D ``heatmap`` (batch, 16, 16, 2 in NHWC; batch, 2, 16, 16 in NCHW), so that
converters must keep both ranks and both orders straight.

    keras_model(d)        -> d/tiny.keras           (Keras 3, NHWC 64x64x3)
    saved_model(d)        -> d/tiny_saved_model/    (the same net, ``model.export``)
    frozen_graph(d)       -> d/tiny_frozen.pb       (the same net, frozen GraphDef)
    onnx_model(d)         -> d/tiny_nchw.onnx       (hand-built, NCHW 3x64x64, dynamic batch)
    onnx_nhwc_model(d)    -> d/tiny_nhwc.onnx       (hand-built, NHWC 64x64x3 input, as tf2onnx exports)
    mesh_like_tflite(d)   -> d/tiny_mesh.tflite     (MediaPipe face mesh's ops and storage: float16
                                                     weights behind DEQUANTIZE, PReLU, residual
                                                     blocks; points and a presence logit)

Reused by the CLI tests and the benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIZE = 64
EMBEDDING = 16


def calibration_images(n: int = 16, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """NHWC float32 inputs in [-1, 1] with image-like structure (smooth blobs plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        for c in range(3):
            cx, cy, s = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.4)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
            images[i, :, :, c] = 1.6 * blob - 0.8 + rng.normal(0, 0.1, (size, size))
    return np.clip(images, -1, 1).astype(np.float32)


def build_keras(size: int = SIZE, seed: int = 0):
    """The tiny two-output Keras 3 net (in memory)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)  # 32x32x8
    x = layers.BatchNormalization()(x)
    x = layers.PReLU(shared_axes=[1, 2])(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    y = layers.Conv2D(16, 1, activation="relu")(x)  # 32x32x16
    p = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(y)  # 16x16x16
    up = layers.UpSampling2D(2)(p)  # 32x32x16
    cat = layers.Concatenate()([y, up])  # 32x32x32
    pooled = layers.GlobalAveragePooling2D()(cat)
    embedding = layers.Dense(EMBEDDING, name="embedding")(pooled)
    small = layers.Resizing(16, 16, interpolation="bilinear")(cat)
    heatmap = layers.Conv2D(2, 1, name="heatmap")(small)  # 16x16x2
    model = keras.Model(inp, [embedding, heatmap], name="tiny_face")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # BatchNorm with non-trivial statistics
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            n = gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32),
                               rng.normal(0, 0.1, n).astype(np.float32),
                               rng.normal(0, 0.1, n).astype(np.float32),
                               rng.uniform(0.5, 2.0, n).astype(np.float32)])
        elif isinstance(layer, layers.PReLU):
            layer.set_weights([rng.uniform(0.05, 0.3, layer.get_weights()[0].shape).astype(np.float32)])
    return model


def keras_model(directory: Path) -> Path:
    path = Path(directory) / "tiny.keras"
    build_keras().save(path)
    return path


def saved_model(directory: Path) -> Path:
    path = Path(directory) / "tiny_saved_model"
    build_keras().export(str(path), verbose=False)
    return path


def mesh_like_tflite(directory: Path, points: int = 12, seed: int = 3) -> Path:
    """A float .tflite built as MediaPipe ships its face mesh: conv, PReLU, depthwise
    residual blocks with max-pool shortcuts widened by zero channels (PAD); ``points`` x 3
    values and one presence logit out; weights stored as float16. The last depthwise has
    over 1024 weights (dynamic-range quantization takes it) and some PReLU slopes are
    above 1."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def weights(*shape):
        return tf.constant(rng.normal(0, 1 / np.sqrt(np.prod(shape[:-1])), shape).astype(np.float32))

    def prelu(x):
        alpha = tf.constant(rng.uniform(0.05, 1.5, (1, 1, int(x.shape[-1]))).astype(np.float32))
        return tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x)  # what Keras's PReLU computes

    @tf.function(input_signature=[tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32, name="input_1")])
    def mesh(image):
        x = prelu(tf.nn.conv2d(image, weights(3, 3, 3, 8), 2, "SAME") + weights(8))  # 32x32x8
        for channels in (8, 16, 128, 128):  # down to 2x2
            depthwise = tf.nn.depthwise_conv2d(x, weights(3, 3, int(x.shape[-1]), 1), [1, 2, 2, 1], "SAME")
            branch = tf.nn.conv2d(depthwise, weights(1, 1, int(x.shape[-1]), channels), 1, "VALID")
            shortcut = tf.nn.max_pool2d(x, 2, 2, "VALID")
            if channels != x.shape[-1]:
                shortcut = tf.pad(shortcut, [[0, 0], [0, 0], [0, 0], [0, channels - int(x.shape[-1])]])
            x = prelu(branch + weights(channels) + shortcut)
        points_out = tf.nn.conv2d(x, weights(2, 2, 128, points * 3), 1, "VALID") + weights(points * 3)
        presence = tf.nn.conv2d(x, weights(2, 2, 128, 1), 1, "VALID")
        return points_out, presence

    converter = tf.lite.TFLiteConverter.from_concrete_functions([mesh.get_concrete_function()], mesh)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    path = Path(directory) / "tiny_mesh.tflite"
    path.write_bytes(converter.convert())
    return path


def frozen_graph(directory: Path) -> Path:
    """A frozen GraphDef: Placeholder ``input`` (?, 64, 64, 3), outputs ``Identity``/``Identity_1``."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    model = build_keras()
    fn = tf.function(lambda x: model(x, training=False),
                     input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="input")])
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    path = Path(directory) / "tiny_frozen.pb"
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


def onnx_model(directory: Path, seed: int = 1) -> Path:
    """A hand-built NCHW ONNX net (opset 13): input ``input`` (N, 3, 64, 64), outputs
    ``embedding`` (N, 16) and ``heatmap`` (N, 2, 16, 16)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def he(shape, fan_in):
        return rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)

    nodes = [
        helper.make_node("Conv", ["input", const("w1", he((8, 3, 3, 3), 27))], ["c1"],
                         strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization",
                         ["c1", const("bn_s", rng.uniform(0.5, 1.5, 8)), const("bn_b", rng.normal(0, 0.1, 8)),
                          const("bn_m", rng.normal(0, 0.1, 8)), const("bn_v", rng.uniform(0.5, 2, 8))],
                         ["b1"], epsilon=1e-3),
        helper.make_node("PRelu", ["b1", const("slope", rng.uniform(0.05, 0.3, (8, 1, 1)))], ["a1"]),
        helper.make_node("Conv", ["a1", const("wd", he((8, 1, 3, 3), 9)), const("bd", rng.normal(0, 0.1, 8))],
                         ["d1"], group=8, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["d1"], ["r1"]),
        helper.make_node("Conv", ["r1", const("w2", he((16, 8, 1, 1), 8)), const("b2", rng.normal(0, 0.1, 16))],
                         ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c2"], ["y"]),  # N,16,32,32
        helper.make_node("Conv", ["y", const("w3", he((16, 16, 3, 3), 144)), const("b3", np.zeros(16))],
                         ["c3"], strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c3"], ["p"]),  # N,16,16,16
        helper.make_node("Resize", ["p", "", const("up_scales", [1, 1, 2, 2])], ["up"],
                         mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Concat", ["y", "up"], ["cat"], axis=1),  # N,32,32,32
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", const("wf", he((EMBEDDING, 32), 32)),
                                  const("bf", rng.normal(0, 0.1, EMBEDDING))], ["embedding"], transB=1),
        helper.make_node("Resize", ["cat", "", const("down_scales", [1, 1, 0.5, 0.5])], ["small"],
                         mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("Conv", ["small", const("wh", he((2, 32, 1, 1), 32)), const("bh", [0.1, -0.1])],
                         ["heatmap"], kernel_shape=[1, 1]),  # N,2,16,16
    ]
    graph = helper.make_graph(
        nodes, "tiny_face_nchw",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING]),
         helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", 2, 16, 16])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="edgeface-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = Path(directory) / "tiny_nchw.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def onnx_nhwc_model(directory: Path, seed: int = 2) -> Path:
    """A hand-built ONNX net whose input is NHWC, as tf2onnx and ``edgeface convert --to
    onnx`` export TensorFlow models: input ``input`` (N, 64, 64, 3) transposed to NCHW
    inside the graph; outputs ``embedding`` (N, 16) and ``heatmap`` (N, 2, 32, 32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {"w1": rng.normal(0, 0.3, (8, 3, 3, 3)), "b1": rng.normal(0, 0.1, 8),
               "wh": rng.normal(0, 0.3, (2, 8, 1, 1)), "wf": rng.normal(0, 0.3, (EMBEDDING, 8)),
               "bf": rng.normal(0, 0.1, EMBEDDING)}
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"]),  # N,8,32,32
        helper.make_node("Conv", ["r1", "wh"], ["heatmap"], kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", ["r1"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["embedding"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_face_nhwc",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING]),
         helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["N", 2, 32, 32])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgeface-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = Path(directory) / "tiny_nhwc.onnx"
    path.write_bytes(model.SerializeToString())
    return path
