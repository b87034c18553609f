"""Per-op cost of a model graph (TFLite or ONNX), read from the file itself.

For every op: its type, multiply-accumulates (convolutions, depthwise convolutions,
fully-connected layers, matrix products), the bytes of activations it reads and writes,
the bytes of constant weights it reads, and whether Qualcomm's HTP (the NPU) takes it.
The graph's precision (fp32, fp16, dynamic, w8a8, w8a16) comes from its tensor types.

TFLite files are parsed from their flatbuffer with the schema module that ships in
``ai_edge_litert`` (no TensorFlow, no interpreter); ONNX files with the ``onnx`` package
and its shape inference. Both imports happen only when a graph is read.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgeface.errors import EdgefaceError


class GraphError(EdgefaceError):
    """A model file whose graph cannot be read."""


# Op classes the cost model prices separately.
DENSE = "dense"          # convolutions, fully-connected, matrix products: MAC-bound
DEPTHWISE = "depthwise"  # depthwise convolutions: few MACs per byte, bandwidth-bound
ELEMENTWISE = "elementwise"
DATA = "data"            # reshapes, concatenations, pads, slices: bytes only

# TFLite builtins the Qualcomm TFLite (QNN HTP) delegate takes. Everything else (custom ops,
# NMS, control flow, string and hash-table ops, Flex ops) stays on the CPU and splits the graph.
# Source: the QNN delegate's supported-op list in the Qualcomm AI Engine Direct (QAIRT) docs,
# "TFLite Delegate > Supported Operations" (2.2x releases); a few rarely used ops are omitted.
HTP_TFLITE_OPS = frozenset("""
ABS ADD ARG_MAX ARG_MIN AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND BROADCAST_TO CAST CEIL
CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EQUAL EXP
EXPAND_DIMS FILL FLOOR FLOOR_DIV FULLY_CONNECTED GATHER GATHER_ND GELU GREATER GREATER_EQUAL
HARD_SWISH L2_NORMALIZATION LEAKY_RELU LESS LESS_EQUAL LOCAL_RESPONSE_NORMALIZATION LOG
LOG_SOFTMAX LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC MAX_POOL_2D MAXIMUM MEAN MINIMUM
MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD
RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2
RSQRT SELECT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT
SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM TANH TILE TOPK_V2 TRANSPOSE TRANSPOSE_CONV
UNPACK CONV_3D
""".split())

# ONNX ops the onnxruntime QNN execution provider takes on HTP (same source, ONNX side).
HTP_ONNX_OPS = frozenset("""
Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Conv ConvTranspose
Cos CumSum DepthToSpace DequantizeLinear Div Elu Equal Erf Exp Expand Flatten Floor Gather
GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual
HardSigmoid HardSwish InstanceNormalization LRN LayerNormalization LeakyRelu Less LessOrEqual Log
LogSoftmax MatMul Max MaxPool Mean Min Mul Neg Not Or PRelu Pad Pow QuantizeLinear ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum Relu Reshape Resize Round Sigmoid Sign Sin Slice Softmax
SpaceToDepth Split Sqrt Squeeze Sub Tanh Tile TopK Transpose Unsqueeze Where
""".split())

_TFLITE_DENSE = {"CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D"}
_TFLITE_DATA = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "PAD", "PADV2", "MIRROR_PAD",
                "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "TRANSPOSE", "GATHER",
                "SHAPE", "TILE", "BROADCAST_TO", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "QUANTIZE",
                "DEQUANTIZE", "CAST"}
_ONNX_DENSE = {"Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "ConvInteger",
               "MatMulInteger"}
_ONNX_DATA = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Pad", "Slice", "Split",
              "Transpose", "Gather", "Shape", "Expand", "Tile", "DepthToSpace", "SpaceToDepth",
              "QuantizeLinear", "DequantizeLinear", "Cast", "Identity", "Constant"}

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8, "int16": 2,
                "uint16": 2, "int8": 1, "uint8": 1, "bool": 1, "float64": 8, "int4": 0.5, "uint32": 4}


@dataclass
class Op:
    type: str
    cls: str                    # DENSE, DEPTHWISE, ELEMENTWISE, DATA
    macs: int
    act_bytes: float            # activations read + written
    weight_bytes: float         # constant inputs read
    dtype: str                  # the activation type of its output
    htp: bool                   # the NPU delegate takes it

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "cls": self.cls, "macs": self.macs, "act_bytes": self.act_bytes,
                "weight_bytes": self.weight_bytes, "dtype": self.dtype, "htp": self.htp}


@dataclass
class GraphCost:
    """What the estimator knows about one model."""

    path: str
    format: str                 # tflite, onnx
    precision: str              # fp32, fp16, dynamic, w8a8, w8a16
    ops: list[Op] = field(default_factory=list)
    inputs: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    def macs_of(self, cls: str) -> int:
        return sum(op.macs for op in self.ops if op.cls == cls)

    @property
    def act_bytes(self) -> float:
        return sum(op.act_bytes for op in self.ops)

    @property
    def weight_bytes(self) -> float:
        return sum(op.weight_bytes for op in self.ops)

    @property
    def compute_ops(self) -> int:
        """Ops that do work (what the per-op overhead counts): all but pure data movement
        that runtimes fold away (reshape, squeeze, expand_dims, (de)quantize of weights)."""
        return sum(1 for op in self.ops if op.type not in _FREE_OPS)

    @property
    def offloaded(self) -> list[Op]:
        """Ops the NPU delegate leaves to the CPU."""
        return [op for op in self.ops if not op.htp]

    @property
    def htp_partitions(self) -> int:
        """Contiguous runs of NPU ops (in graph order): each is one delegate call."""
        runs, previous = 0, False
        for op in self.ops:
            if op.htp and not previous:
                runs += 1
            previous = op.htp
        return runs

    @property
    def published_precision(self) -> str:
        """The precision name AI Hub's published measurements use for this graph."""
        return {"fp32": "float", "fp16": "float", "dynamic": "float"}.get(self.precision, self.precision)

    def features(self, ops: Optional[list[Op]] = None) -> dict[str, float]:
        """The summary the cost model fits on (and the validation data stores); ``ops``: a
        subset (the ops the NPU takes, say) instead of the whole graph."""
        ops = self.ops if ops is None else ops
        return {
            "macs_dense": float(sum(op.macs for op in ops if op.cls == DENSE)),
            "macs_depthwise": float(sum(op.macs for op in ops if op.cls == DEPTHWISE)),
            "act_bytes": float(sum(op.act_bytes for op in ops)),
            "weight_bytes": float(sum(op.weight_bytes for op in ops)),
            "ops": float(sum(1 for op in ops if op.type not in _FREE_OPS)),
            "mac_ops": float(sum(1 for op in ops if op.cls in (DENSE, DEPTHWISE))),
            "elementwise_elems": float(sum(
                op.act_bytes / _DTYPE_BYTES.get(op.dtype, 4) for op in ops if op.cls == ELEMENTWISE)),
            "offloaded_ops": float(sum(1 for op in ops if not op.htp)),
            "htp_partitions": float(self.htp_partitions),
        }

    @property
    def handovers(self) -> int:
        """NPU <-> CPU hand-overs when the delegate takes the HTP ops and the rest stays on the CPU."""
        flips, previous = 0, None
        for op in self.ops:
            if previous is not None and op.htp != previous:
                flips += 1
            previous = op.htp
        return flips

    def summary(self) -> dict[str, Any]:
        counts = Counter(op.type for op in self.ops)
        return {"path": self.path, "format": self.format, "precision": self.precision,
                "ops": len(self.ops), "macs": self.macs, "macs_dense": self.macs_of(DENSE),
                "macs_depthwise": self.macs_of(DEPTHWISE), "act_mb": round(self.act_bytes / 1e6, 3),
                "weight_mb": round(self.weight_bytes / 1e6, 3),
                "offloaded": sorted({op.type for op in self.offloaded}),
                "htp_partitions": self.htp_partitions, "op_types": dict(counts.most_common())}


_FREE_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "Reshape", "Squeeze", "Unsqueeze", "Flatten",
             "Identity", "Constant", "Shape"}


def _prod(shape) -> int:
    return int(math.prod(int(max(d, 1)) for d in shape)) if len(shape) else 1


# ----------------------------------------------------------------------------- TFLite

def read_tflite(data: bytes, path: str = "<bytes>") -> GraphCost:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:  # pragma: no cover - ai-edge-litert is a core dependency
        raise GraphError(f"{path}: reading TFLite graphs needs ai-edge-litert ({exc})") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise GraphError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier): pass a .tflite file")
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
    except Exception as exc:
        raise GraphError(f"{path}: cannot parse the TFLite flatbuffer ({exc}): the file is damaged") from None
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    resolved = _resolved_shapes(data, model, graph, schema)

    def tensor(i: int):
        t = graph.Tensors(int(i))
        shape = resolved.get(int(i)) or (tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ())
        buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        constant = buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0)
        return shape, type_names.get(t.Type(), "float32"), constant

    ops: list[Op] = []
    weight_types, act_types = Counter(), Counter()
    dequantized_fp16 = False
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = f"CUSTOM:{custom.decode() if custom else '?'}"
        inputs = [tensor(i) for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
        outputs = [tensor(i) for i in op.OutputsAsNumpy() if i >= 0] if op.OutputsLength() else []
        act_in = [t for t in inputs if not t[2]]
        consts = [t for t in inputs if t[2]]
        out_shape, out_type = (outputs[0][0], outputs[0][1]) if outputs else ((), "float32")
        macs, cls = 0, ELEMENTWISE
        if name == "CONV_2D" and len(inputs) >= 2:
            w = inputs[1][0]                    # [Co, kh, kw, Ci/groups]
            grouped = len(w) == 4 and w[3] == 1 and inputs[0][0] and inputs[0][0][-1] > 1
            macs, cls = _prod(out_shape) * _prod(w[1:]), DEPTHWISE if grouped else DENSE
        elif name == "CONV_3D" and len(inputs) >= 2:
            w = inputs[1][0]                    # [kd, kh, kw, Ci, Co]
            macs, cls = _prod(out_shape) * _prod(w[:4]), DENSE
        elif name == "DEPTHWISE_CONV_2D" and len(inputs) >= 2:
            w = inputs[1][0]                    # [1, kh, kw, Co]
            macs, cls = _prod(out_shape) * _prod(w[1:3]), DEPTHWISE
        elif name == "FULLY_CONNECTED" and len(inputs) >= 2:
            w = inputs[1][0]                    # [O, I]
            macs, cls = _prod(out_shape) * (w[-1] if w else 1), DENSE
        elif name == "TRANSPOSE_CONV" and len(inputs) >= 3:
            w, x = inputs[1][0], inputs[2][0]   # weights [Co, kh, kw, Ci], input NHWC
            macs, cls = _prod(x) * _prod(w[:3]), DENSE
        elif name == "BATCH_MATMUL" and len(inputs) >= 2:
            a = inputs[0][0]
            macs, cls = _prod(out_shape) * (a[-1] if a else 1), DENSE
        elif name.startswith("CUSTOM:") and "Transpose" in name and len(inputs) >= 2:
            # MediaPipe's Convolution2DTransposeBias: weights [Co, kh, kw, Ci]
            w, x = inputs[1][0], inputs[0][0]
            macs, cls = _prod(x) * _prod(w[:3]), DENSE
        elif name in _TFLITE_DATA:
            cls = DATA
        if name == "DEQUANTIZE" and inputs and inputs[0][1] == "float16":
            dequantized_fp16 = True
        nbytes = lambda ts: sum(_prod(s) * _DTYPE_BYTES.get(dt, 4) for s, dt, _ in ts)
        for s, dt, _ in consts:
            if cls in (DENSE, DEPTHWISE):
                weight_types[dt] += _prod(s)
        if cls in (DENSE, DEPTHWISE):
            act_types[out_type] += 1
        ops.append(Op(type=name, cls=cls, macs=int(macs), act_bytes=float(nbytes(act_in) + nbytes(outputs)),
                      weight_bytes=float(nbytes(consts)), dtype=out_type, htp=name in HTP_TFLITE_OPS))

    precision = _precision(weight_types, act_types, dequantized_fp16)
    inputs = []
    for i in graph.InputsAsNumpy():
        t = graph.Tensors(int(i))
        inputs.append((t.Name().decode(errors="replace"), tuple(int(d) for d in t.ShapeAsNumpy()),
                       type_names.get(t.Type(), "?")))
    return GraphCost(path=path, format="tflite", precision=precision, ops=ops, inputs=inputs)


def _resolved_shapes(data: bytes, model, graph, schema) -> dict[int, tuple[int, ...]]:
    """Tensor shapes the interpreter computes when the file leaves some dynamic (a -1 in a
    shape signature, or a SHAPE op feeding a reshape): it runs the model once on zeros (batch
    1). Empty when all shapes are static."""
    shape_op = schema.BuiltinOperator.SHAPE
    dynamic = any(max(model.OperatorCodes(graph.Operators(k).OpcodeIndex()).BuiltinCode(),
                      model.OperatorCodes(graph.Operators(k).OpcodeIndex()).DeprecatedBuiltinCode()) == shape_op
                  for k in range(graph.OperatorsLength()))
    for k in range(graph.TensorsLength()):
        if dynamic:
            break
        t = graph.Tensors(k)
        signature = t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength() else ()
        if any(int(d) < 0 for d in list(signature)[1:]):
            dynamic = True
            break
    if not dynamic:
        return {}
    try:
        from ai_edge_litert.interpreter import Interpreter

        import numpy as np

        from edgeface.runtime.native_log import without_native_info

        with without_native_info():
            interpreter = Interpreter(model_content=data)
            interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():   # dynamic tensors get their shape when run
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
        interpreter.invoke()
        return {int(d["index"]): tuple(int(x) for x in d["shape"]) for d in interpreter.get_tensor_details()}
    except Exception:   # a model the interpreter cannot build: keep the file's static shapes
        return {}


def _precision(weight_types: Counter, act_types: Counter, fp16_weights: bool) -> str:
    """fp32 / fp16 / dynamic / w8a8 / w8a16 from the weight and activation types of the
    MAC-bearing ops (the ones that decide the speed)."""
    weights = weight_types.most_common(1)[0][0] if weight_types else "float32"
    acts = act_types.most_common(1)[0][0] if act_types else "float32"
    if acts in ("int16", "uint16"):
        return "w8a16"
    if acts in ("int8", "uint8"):
        return "w8a8"
    if weights in ("int8", "uint8", "int4"):
        return "dynamic"
    if weights == "float16" or fp16_weights:
        return "fp16"
    return "fp32"


# ----------------------------------------------------------------------------- ONNX

def read_onnx(data: bytes, path: str = "<bytes>") -> GraphCost:
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        raise GraphError(f"{path}: reading ONNX graphs needs the onnx package: "
                         f"pip install 'edgeface[onnx]' onnx") from None
    try:
        model = onnx.load_model_from_string(data)
        model = shape_inference.infer_shapes(model)
    except Exception as exc:
        raise GraphError(f"{path}: cannot parse the ONNX model ({exc}): the file is damaged") from None
    graph = model.graph
    elem = {v: k.lower() for k, v in onnx.TensorProto.DataType.items()}
    inits = {t.name: (tuple(t.dims), elem.get(t.data_type, "float")) for t in graph.initializer}
    info: dict[str, tuple[tuple[int, ...], str]] = {}
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        tt = vi.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim)
        info[vi.name] = (dims, elem.get(tt.elem_type, "float"))
    for node in graph.node:   # Constant nodes are weights too
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    inits[node.output[0]] = (tuple(attr.t.dims), elem.get(attr.t.data_type, "float"))
    # QDQ graphs: a weight's real type is that of the DequantizeLinear's input
    dq_source = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}

    def name_type(dt: str) -> str:
        return {"float": "float32", "double": "float64"}.get(dt, dt)

    def shape_of(name: str) -> tuple[tuple[int, ...], str, bool]:
        if name in inits:
            return inits[name][0], name_type(inits[name][1]), True
        if name in dq_source and dq_source[name] in inits:
            dims, dt = inits[dq_source[name]]
            return dims, name_type(dt), True
        dims, dt = info.get(name, ((), "float"))
        return dims, name_type(dt), False

    def attr(node, key, default=None):
        for a in node.attribute:
            if a.name == key:
                return onnx.helper.get_attribute_value(a)
        return default

    # activation precision of a QDQ graph: the zero point type of its QuantizeLinear ops
    q_types = Counter()
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and len(node.input) >= 3:
            q_types[shape_of(node.input[2])[1]] += 1
        elif node.op_type == "QuantizeLinear":
            q_types["uint8"] += 1
    ops: list[Op] = []
    weight_types, act_types = Counter(), Counter()
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        inputs = [shape_of(n) for n in node.input if n]
        outputs = [shape_of(n) for n in node.output if n]
        out_shape = outputs[0][0] if outputs else ()
        macs, cls, kind = 0, ELEMENTWISE, node.op_type
        if kind in ("Conv", "ConvInteger", "QLinearConv") and len(inputs) >= 2:
            w = inputs[3 if kind == "QLinearConv" else 1][0]     # [Co, Ci/g, kh, kw]
            group = int(attr(node, "group", 1) or 1)
            macs = _prod(out_shape) * _prod(w[1:])
            cls = DEPTHWISE if group > 1 and w and w[1] == 1 else DENSE
        elif kind == "ConvTranspose" and len(inputs) >= 2:
            w, x = inputs[1][0], inputs[0][0]                  # [Ci, Co/g, kh, kw]
            macs, cls = _prod(x) * _prod(w[1:]), DENSE
        elif kind in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul") and len(inputs) >= 2:
            a = inputs[0][0]
            k = a[-1] if a else 1
            if kind == "Gemm" and attr(node, "transA", 0):
                k = a[0]
            macs, cls = _prod(out_shape) * k, DENSE
        elif kind in _ONNX_DATA:
            cls = DATA
        consts = [t for t in inputs if t[2]]
        acts = [t for t in inputs if not t[2]]
        nbytes = lambda ts: sum(_prod(s) * _DTYPE_BYTES.get(dt, 4) for s, dt, _ in ts)
        if cls in (DENSE, DEPTHWISE):
            for s, dt, _ in consts[:1]:
                weight_types[dt] += _prod(s)
            act_types[outputs[0][1] if outputs else "float32"] += 1
        ops.append(Op(type=kind, cls=cls, macs=int(macs), act_bytes=float(nbytes(acts) + nbytes(outputs)),
                      weight_bytes=float(nbytes(consts)), dtype=outputs[0][1] if outputs else "float32",
                      htp=kind in HTP_ONNX_OPS))
    if q_types:   # QDQ: float tensors between Q/DQ pairs carry int8 or int16 values on the NPU
        act_types = Counter({"int16" if q_types.most_common(1)[0][0] in ("int16", "uint16") else "int8": 1})
    precision = _precision(weight_types, act_types, False)
    inputs = [(vi.name, info.get(vi.name, ((), "?"))[0], info.get(vi.name, ((), "?"))[1])
              for vi in graph.input if vi.name not in inits]
    return GraphCost(path=path, format="onnx", precision=precision, ops=ops, inputs=inputs)


# ----------------------------------------------------------------------------- entry points

def read_graph(path: str | Path, data: Optional[bytes] = None) -> GraphCost:
    """The graph of a .tflite or .onnx file (``data``: its bytes, when already read)."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise GraphError(f"{path}: no such model file") from None
        except OSError as exc:
            raise GraphError(f"{path}: cannot read the model ({exc})") from None
    if data[4:8] == b"TFL3" or path.suffix.lower() == ".tflite":
        return read_tflite(data, str(path))
    if path.suffix.lower() == ".onnx":
        return read_onnx(data, str(path))
    raise GraphError(f"{path}: not a model edgeface can estimate: give a .tflite or .onnx file, "
                     f"or a bundle directory / .zip")


def read_model_or_bundle(path: str | Path) -> list[tuple[str, GraphCost]]:
    """(label, graph) for a model file, or for each model of a bundle (label: its role)."""
    path = Path(path)
    if path.is_dir() or (path.suffix.lower() == ".zip" and path.is_file()):
        from edgeface.bundle import load_bundle

        bundle = load_bundle(path)
        return [(f"{spec.role}:{spec.file}", read_graph(Path(path) / spec.file, bundle.read_model(spec)))
                for spec in bundle.manifest.models()]
    return [(path.name, read_graph(path))]
