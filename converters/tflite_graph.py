"""A float TFLite model as a TensorFlow function, so that TFLiteConverter can make it again
at another precision.

Many face models are published only as .tflite (MediaPipe's face mesh and BlazeFace:
float32 graphs with float16 weights). TFLiteConverter cannot read a .tflite, and a round
trip through ONNX (tf2onnx, then onnx2tf) turns their depthwise convolutions into full
ones and scatters transposes through the graph. This module reads the flatbuffer and
replays its ops with TensorFlow ops of the same meaning, weights dequantised to float32,
so that the converter sees the graph as it was written.

For int8 and int16x8 targets (``precision``) PReLU is written as ``relu((1 - a) x) + a x``
(``-relu((a - 1) x) + a x`` on channels with ``a > 1``): XNNPACK has no int8 PRELU nor
int8 RELU of its own, and the ReLU fused into a MUL keeps the whole graph in its int8
partition. Float targets keep the single PRELU op that XNNPACK runs in float.

MediaPipe's custom ops (the attention face mesh's crops) are replayed with builtin ops
too (``mediapipe_ops``); integer targets of such a model are refused.

Already-quantised models (int8 tensors between ops) are refused: quantising again from
them compounds the error; convert from the float model.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgeface.converters.mediapipe_ops import MEDIAPIPE_OPS
from edgeface.errors import ConversionError

_ACTIVATIONS: dict[int, Callable[[Any, Any], Any]] = {
    0: lambda tf, x: x,
    1: lambda tf, x: tf.nn.relu(x),
    2: lambda tf, x: tf.clip_by_value(x, -1.0, 1.0),
    3: lambda tf, x: tf.nn.relu6(x),
    4: lambda tf, x: tf.tanh(x),
}
_PADDING = {0: "SAME", 1: "VALID"}
INTEGER_PRECISIONS = ("int8", "int16x8")
_FLOAT_TYPES = {"FLOAT32", "FLOAT16"}
_CONSTANT_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT64": np.int64,
                   "INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16}


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


class TFLiteGraph:
    """The primary subgraph of a .tflite file: its tensors, constants and ops, readable by
    name. ``where`` names the file in errors."""

    def __init__(self, data: bytes, where: str):
        schema = _schema()
        self.where = where
        try:
            self.model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        except Exception as exc:
            raise ConversionError(f"{where}: cannot read the TFLite flatbuffer ({exc}): check the file") from None
        if not self.model.subgraphs:
            raise ConversionError(f"{where}: the model has no subgraph")
        if len(self.model.subgraphs) > 1:
            raise ConversionError(f"{where}: the model has {len(self.model.subgraphs)} subgraphs (control flow): "
                                  f"convert it from its original model")
        self.data = data
        self.graph = self.model.subgraphs[0]
        self.op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        # float16/int8 weights are stored with a DEQUANTIZE op in front: its output is a constant too
        self.dequantized = {op.outputs[0]: op.inputs[0] for op in self.graph.operators
                            if self.op_name(op) == "DEQUANTIZE"}

    def op_name(self, op) -> str:
        """The builtin op's name, or a custom op's own (MediaPipe's ``TransformLandmarks``)."""
        code = self.model.operatorCodes[op.opcodeIndex]
        name = self.op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        if name == "CUSTOM" and code.customCode:
            custom = code.customCode
            return custom.decode(errors="replace") if isinstance(custom, bytes) else str(custom)
        return name

    def type_name(self, index: int) -> str:
        return self.type_names.get(self.graph.tensors[index].type, "UNKNOWN")

    def tensor_name(self, index: int) -> str:
        name = self.graph.tensors[index].name
        return name.decode() if isinstance(name, bytes) else str(name)

    def constant(self, index: int) -> np.ndarray | None:
        """The tensor's stored value as float32 (float16 weights widened, int8 weights
        dequantised by their scales) or int32 (shapes, paddings), or None when an op
        computes it."""
        if index in self.dequantized:
            return self.constant(self.dequantized[index])
        tensor = self.graph.tensors[index]
        buffer = self.model.buffers[tensor.buffer] if tensor.buffer < len(self.model.buffers) else None
        if buffer is None:
            return None
        raw = bytes(buffer.data) if buffer.data is not None and len(buffer.data) else b""
        if not raw and buffer.offset > 1:  # stored after the flatbuffer (models over 2 GB)
            raw = self.data[buffer.offset: buffer.offset + buffer.size]
        if not raw:
            return None
        dtype = _CONSTANT_TYPES.get(self.type_name(index))
        if dtype is None:
            raise ConversionError(f"{self.where}: constant {self.tensor_name(index)!r} is "
                                  f"{self.type_name(index)}, which edgeface does not read")
        shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
        try:
            stored = np.frombuffer(raw, dtype=dtype).reshape(shape)
        except ValueError:
            raise ConversionError(f"{self.where}: constant {self.tensor_name(index)!r} holds {len(raw)} bytes, not "
                                  f"a {self.type_name(index)} array of shape {shape}: the file is damaged") from None
        if stored.dtype == np.float16:
            return stored.astype(np.float32)
        quantization = tensor.quantization
        if stored.dtype.kind in "iu" and quantization is not None and quantization.scale is not None \
                and len(quantization.scale):
            return dequantized(stored, quantization)
        return stored

    def check_float(self) -> None:
        """Refuse graphs whose computed tensors are not float (an int8 model)."""
        for op in self.graph.operators:
            for index in op.outputs:
                if self.type_name(index) not in _FLOAT_TYPES | {"INT32"}:
                    raise ConversionError(
                        f"{self.where}: tensor {self.tensor_name(index)!r} is {self.type_name(index)}: the model is "
                        f"quantised already; quantising it again compounds the error: convert from its float model")


def tflite_function(tf, data: bytes, where: str, *, precision: str = "fp32"):
    """A ``tf.function`` computing the float TFLite model ``data`` (batch 1, its own input
    shape), returning its outputs in the model's order, with the ops written for
    ``precision`` (see the module's docstring)."""
    graph = TFLiteGraph(data, where)
    graph.check_float()
    if len(graph.graph.inputs) != 1:
        raise ConversionError(f"{where}: the model has {len(graph.graph.inputs)} inputs: edgeface converts "
                              f"models with one image input")
    used = {graph.op_name(op) for op in graph.graph.operators}
    unsupported = sorted(used - set(_OPS))
    if unsupported:
        raise ConversionError(f"{where}: ops {', '.join(unsupported)} cannot be re-converted from TFLite (edgeface "
                              f"reads {', '.join(sorted(_OPS))}): convert from the original model")
    coordinates = sorted(used & set(MEDIAPIPE_OPS))
    if coordinates and precision in INTEGER_PRECISIONS:
        raise ConversionError(f"{where}: {precision} cannot hold the coordinates MediaPipe's "
                              f"{', '.join(coordinates)} compute: convert this model at fp32, fp16 or dynamic")
    input_index = graph.graph.inputs[0]
    shape = [1, *(int(d) for d in graph.graph.tensors[input_index].shape[1:])]

    # autograph off: the loop over ops is plain Python, and its errors reach the user as they are
    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name=graph.tensor_name(input_index))],
                 autograph=False)
    def run(x):
        values: dict[int, Any] = {input_index: x}

        def value(index: int):
            if index not in values:
                const = graph.constant(index)
                if const is None:
                    raise ConversionError(f"{where}: tensor {graph.tensor_name(index)!r} is read before it is "
                                          f"computed: the graph is not in execution order")
                values[index] = tf.constant(const)
            return values[index]

        for op in graph.graph.operators:
            name = graph.op_name(op)
            result = _OPS[name](tf, graph, op, value, precision)
            values[op.outputs[0]] = result
        return [values[i] for i in graph.graph.outputs]

    return run


# -- ops: each takes (tf, graph, op, value, precision) and returns the op's one output -------------

def _options(op):
    return op.builtinOptions


def _act(tf, op, x):
    options = _options(op)
    code = getattr(options, "fusedActivationFunction", 0) if options is not None else 0
    if code not in _ACTIVATIONS:
        raise ConversionError(f"fused activation {code} is not one edgeface reads")
    return _ACTIVATIONS[code](tf, x)


def _conv2d(tf, graph, op, value, precision):
    o = _options(op)
    kernel = tf.transpose(value(op.inputs[1]), (1, 2, 3, 0))  # OHWI -> HWIO
    y = tf.nn.conv2d(value(op.inputs[0]), kernel, strides=[1, o.strideH, o.strideW, 1], padding=_PADDING[o.padding],
                     dilations=[1, o.dilationHFactor, o.dilationWFactor, 1])
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        y = y + value(op.inputs[2])
    return _act(tf, op, y)


def _depthwise(tf, graph, op, value, precision):
    o = _options(op)
    x = value(op.inputs[0])
    weights = value(op.inputs[1])  # (1, H, W, C * multiplier)
    channels = int(x.shape[-1])
    kernel = tf.reshape(weights, (int(weights.shape[1]), int(weights.shape[2]), channels, -1))
    y = tf.nn.depthwise_conv2d(x, kernel, strides=[1, o.strideH, o.strideW, 1], padding=_PADDING[o.padding],
                               dilations=[o.dilationHFactor, o.dilationWFactor])
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        y = y + value(op.inputs[2])
    return _act(tf, op, y)


def _prelu(tf, graph, op, value, precision):
    x = value(op.inputs[0])
    alpha = graph.constant(op.inputs[1])
    if alpha is None:
        raise ConversionError(f"{graph.where}: PRELU {graph.tensor_name(op.outputs[0])!r} has computed slopes: "
                              f"convert from the original model")
    if precision not in INTEGER_PRECISIONS:  # the pattern TFLiteConverter fuses into one PRELU (as Keras's)
        return tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x)
    sign = np.where(alpha > 1.0, -1.0, 1.0).astype(np.float32)
    rectified = tf.nn.relu(x * np.abs(1.0 - alpha))
    if np.any(sign < 0):
        rectified = rectified * sign
    return rectified + x * alpha


def _binary(fn):
    def op_fn(tf, graph, op, value, precision):
        return _act(tf, op, fn(tf, value(op.inputs[0]), value(op.inputs[1])))
    return op_fn


def _pool(kind):
    def op_fn(tf, graph, op, value, precision):
        o = _options(op)
        pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
        y = pool(value(op.inputs[0]), ksize=[o.filterHeight, o.filterWidth], strides=[o.strideH, o.strideW],
                 padding=_PADDING[o.padding])
        return _act(tf, op, y)
    return op_fn


def _pad(tf, graph, op, value, precision):
    constant = 0.0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        constant = value(op.inputs[2])
    return tf.pad(value(op.inputs[0]), value(op.inputs[1]), constant_values=constant)


def _reshape(tf, graph, op, value, precision):
    if len(op.inputs) > 1 and op.inputs[1] >= 0:
        shape = value(op.inputs[1])
    else:
        new_shape = _options(op).newShape
        shape = [int(d) for d in (new_shape if new_shape is not None else [])]
    return tf.reshape(value(op.inputs[0]), shape)


def _concatenation(tf, graph, op, value, precision):
    return _act(tf, op, tf.concat([value(i) for i in op.inputs], axis=_options(op).axis))


def _fully_connected(tf, graph, op, value, precision):
    x = value(op.inputs[0])
    weights = value(op.inputs[1])  # (out, in)
    flat = tf.reshape(x, (-1, int(weights.shape[1])))
    y = tf.matmul(flat, weights, transpose_b=True)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        y = y + value(op.inputs[2])
    if _options(op) is not None and getattr(_options(op), "keepNumDims", False):
        y = tf.reshape(y, [*x.shape[:-1], int(weights.shape[0])])
    return _act(tf, op, y)


def _mean(tf, graph, op, value, precision):
    return tf.reduce_mean(value(op.inputs[0]), axis=value(op.inputs[1]), keepdims=bool(_options(op).keepDims))


def _resize(kind):
    def op_fn(tf, graph, op, value, precision):
        o = _options(op)
        resize = tf.raw_ops.ResizeBilinear if kind == "bilinear" else tf.raw_ops.ResizeNearestNeighbor
        return resize(images=value(op.inputs[0]), size=value(op.inputs[1]), align_corners=bool(o.alignCorners),
                      half_pixel_centers=bool(o.halfPixelCenters))
    return op_fn


def _unary(fn):
    def op_fn(tf, graph, op, value, precision):
        return fn(tf, value(op.inputs[0]))
    return op_fn


def _softmax(tf, graph, op, value, precision):
    return tf.nn.softmax(value(op.inputs[0]) * _options(op).beta)


def _leaky_relu(tf, graph, op, value, precision):
    return tf.nn.leaky_relu(value(op.inputs[0]), alpha=_options(op).alpha)


def _transpose(tf, graph, op, value, precision):
    return tf.transpose(value(op.inputs[0]), value(op.inputs[1]))


def _strided_slice(tf, graph, op, value, precision):
    o = _options(op)
    if getattr(o, "offset", False):
        raise ConversionError(f"{graph.where}: STRIDED_SLICE {graph.tensor_name(op.outputs[0])!r} uses offsets: "
                              f"convert from the original model")
    return tf.strided_slice(value(op.inputs[0]), value(op.inputs[1]), value(op.inputs[2]), value(op.inputs[3]),
                            begin_mask=o.beginMask, end_mask=o.endMask, ellipsis_mask=o.ellipsisMask,
                            new_axis_mask=o.newAxisMask, shrink_axis_mask=o.shrinkAxisMask)


def _dequantize(tf, graph, op, value, precision):
    const = graph.constant(op.inputs[0])
    if const is None:
        raise ConversionError(f"{graph.where}: DEQUANTIZE of a computed tensor: the model is quantised; "
                              f"convert from its float model")
    return tf.constant(const.astype(np.float32))


def dequantized(stored: np.ndarray, quantization) -> np.ndarray:
    """Integer weights to float32 by their per-tensor or per-channel scale and zero point."""
    scale = np.asarray(quantization.scale, np.float32)
    zero = np.asarray(quantization.zeroPoint if quantization.zeroPoint is not None else [0], np.float32)
    shape = [1] * stored.ndim
    if scale.size > 1:
        shape[int(quantization.quantizedDimension)] = scale.size
    return (stored.astype(np.float32) - zero.reshape(shape if zero.size > 1 else [1] * stored.ndim)) \
        * scale.reshape(shape)


_OPS: dict[str, Callable] = {
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _depthwise,
    "PRELU": _prelu,
    "ADD": _binary(lambda tf, a, b: a + b),
    "SUB": _binary(lambda tf, a, b: a - b),
    "MUL": _binary(lambda tf, a, b: a * b),
    "DIV": _binary(lambda tf, a, b: a / b),
    "MAXIMUM": _binary(lambda tf, a, b: tf.maximum(a, b)),
    "MINIMUM": _binary(lambda tf, a, b: tf.minimum(a, b)),
    "MAX_POOL_2D": _pool("max"),
    "AVERAGE_POOL_2D": _pool("average"),
    "PAD": _pad,
    "PADV2": _pad,
    "RESHAPE": _reshape,
    "CONCATENATION": _concatenation,
    "FULLY_CONNECTED": _fully_connected,
    "MEAN": _mean,
    "RESIZE_BILINEAR": _resize("bilinear"),
    "RESIZE_NEAREST_NEIGHBOR": _resize("nearest"),
    "RELU": _unary(lambda tf, x: tf.nn.relu(x)),
    "RELU6": _unary(lambda tf, x: tf.nn.relu6(x)),
    "LOGISTIC": _unary(lambda tf, x: tf.sigmoid(x)),
    "TANH": _unary(lambda tf, x: tf.tanh(x)),
    "HARD_SWISH": _unary(lambda tf, x: x * tf.nn.relu6(x + 3.0) / 6.0),
    "ABS": _unary(lambda tf, x: tf.abs(x)),
    "LEAKY_RELU": _leaky_relu,
    "SOFTMAX": _softmax,
    "TRANSPOSE": _transpose,
    "STRIDED_SLICE": _strided_slice,
    "DEQUANTIZE": _dequantize,
    **MEDIAPIPE_OPS,
}
