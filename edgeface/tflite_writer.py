"""Write small float TFLite models directly, with the schema's object API that LiteRT ships
(``ai_edge_litert.schema_py_generated``, on flatbuffers): no TensorFlow needed, so a base
install can make a model it can only otherwise get from TFLiteConverter.

:class:`TFLiteGraph` builds one subgraph: named inputs, constants (float32, or float16
stored with a DEQUANTIZE to float32, as TFLiteConverter's fp16-weight models do; buffers
16-byte aligned), and the builtin ops a CNN embedder needs, each inferring its output
shape. ``finish`` returns the .tflite bytes (file identifier ``TFL3``).
Imported only where a model is written: ``import edgeface`` stays light.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.errors import ConversionError

_ALIGN = 16  # LiteRT and XNNPACK read constant buffers in place: keep them aligned


class TFLiteWriterError(ConversionError):
    """A graph given to the TFLite writer is inconsistent (a bug in the caller's graph)."""


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


class TFLiteGraph:
    """One subgraph under construction; tensors are referred to by their index."""

    def __init__(self, *, fp16_weights: bool = False):
        self.s = _schema()
        self.fp16_weights = fp16_weights
        self.tensors: list = []
        self.buffers: list = [self.s.BufferT()]  # buffer 0: the empty buffer, by convention
        self.operators: list = []
        self.opcodes: dict[int, int] = {}
        self.inputs: list[int] = []

    # tensors ----------------------------------------------------------------------------
    def shape(self, t: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.tensors[t].shape)

    def _tensor(self, name: str, shape: Sequence[int], dtype: int, buffer: int = 0) -> int:
        t = self.s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [int(d) for d in shape], dtype, buffer
        self.tensors.append(t)
        return len(self.tensors) - 1

    def _float(self, name: str, shape: Sequence[int]) -> int:
        return self._tensor(name, shape, self.s.TensorType.FLOAT32)

    def input(self, name: str, shape: Sequence[int]) -> int:
        """A float32 input of the subgraph."""
        t = self._float(name, shape)
        self.inputs.append(t)
        return t

    def constant(self, name: str, array: np.ndarray) -> int:
        """A constant tensor holding ``array`` exactly (float32, float16 or int32)."""
        array = np.ascontiguousarray(array)
        types = {np.dtype(np.float32): self.s.TensorType.FLOAT32, np.dtype(np.float16): self.s.TensorType.FLOAT16,
                 np.dtype(np.int32): self.s.TensorType.INT32}
        if array.dtype not in types:
            raise TFLiteWriterError(f"constant {name!r}: dtype {array.dtype} is not float32, float16 or int32")
        buffer = self.s.BufferT()
        buffer.data = np.frombuffer(array.astype(array.dtype.newbyteorder("<")).tobytes(), np.uint8)
        self.buffers.append(buffer)
        return self._tensor(name, array.shape, types[array.dtype], len(self.buffers) - 1)

    def weight(self, name: str, array: np.ndarray) -> int:
        """A float32 weight: stored as float32, or with ``fp16_weights`` as float16 followed
        by a DEQUANTIZE whose float32 output is what the returned tensor is."""
        array = np.asarray(array, np.float32)
        if not self.fp16_weights:
            return self.constant(name, array)
        half = self.constant(f"{name}_fp16", array.astype(np.float16))
        return self.dequantize(half, name)

    # operators --------------------------------------------------------------------------
    def _op(self, code: int, inputs: Sequence[int], output: int, options_type: int = 0, options=None) -> int:
        self.opcodes.setdefault(code, len(self.opcodes))  # code -> index in the model's operatorCodes
        op = self.s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = self.opcodes[code], list(inputs), [output]
        if options is not None:
            op.builtinOptionsType, op.builtinOptions = options_type, options
        self.operators.append(op)
        return output

    def _activation(self, relu: bool) -> int:
        kinds = self.s.ActivationFunctionType
        return kinds.RELU if relu else kinds.NONE

    def dequantize(self, x: int, name: str) -> int:
        out = self._float(name, self.shape(x))
        return self._op(self.s.BuiltinOperator.DEQUANTIZE, [x], out)

    def conv2d(self, x: int, kernel: np.ndarray, bias: np.ndarray, name: str, *, stride=(1, 1),
               same: bool = False, relu: bool = False) -> int:
        """CONV_2D of NHWC ``x`` with an HWIO ``kernel`` (stored OHWI, as TFLite wants)."""
        kh, kw, cin, cout = kernel.shape
        n, h, w, c = self.shape(x)
        if c != cin or bias.shape != (cout,):
            raise TFLiteWriterError(f"{name}: a {kernel.shape} kernel with {bias.shape} bias on a {c}-channel input")
        oh, ow = ((-(-h // stride[0]), -(-w // stride[1])) if same else
                  (1 + (h - kh) // stride[0], 1 + (w - kw) // stride[1]))
        k = self.weight(f"{name}_kernel", np.transpose(kernel, (3, 0, 1, 2)))
        b = self.weight(f"{name}_bias", bias)
        opts = self.s.Conv2DOptionsT()
        opts.padding = self.s.Padding.SAME if same else self.s.Padding.VALID
        opts.strideH, opts.strideW = (int(v) for v in stride)
        opts.dilationHFactor = opts.dilationWFactor = 1
        opts.fusedActivationFunction = self._activation(relu)
        out = self._float(name, (n, oh, ow, cout))
        return self._op(self.s.BuiltinOperator.CONV_2D, [x, k, b], out, self.s.BuiltinOptions.Conv2DOptions, opts)

    def pad(self, x: int, paddings: Sequence[tuple[int, int]], name: str) -> int:
        """PAD with zeros: ``paddings`` is (before, after) per axis."""
        shape = self.shape(x)
        if len(paddings) != len(shape):
            raise TFLiteWriterError(f"{name}: {len(paddings)} paddings for a {len(shape)}-d tensor")
        p = self.constant(f"{name}_paddings", np.asarray(paddings, np.int32))
        out = self._float(name, [d + a + b for d, (a, b) in zip(shape, paddings)])
        return self._op(self.s.BuiltinOperator.PAD, [x, p], out, self.s.BuiltinOptions.PadOptions,
                        self.s.PadOptionsT())

    def _binary(self, code: int, options_type: int, options, a: int, b: int, name: str) -> int:
        try:
            shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        except ValueError:
            raise TFLiteWriterError(f"{name}: shapes {self.shape(a)} and {self.shape(b)} do not broadcast") from None
        options.fusedActivationFunction = self._activation(False)
        return self._op(code, [a, b], self._float(name, shape), options_type, options)

    def add(self, a: int, b: int, name: str) -> int:
        return self._binary(self.s.BuiltinOperator.ADD, self.s.BuiltinOptions.AddOptions, self.s.AddOptionsT(),
                            a, b, name)

    def mul(self, a: int, b: int, name: str) -> int:
        return self._binary(self.s.BuiltinOperator.MUL, self.s.BuiltinOptions.MulOptions, self.s.MulOptionsT(),
                            a, b, name)

    def relu(self, x: int, name: str) -> int:
        return self._op(self.s.BuiltinOperator.RELU, [x], self._float(name, self.shape(x)))

    def pool2d(self, x: int, mode: str, size, stride, name: str) -> int:
        """MAX_POOL_2D or AVERAGE_POOL_2D over valid windows."""
        codes = {"max": self.s.BuiltinOperator.MAX_POOL_2D, "avg": self.s.BuiltinOperator.AVERAGE_POOL_2D}
        if mode not in codes:
            raise TFLiteWriterError(f"{name}: pool mode {mode!r} is not max or avg")
        n, h, w, c = self.shape(x)
        opts = self.s.Pool2DOptionsT()
        opts.padding = self.s.Padding.VALID
        opts.filterHeight, opts.filterWidth = (int(v) for v in size)
        opts.strideH, opts.strideW = (int(v) for v in stride)
        opts.fusedActivationFunction = self._activation(False)
        out = self._float(name, (n, 1 + (h - size[0]) // stride[0], 1 + (w - size[1]) // stride[1], c))
        return self._op(codes[mode], [x], out, self.s.BuiltinOptions.Pool2DOptions, opts)

    def reduce(self, x: int, mode: str, axes: Sequence[int], name: str, *, keep_dims: bool) -> int:
        """MEAN (``mode="mean"``) or REDUCE_MAX (``"max"``) over ``axes``."""
        codes = {"mean": self.s.BuiltinOperator.MEAN, "max": self.s.BuiltinOperator.REDUCE_MAX}
        if mode not in codes:
            raise TFLiteWriterError(f"{name}: reduction {mode!r} is not mean or max")
        shape = self.shape(x)
        axes = sorted(a % len(shape) for a in axes)
        a = self.constant(f"{name}_axes", np.asarray(axes, np.int32))
        opts = self.s.ReducerOptionsT()
        opts.keepDims = keep_dims
        out_shape = [1 if i in axes else d for i, d in enumerate(shape)] if keep_dims else \
            [d for i, d in enumerate(shape) if i not in axes]
        return self._op(codes[mode], [x, a], self._float(name, out_shape), self.s.BuiltinOptions.ReducerOptions, opts)

    def reshape(self, x: int, shape: Sequence[int], name: str) -> int:
        if int(np.prod(shape)) != int(np.prod(self.shape(x))):
            raise TFLiteWriterError(f"{name}: cannot reshape {self.shape(x)} to {tuple(shape)}")
        s = self.constant(f"{name}_shape", np.asarray(shape, np.int32))
        opts = self.s.ReshapeOptionsT()
        opts.newShape = [int(d) for d in shape]
        return self._op(self.s.BuiltinOperator.RESHAPE, [x, s], self._float(name, shape),
                        self.s.BuiltinOptions.ReshapeOptions, opts)

    def fully_connected(self, x: int, weights: np.ndarray, bias: np.ndarray | None, name: str) -> int:
        """FULLY_CONNECTED of a (batch, in) ``x`` with (in, out) ``weights``."""
        n, k = self.shape(x)
        if weights.shape[0] != k:
            raise TFLiteWriterError(f"{name}: ({weights.shape}) weights for {k} inputs")
        w = self.weight(f"{name}_weights", np.transpose(weights))  # TFLite stores (out, in)
        inputs = [x, w] + ([self.weight(f"{name}_bias", bias)] if bias is not None else [-1])
        opts = self.s.FullyConnectedOptionsT()
        opts.fusedActivationFunction = self._activation(False)
        out = self._float(name, (n, weights.shape[1]))
        return self._op(self.s.BuiltinOperator.FULLY_CONNECTED, inputs, out,
                        self.s.BuiltinOptions.FullyConnectedOptions, opts)

    # the file ----------------------------------------------------------------------------
    def finish(self, outputs: Sequence[int], description: str = "edgeface.tflite_writer") -> bytes:
        """The .tflite bytes of the graph whose outputs are ``outputs``."""
        import flatbuffers

        s = self.s
        graph = s.SubGraphT()
        graph.tensors, graph.operators = self.tensors, self.operators
        graph.inputs, graph.outputs, graph.name = list(self.inputs), list(outputs), "main"
        model = s.ModelT()
        model.version, model.description, model.subgraphs = 3, description, [graph]
        codes = sorted(self.opcodes, key=self.opcodes.get)
        model.operatorCodes = []
        for code in codes:
            opcode = s.OperatorCodeT()
            opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, min(code, 127), 1
            model.operatorCodes.append(opcode)
        model.buffers = [_AlignedBuffer(b.data) for b in self.buffers]
        builder = flatbuffers.Builder(1 << 20)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


class _AlignedBuffer:
    """A ``BufferT`` whose data vector starts on a 16-byte boundary (the generated Pack
    aligns bytes to 1)."""

    def __init__(self, data: np.ndarray | None):
        self.data = data

    def Pack(self, builder):
        s = _schema()
        vector = None
        if self.data is not None:
            payload = self.data.tobytes()
            builder.StartVector(1, len(payload), _ALIGN)
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            vector = builder.EndVector()
        s.BufferStart(builder)
        if vector is not None:
            s.BufferAddData(builder, vector)
        return s.BufferEnd(builder)
