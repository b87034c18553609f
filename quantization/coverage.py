"""Delegate coverage of a TFLite model: which ops XNNPACK takes, where the graph splits,
and float islands inside an integer model.

How it is found (``method`` in the report):

- ``"interpreter"`` (the normal case): LiteRT applies its default XNNPACK delegate
  lazily, on the first ``allocate_tensors()``. After that, ``_get_ops_details()`` lists
  the model's original nodes (indices ``0..N-1``, unchanged) followed by one node named
  ``DELEGATE`` per partition XNNPACK took. A delegate node's inputs and outputs are the
  partition's boundary tensors, so the original nodes it replaced are those reached by
  walking back from its outputs until one of its inputs (a partition is convex). The
  same model loaded with ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` gives the
  original nodes alone, which is checked against the first ``N`` nodes.
- ``"table"``: where the interpreter shows no delegate node but the documented table of
  op types and dtypes XNNPACK supports says some op should have been taken (this
  LiteRT build has no default XNNPACK delegate, or it was switched off), the coverage is
  predicted from that table (``XNNPACK_SUPPORTED``), which ignores the finer conditions
  (static weights, fused activations, axes); it can also be asked for explicitly.

Only the primary subgraph (0) is inspected: LiteRT's Python API exposes nodes of that
one only; models with control flow (WHILE/IF) report their other subgraphs as unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeface.errors import BackendUnavailableError, EdgefaceError, ModelLoadError

METHODS = ("auto", "interpreter", "table")
QUANTIZED_DTYPES = ("int8", "uint8", "int16")
FLOAT_DTYPES = ("float32", "float16")
CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")

# XNNPACK's supported builtin ops by activation dtype, from the delegate's documentation
# (LiteRT tflite/delegates/xnnpack/README.md), plus ops seen delegated by LiteRT 2.3 in
# practice (float EXP, int8 SUM). Conditions on attributes (static weights, axes, fused
# activations) are not modelled: this is the fallback, not the primary method.
_FLOAT_OPS = (
    "ABS ADD AVERAGE_POOL_2D BATCH_MATMUL CEIL CONCATENATION CONV_2D DEPTH_TO_SPACE "
    "DEPTHWISE_CONV_2D DIV ELU EXP FLOOR FULLY_CONNECTED GELU HARD_SWISH LEAKY_RELU LOGISTIC "
    "MAX_POOL_2D MAXIMUM MEAN MINIMUM MUL NEG PAD PRELU RELU RELU6 RELU_N1_TO_1 RESHAPE "
    "RESIZE_BILINEAR ROUND RSQRT SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SQRT SQUARE "
    "SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TRANSPOSE TRANSPOSE_CONV").split()
_INT8_OPS = (
    "ADD CONCATENATION CONV_2D DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE ELU "
    "FULLY_CONNECTED LEAKY_RELU LOGISTIC MAX_POOL_2D MEAN MUL PAD QUANTIZE RESHAPE "
    "RESIZE_BILINEAR SLICE SPACE_TO_DEPTH SPLIT SUB SUM TANH TRANSPOSE TRANSPOSE_CONV").split()
XNNPACK_SUPPORTED: dict[str, frozenset[str]] = {
    "float32": frozenset(_FLOAT_OPS),
    "int8": frozenset(_INT8_OPS),
    "uint8": frozenset(_INT8_OPS),
}


@dataclass
class OpInfo:
    index: int
    op: str  # builtin op name, e.g. "CONV_2D"
    dtype: str  # activation dtype: the first output's ("int8"); "float32->int8" for QUANTIZE
    input_dtypes: list[str]
    output: str  # name of the first output tensor: where the op sits in the source graph
    delegated: bool
    partition: int | None  # which delegate partition (0, 1, ...) took it; None if none


@dataclass
class Run:
    """A stretch of consecutive ops (execution order) that are all delegated or all not."""

    start: int
    end: int  # inclusive
    delegated: bool
    ops: list[str]


@dataclass
class FloatIsland:
    """Float ops inside an integer model: entered through DEQUANTIZE, left through
    QUANTIZE (or the model output)."""

    ops: list[int]  # indices of the float compute ops
    op_types: list[str]
    entries: list[int]  # DEQUANTIZE ops feeding the island
    exits: list[int]  # QUANTIZE ops it feeds
    reaches_output: bool  # a model output is computed in float inside the island
    delegated: int  # how many of its ops XNNPACK took


@dataclass
class CoverageReport:
    method: str  # "interpreter" or "table"
    method_note: str
    precision: str  # "int8", "int16", "float32", "float16", "dynamic-int8"
    total_ops: int
    delegated_ops: int
    delegate_partitions: int  # number of delegate kernels (XNNPACK partitions)
    partitions: int  # contiguous runs of delegated / not delegated ops, in execution order
    ops: list[OpInfo]
    runs: list[Run]
    float_islands: list[FloatIsland]
    subgraphs: int = 1
    ops_by_type: dict[str, int] = field(default_factory=dict)  # "CONV_2D int8" -> count

    @property
    def undelegated(self) -> list[OpInfo]:
        return [o for o in self.ops if not o.delegated]

    @property
    def fully_delegated(self) -> bool:
        return self.total_ops > 0 and self.delegated_ops == self.total_ops

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["undelegated"] = [{"index": o.index, "op": o.op, "dtype": o.dtype, "output": o.output}
                               for o in self.undelegated]
        data["fully_delegated"] = self.fully_delegated
        return data

    def summary(self) -> str:
        head = (f"{self.precision} model, {self.total_ops} ops: {self.delegated_ops} delegated to "
                f"XNNPACK in {self.delegate_partitions} partition(s)")
        if self.fully_delegated:
            text = head + ", fully delegated"
        else:
            missing = Counter(f"{o.op} {o.dtype}" for o in self.undelegated)
            listed = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in missing.items())
            text = (f"{head}; {len(self.ops) - self.delegated_ops} not delegated ({listed}); "
                    f"the graph runs in {self.partitions} part(s)")
        if self.float_islands:
            n = sum(len(i.ops) for i in self.float_islands)
            kinds = ", ".join(sorted({t for i in self.float_islands for t in i.op_types}))
            text += f"; {len(self.float_islands)} float island(s) of {n} op(s) ({kinds})"
        elif self.precision in QUANTIZED_DTYPES:
            text += "; no float islands"
        if self.method != "interpreter":
            text += f" [{self.method}]"
        return text


def _dtype_name(t: Any) -> str:
    return np.dtype(t).name


def _load(data: bytes, where: str, resolver: Any):
    from edgeface.runtime import first_line

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise BackendUnavailableError("delegate coverage needs LiteRT: pip install ai-edge-litert") from None
    try:
        interpreter = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()  # the default delegate is applied here, lazily
        return interpreter, interpreter._get_ops_details()
    except Exception as exc:  # ValueError / RuntimeError from LiteRT
        raise ModelLoadError(f"{where}: LiteRT cannot load this model ({first_line(exc)}): "
                             f"the file is corrupt or uses ops this LiteRT lacks") from None


def delegate_coverage(tflite_bytes: bytes, where: str = "model", method: str = "auto") -> CoverageReport:
    """Which ops of a TFLite model LiteRT's default XNNPACK delegate takes.

    ``method``: "auto" (the interpreter's delegate nodes; the table where the build shows
    no delegation at all but the table expects some), "interpreter" or "table".
    """
    if method not in METHODS:
        raise EdgefaceError(f"method={method!r} is not one of {', '.join(METHODS)}")
    data = bytes(tflite_bytes)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelLoadError(f"{where}: not a TFLite model (no TFL3 identifier): coverage is for .tflite files")
    try:
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError:
        raise BackendUnavailableError("delegate coverage needs LiteRT: pip install ai-edge-litert") from None
    plain, base = _load(data, where, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    subgraphs = int(plain.num_subgraphs())
    n = len(base)
    ops = [OpInfo(index=d["index"], op=d["op_name"], dtype=_op_dtype(d),
                  input_dtypes=[_dtype_name(t) for t in d["operand_types"]],
                  output=_tensor_name(plain, d["outputs"]), delegated=False, partition=None)
           for d in base]
    constants = _constant_tensors(plain, base)
    precision = _precision(base, constants)

    note = ""
    assignment: dict[int, int] = {}
    used = method
    if method in ("auto", "interpreter"):
        _, full = _load(data, where, OpResolverType.AUTO)
        if [d["op_name"] for d in full[:n]] != [d["op_name"] for d in base]:
            raise EdgefaceError(f"{where}: LiteRT lists different nodes with and without its default "
                                f"delegate: this LiteRT version is not supported by delegate_coverage; "
                                f"use method='table'")
        delegates = [d for d in full[n:] if d["op_name"] == "DELEGATE"]
        assignment = _partition_members(base, delegates)
        used = "interpreter"
        note = (f"LiteRT's default XNNPACK delegate made {len(delegates)} delegate node(s); the nodes each "
                f"replaced were found from its boundary tensors")
        if not delegates and method == "auto":
            predicted = _table_assignment(ops)
            if predicted:
                assignment, used = predicted, "table"
                note = ("this LiteRT showed no delegate node although the XNNPACK table expects some "
                        "(no default XNNPACK delegate in this build?): predicted from the documented "
                        "table, without its finer conditions")
            else:
                note = "no delegate node, and the XNNPACK table expects none: nothing is delegated"
    else:
        assignment = _table_assignment(ops)
        note = "predicted from the documented XNNPACK op table, without its finer conditions"

    for op in ops:
        if op.index in assignment:
            op.delegated, op.partition = True, assignment[op.index]
    runs = _runs(ops)
    islands = _float_islands(plain, base, ops, constants) if precision in QUANTIZED_DTYPES else []
    by_type = Counter(f"{o.op} {o.dtype}" for o in ops)
    if subgraphs > 1:
        note += f"; the model has {subgraphs} subgraphs, only the primary one is inspected"
    return CoverageReport(
        method=used, method_note=note, precision=precision, total_ops=len(ops),
        delegated_ops=sum(o.delegated for o in ops),
        delegate_partitions=len(set(assignment.values())), partitions=len(runs), ops=ops, runs=runs,
        float_islands=islands, subgraphs=subgraphs, ops_by_type=dict(sorted(by_type.items())))


def _tensor_name(interpreter: Any, outputs: Any) -> str:
    for t in outputs:
        if t >= 0:
            return interpreter._get_tensor_details(int(t), 0)["name"]
    return ""


def _op_dtype(d: dict) -> str:
    outs = [_dtype_name(t) for t in d["result_types"]]
    ins = [_dtype_name(t) for t in d["operand_types"]]
    out = outs[0] if outs else (ins[0] if ins else "none")
    if d["op_name"] in CONVERSION_OPS and ins:
        return f"{ins[0]}->{out}"
    return out


def _constant_tensors(interpreter: Any, nodes: list[dict]) -> set[int]:
    """Tensors no node produces and that are not model inputs: weights, biases, shapes."""
    produced = {int(t) for d in nodes for t in d["outputs"]}
    inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    used = {int(t) for d in nodes for t in d["inputs"] if t >= 0}
    return used - produced - inputs


def _precision(nodes: list[dict], constants: set[int]) -> str:
    compute = [d for d in nodes if d["op_name"] not in CONVERSION_OPS]
    acts = Counter(_op_dtype(d) for d in compute)
    if acts.get("int16"):
        return "int16"
    if acts.get("int8") or acts.get("uint8"):
        return "int8"
    for d in nodes:  # float activations: weights stored as int8 (dynamic range) or float16?
        for t, dtype in zip(d["inputs"], d["operand_types"]):
            if int(t) in constants:
                name = _dtype_name(dtype)
                if name == "int8" and d["op_name"] not in CONVERSION_OPS:
                    return "dynamic-int8"
                if name == "float16":
                    return "float16"
    return "float32"


def _partition_members(nodes: list[dict], delegates: list[dict]) -> dict[int, int]:
    """Original node index -> delegate partition, from each delegate node's boundary."""
    producer = {int(t): d["index"] for d in nodes for t in d["outputs"] if t >= 0}
    assignment: dict[int, int] = {}
    for part, dnode in enumerate(delegates):
        boundary = {int(t) for t in dnode["inputs"] if t >= 0}
        stack = [int(t) for t in dnode["outputs"] if t >= 0]
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary or t not in producer:
                continue
            seen.add(t)
            index = producer[t]
            if index in assignment:
                continue
            assignment[index] = part
            stack.extend(int(x) for x in nodes[index]["inputs"] if x >= 0)
            stack.extend(int(x) for x in nodes[index]["outputs"] if x >= 0)
    return assignment


def _table_supported(op: OpInfo) -> bool:
    dtype = op.dtype.split("->")[-1] if op.op == "QUANTIZE" else op.dtype.split("->")[0]
    return op.op in XNNPACK_SUPPORTED.get(dtype, frozenset())


def _table_assignment(ops: list[OpInfo]) -> dict[int, int]:
    """Delegated ops and their partitions as the table predicts them: each contiguous
    stretch of supported ops is one partition."""
    assignment: dict[int, int] = {}
    part, prev = -1, False
    for op in ops:
        ok = _table_supported(op)
        if ok and not prev:
            part += 1
        if ok:
            assignment[op.index] = part
        prev = ok
    return assignment


def _runs(ops: list[OpInfo]) -> list[Run]:
    runs: list[Run] = []
    for op in ops:
        if runs and runs[-1].delegated == op.delegated:
            runs[-1].end = op.index
            runs[-1].ops.append(op.op)
        else:
            runs.append(Run(op.index, op.index, op.delegated, [op.op]))
    return runs


def _float_islands(interpreter: Any, nodes: list[dict], ops: list[OpInfo],
                   constants: set[int]) -> list[FloatIsland]:
    """Connected groups of float compute ops (not QUANTIZE/DEQUANTIZE) in an integer model."""
    floaty = {o.index for o in ops if o.op not in CONVERSION_OPS and o.dtype in FLOAT_DTYPES
              and any(int(t) not in constants for t in nodes[o.index]["inputs"] if t >= 0)}
    if not floaty:
        return []
    producer = {int(t): d["index"] for d in nodes for t in d["outputs"] if t >= 0}
    consumers: dict[int, list[int]] = {}
    for d in nodes:
        for t in d["inputs"]:
            if t >= 0:
                consumers.setdefault(int(t), []).append(d["index"])
    model_outputs = {int(d["index"]) for d in interpreter.get_output_details()}
    islands: list[FloatIsland] = []
    left = set(floaty)
    while left:
        start = min(left)
        group, stack = set(), [start]
        while stack:  # flood fill through tensors shared by float ops
            i = stack.pop()
            if i in group:
                continue
            group.add(i)
            neighbours = [producer.get(int(t)) for t in nodes[i]["inputs"] if t >= 0]
            for t in nodes[i]["outputs"]:
                neighbours.extend(consumers.get(int(t), []))
            stack.extend(j for j in neighbours if j is not None and j in left and j not in group)
        left -= group
        entries, exits, reaches = set(), set(), False
        for i in group:
            for t in nodes[i]["inputs"]:
                j = producer.get(int(t))
                if j is not None and nodes[j]["op_name"] == "DEQUANTIZE":
                    entries.add(j)
            for t in nodes[i]["outputs"]:
                reaches |= int(t) in model_outputs
                for j in consumers.get(int(t), []):
                    if nodes[j]["op_name"] == "QUANTIZE":
                        exits.add(j)
        members = sorted(group)
        islands.append(FloatIsland(
            ops=members, op_types=[ops[i].op for i in members], entries=sorted(entries),
            exits=sorted(exits), reaches_output=reaches, delegated=sum(ops[i].delegated for i in members)))
    return islands
