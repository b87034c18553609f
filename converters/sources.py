"""Source models for conversion: Keras, SavedModel, frozen GraphDef, ONNX and TFLite.

``load_source`` finds what a path holds and wraps it as a ``Source``: one image input
(batch 1, in the model's own layout), named outputs, and ``run`` for float reference
outputs. Heavy libraries (TensorFlow, onnxruntime) are imported only by the kinds that
need them.

What the user can say about a graph: ``input_shape`` fixes a free height/width (and the
batch, to 1); ``outputs`` cuts the graph at named tensors, before post-processing such as
NMS, so that the SDK's decoders do that part. Post-processing ops left in the graph are
found (``Source.postprocessing``): the outputs they feed vary in size or order per image.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgeface.errors import ConversionError, EdgefaceError, show

KINDS = ("keras", "saved_model", "graphdef", "onnx", "tflite")
_SUFFIXES = {".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".onnx": "onnx",
             ".tflite": "tflite", ".pb": "graphdef"}
_CHANNELS = (1, 3)  # image inputs: grayscale or colour
_CHUNK = 64  # samples per call when running a batch
InputShapes = Mapping[str | None, Sequence[int]]  # input name (None: the model's only input) -> sizes

# Ops whose outputs vary in size or order per image: post-processing inside the graph.
POSTPROCESSING_OPS = frozenset({
    # TensorFlow
    "NonMaxSuppression", "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4",
    "NonMaxSuppressionV5", "NonMaxSuppressionWithOverlaps", "CombinedNonMaxSuppression", "TopKV2", "Where",
    "Unique", "UniqueV2", "UniqueWithCounts",
    # ONNX
    "TopK", "NonZero", "Compress"})


@dataclass
class PostProcessing:
    """A post-processing op inside the graph and the model outputs computed from it."""

    op: str  # the op type, e.g. NonMaxSuppressionV3
    node: str  # its node name
    feeds: list[str]  # the model outputs it feeds
    reads: list[str]  # the tensors it reads: where --outputs can cut the graph

    def describe(self) -> str:
        return f"{self.op} ({self.node!r}) feeds {', '.join(self.feeds)}"


@dataclass
class Source:
    path: Path
    kind: str  # one of KINDS
    input_name: str
    input_shape: tuple[int, ...]  # batch 1, in the source's own layout
    layout: str  # "NHWC" or "NCHW"
    output_names: list[str]
    handle: Any = field(default=None, repr=False, compare=False)  # the loaded model (kind specific)
    fixed_batch: bool = field(default=False, repr=False)  # the model only takes batch 1
    signature_key: str | None = field(default=None, repr=False)  # SavedModel: the signature used
    _runner: Callable[[np.ndarray], list[np.ndarray]] | None = field(default=None, repr=False, compare=False)
    cut_outputs: list[str] | None = field(default=None, repr=False)  # the graph was cut at these (--outputs)
    postprocessing: list[PostProcessing] = field(default_factory=list, repr=False)

    @property
    def variable_outputs(self) -> list[str]:
        """The outputs fed by post-processing ops: their size or order varies per image."""
        fed = {name for p in self.postprocessing for name in p.feeds}
        return [name for name in self.output_names if name in fed]

    @property
    def nhwc_shape(self) -> tuple[int, int, int, int]:
        """The input shape in NHWC order (batch 1): what TFLite models and calibration use."""
        n, a, b, c = self.input_shape
        return (n, b, c, a) if self.layout == "NCHW" else (n, a, b, c)

    @property
    def height(self) -> int:
        return self.nhwc_shape[1]

    @property
    def width(self) -> int:
        return self.nhwc_shape[2]

    def to_source_layout(self, x_nhwc: np.ndarray) -> np.ndarray:
        """An NHWC batch in this source's layout."""
        x = np.asarray(x_nhwc)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self.layout == "NCHW" else x

    def to_nhwc(self, x: np.ndarray) -> np.ndarray:
        """A batch in this source's layout, as NHWC."""
        x = np.asarray(x)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.layout == "NCHW" else x

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Float outputs for a float batch ``x`` in the source's layout (any batch size).
        A batch-1 model, or one with post-processing inside (which may mix the images of
        a batch), runs one sample at a time."""
        x = self._checked(x)
        step = 1 if self.fixed_batch or self.postprocessing else _CHUNK
        parts = [self._call(x[i:i + step]) for i in range(0, len(x), step)]
        if not parts:
            return []
        return [self._joined(k, [p[k] for p in parts]) for k in range(len(parts[0]))]

    def _joined(self, k: int, arrays: list[np.ndarray]) -> np.ndarray:
        shapes = sorted({a.shape[1:] for a in arrays})
        if len(shapes) > 1:
            name = self.output_names[k] if k < len(self.output_names) else f"output {k}"
            raise ConversionError(f"{self.path}: output {name!r} changes shape from input to input ({shapes[0]}, "
                                  f"{shapes[1]}, ...): an op that sizes it per image is inside the graph; cut the "
                                  f"graph before it with --outputs")
        return np.concatenate(arrays)

    def run_each(self, x: np.ndarray) -> list[list[np.ndarray]]:
        """Each sample's float outputs, one sample per call: for outputs whose size varies."""
        x = self._checked(x)
        return [self._call(x[i:i + 1]) for i in range(len(x))]

    def _checked(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.input_shape[1:]):
            raise ConversionError(
                f"{self.path}: input batch has shape {x.shape}, the model takes {self.layout} "
                f"(N, {', '.join(map(str, self.input_shape[1:]))}): transpose or resize the inputs")
        return x

    def _call(self, x: np.ndarray) -> list[np.ndarray]:
        try:
            return [np.asarray(y, dtype=np.float32) for y in self._runner(x)]
        except EdgefaceError:
            raise
        except Exception as exc:
            raise ConversionError(f"{self.path}: the {self.kind} model failed to run ({_first_line(exc)}): "
                                  f"check that it loads and runs in its own framework") from None


def detect_kind(path: str | Path) -> str:
    """The kind of model at ``path``, from its suffix, directory contents or first bytes."""
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such file or directory: check the path")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "saved_model"
        raise ConversionError(f"{path}: a directory without saved_model.pb: pass a SavedModel directory "
                              f"or a model file (.keras, .h5, .pb, .onnx, .tflite)")
    if path.name == "saved_model.pb":
        return "saved_model"
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind:
        return kind
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"PK") or head.startswith(b"\x89HDF"):
        return "keras"
    raise ConversionError(f"{path}: unknown model kind (suffix {path.suffix or 'none'!r}): use .keras/.h5, "
                          f"a SavedModel directory, a frozen .pb, .onnx or .tflite, or name the kind "
                          f"({', '.join(KINDS)})")


def load_source(path: str | Path, kind: str | None = None, *,
                input_shape: Sequence[int] | InputShapes | None = None,
                outputs: Sequence[str] | None = None) -> Source:
    """Load a source model. ``kind`` is detected when not given.

    ``input_shape`` (in the model's own layout, batch first; the batch must be 1) fixes
    inputs whose height or width are dynamic: sizes for the only input, or a mapping from
    input name to sizes (``parse_input_shapes``). ``outputs`` cuts the graph at these
    tensors (frozen graphs: node names; ONNX: tensor names; Keras: layer names)."""
    path = Path(path)
    if kind is None:
        kind = detect_kind(path)
    elif kind not in KINDS:
        raise ConversionError(f"kind {kind!r}: choose one of {', '.join(KINDS)}")
    elif not path.exists():
        raise ConversionError(f"{path}: no such file or directory: check the path")
    if kind == "saved_model" and path.is_file():
        path = path.parent
    shapes = _as_shapes(input_shape)
    cut = [str(name) for name in outputs] if outputs else None
    if cut is not None and kind not in _CUTTABLE:
        raise ConversionError(f"{path}: --outputs cuts frozen graphs (.pb), ONNX and Keras models, not a "
                              f"{kind} model: freeze a SavedModel to a .pb (convert_variables_to_constants_v2) "
                              f"and cut that")
    loader = {"keras": _load_keras, "saved_model": _load_saved_model, "graphdef": _load_graphdef,
              "onnx": _load_onnx, "tflite": _load_tflite}[kind]
    source = loader(path, shapes, cut) if kind in _CUTTABLE else loader(path, shapes)
    source.cut_outputs = cut
    return source


_CUTTABLE = ("keras", "graphdef", "onnx")


def parse_input_shapes(values: Sequence[str]) -> dict[str | None, tuple[int, ...]]:
    """``--input-shape`` values: ``NAME:1,3,640,640`` for the input NAME, or ``1,3,640,640``
    for a model's only input (sizes in the model's own layout, batch first)."""
    shapes: dict[str | None, tuple[int, ...]] = {}
    for value in values:
        name, _, sizes = value.rpartition(":")  # TF input names may hold ':' themselves
        try:
            dims = tuple(int(d) for d in sizes.split(","))
        except ValueError:
            dims = ()
        if len(dims) != 4 or min(dims) < 1:
            raise ConversionError(f"--input-shape {show(value)}: give the input's name and four positive "
                                  f"sizes in the model's own layout, batch first: e.g. --input-shape "
                                  f"input:1,3,640,640, or --input-shape 1,640,640,3 for a model with one input")
        key = name or None
        if key in shapes:
            raise ConversionError(f"--input-shape {show(value)}: {'input ' + repr(name) if name else 'the only input'}"
                                  f" has a shape already: give one --input-shape per input")
        shapes[key] = dims
    return shapes


def _as_shapes(input_shape: Sequence[int] | InputShapes | None) -> dict[str | None, tuple[int, ...]]:
    if input_shape is None:
        return {}
    if isinstance(input_shape, Mapping):
        return {name: tuple(int(d) for d in dims) for name, dims in input_shape.items()}
    return {None: tuple(int(d) for d in input_shape)}


def _user_shape(path: Path, inputs: Sequence[tuple[str, Sequence[int | None]]],
                shapes: Mapping[str | None, tuple[int, ...]]) -> tuple[int, ...] | None:
    """The user's sizes for the model's image input (None: none given). An error naming the
    model's inputs when a given name is not one of them or the sizes are not an image batch
    of 1. ``inputs``: the model's (name, dims)."""
    if not shapes:
        return None
    listing = ", ".join(f"{name} {_show(dims)}" for name, dims in inputs)
    names = {name for name, _ in inputs} | {f"{name}:0" for name, _ in inputs}  # TF tensor names too
    unknown = [name for name in shapes if name is not None and name not in names]
    if unknown:
        raise ConversionError(f"{path}: --input-shape names the input {unknown[0]!r}, which the model does not "
                              f"have: its inputs are {listing}")
    if len(shapes) > 1:
        raise ConversionError(f"{path}: {len(shapes)} --input-shape values for the model's inputs ({listing}): "
                              f"give one shape per input")
    if len(inputs) != 1:
        return None  # the loader refuses models with several inputs
    override = next(iter(shapes.values()))
    if len(override) != 4 or min(override) < 1:
        raise ConversionError(f"{path}: input_shape {override} for {inputs[0][0]!r}: give four positive sizes, "
                              f"batch first (e.g. 1,112,112,3 or 1,3,112,112)")
    if override[0] != 1:
        raise ConversionError(f"{path}: input_shape {override} for {inputs[0][0]!r} has a batch of {override[0]}: "
                              f"edgeface converts batch-1 models, give 1 as the first size")
    return override


# -- helpers -------------------------------------------------------------------------------

def _first_line(exc: BaseException | str) -> str:
    """The first meaningful line of a (possibly long, multi-line) framework message."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:  # MLIR and TF diagnostics put the reason after "error:"
        if "error:" in line:
            return line[line.index("error:") + 6:].strip()[:300] or line[:300]
    for line in lines:
        if not line.startswith(("Traceback", "File ", "<unknown>", "loc(", "During handling", "^")):
            return line[:300]
    return type(exc).__name__ if isinstance(exc, BaseException) else "unknown error"


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise ConversionError("TensorFlow is not installed: pip install 'edgeface[toolchain]'") from None
    return tf


def _image_shape(path: Path, name: str, dims: Sequence[int | None], override: tuple[int, ...] | None,
                 prefer: str) -> tuple[tuple[int, ...], str, bool]:
    """(batch-1 shape, layout, fixed_batch) of the input ``name`` with ``dims`` (None where
    dynamic). A user's ``override`` fixes the batch to 1: a graph whose batch is free is
    then run one sample at a time, never on a batch that could mix images."""
    dims = list(dims)
    if len(dims) != 4:
        raise ConversionError(f"{path}: the input has shape {_show(dims)}, not an image batch (N, H, W, C) "
                              f"or (N, C, H, W): edgeface converts image models with one 4-D input")
    fixed_batch = override is not None or (dims[0] is not None and dims[0] > 0)
    if dims[0] is not None and dims[0] > 1:
        raise ConversionError(f"{path}: the input has a fixed batch of {dims[0]}: re-export the model "
                              f"with batch 1 or a dynamic batch")
    if override is not None:
        for want, got in zip(override[1:], dims[1:]):
            if got is not None and got > 0 and got != want:
                raise ConversionError(f"{path}: input_shape {override} does not fit the model's input "
                                      f"{name!r} {_show(dims)}: give the model's own layout and sizes")
        dims = [1, *override[1:]]
    shape = (1, *[d if d is not None and d > 0 else None for d in dims[1:]])
    nhwc = shape[3] in _CHANNELS
    nchw = shape[1] in _CHANNELS
    if nhwc and nchw:
        layout = prefer
    elif nhwc or nchw:
        layout = "NHWC" if nhwc else "NCHW"
    else:
        raise ConversionError(f"{path}: the input {name!r} has shape {_show(dims)}, no 1- or 3-channel image "
                              f"axis first or last: pass input_shape (--input-shape {name}:1,3,H,W or "
                              f"{name}:1,H,W,3) if a size is dynamic, or convert an image model")
    spatial = shape[1:3] if layout == "NHWC" else shape[2:4]
    if any(d is None for d in spatial):
        example = "1,H,W,3" if layout == "NHWC" else "1,3,H,W"
        raise ConversionError(f"{path}: the input {name!r} has a free height/width ({_show(dims)}): pass "
                              f"input_shape to fix them: --input-shape {name}:{example}, with the size the "
                              f"model was trained for (e.g. {example.replace('H,W', '640,640')})")
    return tuple(int(d) for d in shape), layout, fixed_batch


def _show(dims) -> str:
    return "(" + ", ".join("?" if d is None or (isinstance(d, int) and d < 0) else str(d) for d in dims) + ")"


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# -- loaders -------------------------------------------------------------------------------

def _load_keras(path: Path, shapes, cut) -> Source:
    _import_tf()
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ConversionError(f"{path}: Keras cannot load this model ({_first_line(exc)}): check the file, "
                              f"and that custom layers are registered") from None
    inputs = list(model.inputs)
    override = _user_shape(path, [(t.name, t.shape) for t in inputs], shapes)
    if len(inputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs: edgeface converts models with "
                              f"one image input")
    shape, layout, fixed = _image_shape(path, inputs[0].name, inputs[0].shape, override, "NHWC")
    if cut is not None:
        model = _cut_keras(path, model, cut)
    outputs = list(model.outputs)
    names = list(cut or getattr(model, "output_names", None) or [])
    if len(names) != len(outputs):
        names = [f"output_{i}" for i in range(len(outputs))]

    import tensorflow as tf

    # a traced graph: a batch-1 model is called once per sample, and eager calls cost ~100x more
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def run(x):
        import keras as k

        y = forward(tf.constant(x, tf.float32))
        flat = [y[n] for n in names] if isinstance(y, dict) else k.tree.flatten(y)
        return [t.numpy() if hasattr(t, "numpy") else np.asarray(t) for t in flat]

    source = Source(path, "keras", inputs[0].name, shape, layout, names, model, fixed, None, run)
    source.postprocessing = _traced_postprocessing(
        lambda: forward.get_concrete_function(tf.TensorSpec([None, *shape[1:]], tf.float32)), names)
    return source


def _cut_keras(path: Path, model, cut: list[str]):
    """``model`` ending at the layers named ``cut``."""
    import keras

    layers = [layer.name for layer in model.layers]
    missing = [name for name in cut if name not in layers]
    if missing:
        raise ConversionError(f"{path}: --outputs {missing[0]!r} is not a layer of the model (its last layers: "
                              f"{', '.join(layers[-8:])}): name Keras layers")
    return keras.Model(model.inputs, [model.get_layer(name).output for name in cut])


def _load_saved_model(path: Path, shapes) -> Source:
    tf = _import_tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ConversionError(f"{path}: TensorFlow cannot load this SavedModel ({_first_line(exc)}): "
                              f"check the directory") from None
    signatures = dict(loaded.signatures)
    if "serving_default" in signatures:
        key = "serving_default"
    elif len(signatures) == 1:
        key = next(iter(signatures))
    else:
        raise ConversionError(f"{path}: no serving_default signature (has {sorted(signatures) or 'none'}): "
                              f"export the model with a serving_default signature")
    signature = signatures[key]
    args, kwargs = signature.structured_input_signature
    specs = {**{f"input_{i}": s for i, s in enumerate(args)}, **kwargs}
    dims_of = {name: spec.shape.as_list() if spec.shape.rank is not None else [] for name, spec in specs.items()}
    override = _user_shape(path, list(dims_of.items()), shapes)
    if len(specs) != 1:
        raise ConversionError(f"{path}: signature {key!r} has {len(specs)} inputs ({', '.join(specs)}): "
                              f"edgeface converts models with one image input")
    input_name, spec = next(iter(specs.items()))
    if not spec.dtype.is_floating:
        raise ConversionError(f"{path}: the input {input_name!r} is {spec.dtype.name}, not float: export "
                              f"the model with a float32 input")
    shape, layout, fixed = _image_shape(path, input_name, dims_of[input_name], override, "NHWC")
    outputs = signature.structured_outputs
    names = sorted(outputs, key=_natural) if isinstance(outputs, dict) else \
        [f"output_{i}" for i in range(len(tf.nest.flatten(outputs)))]

    def run(x):
        y = signature(**{input_name: tf.constant(x)})
        if isinstance(y, dict):
            return [y[n].numpy() for n in names]
        return [t.numpy() for t in tf.nest.flatten(y)]

    source = Source(path, "saved_model", input_name, shape, layout, names, loaded, fixed, key, run)
    flat_names = sorted(outputs) if isinstance(outputs, dict) else names  # tf.nest.flatten's order
    source.postprocessing = _traced_postprocessing(lambda: signature, flat_names)
    return source


def _traced_postprocessing(trace: Callable[[], Any], flat_names: list[str]) -> list[PostProcessing]:
    """Post-processing ops in the TensorFlow function ``trace`` returns (its calls inlined by
    freezing), and the outputs (``flat_names``, in ``tf.nest.flatten`` order) they feed."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    try:
        frozen = convert_variables_to_constants_v2(trace())
    except Exception:  # a graph that cannot be traced or frozen converts as it is; nothing to report up front
        return []
    outputs = {name: tensor.op.name for name, tensor in zip(flat_names, frozen.outputs)}
    return _graphdef_postprocessing(frozen.graph.as_graph_def().node, outputs)


def _graphdef_postprocessing(nodes, outputs: dict[str, str]) -> list[PostProcessing]:
    """Post-processing ops among TensorFlow ``nodes`` feeding ``outputs`` (name -> node)."""
    return _find_postprocessing([(n.name, n.op, [i for i in n.input if not i.startswith("^")]) for n in nodes],
                                lambda tensor: tensor.split(":")[0], outputs)


def _find_postprocessing(nodes: list[tuple[str, str, list[str]]], producer: Callable[[str], str],
                         outputs: dict[str, str]) -> list[PostProcessing]:
    """The post-processing ops that feed the model's ``outputs`` (name -> the node computing
    it). ``nodes``: (node, op type, tensors it reads); ``producer``: tensor -> its node."""
    consumers: dict[str, set[str]] = defaultdict(set)
    for node, _, reads in nodes:
        for tensor in reads:
            consumers[producer(tensor)].add(node)
    ops = {node: op for node, op, _ in nodes}
    found = []
    for node, op, reads in nodes:
        if op not in POSTPROCESSING_OPS:
            continue
        reads = [t for t in reads if ops.get(producer(t), "Const") not in ("Const", "Constant")]  # computed ones
        reached, todo = {node}, [node]
        while todo:
            later = consumers[todo.pop()] - reached
            reached |= later
            todo.extend(later)
        feeds = [name for name, producing in outputs.items() if producing in reached]
        if feeds:
            found.append(PostProcessing(op, node, feeds, list(reads)))
    return found


_NOT_OUTPUTS = {"NoOp", "Const", "Placeholder", "PlaceholderWithDefault", "Assert", "SaveV2",
                "RestoreV2", "VarIsInitializedOp", "AssignVariableOp"}
_VARIABLES = {"VariableV2", "Variable", "VarHandleOp"}


def _load_graphdef(path: Path, shapes, cut) -> Source:
    tf = _import_tf()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as exc:
        raise ConversionError(f"{path}: not a frozen GraphDef ({_first_line(exc)}): for a SavedModel, pass "
                              f"its directory") from None
    nodes = list(graph_def.node)
    if not nodes:
        raise ConversionError(f"{path}: an empty GraphDef: check the file (for a SavedModel, pass its "
                              f"directory)")
    variables = [n.name for n in nodes if n.op in _VARIABLES]
    if variables:
        raise ConversionError(f"{path}: the graph still holds variables ({variables[0]}...): freeze it "
                              f"(convert_variables_to_constants_v2) or pass the SavedModel")
    placeholders = [n for n in nodes if n.op == "Placeholder"]
    dims_of = {n.name: _placeholder_dims(n) for n in placeholders}
    override = _user_shape(path, list(dims_of.items()), shapes)
    if len(placeholders) != 1:
        raise ConversionError(f"{path}: the graph has {len(placeholders)} Placeholder inputs: edgeface "
                              f"converts models with one image input")
    placeholder = placeholders[0]
    if placeholder.attr["dtype"].type not in (tf.float32.as_datatype_enum, tf.float16.as_datatype_enum):
        raise ConversionError(f"{path}: the input {placeholder.name!r} is not float: export a float32 input")
    shape, layout, fixed = _image_shape(path, placeholder.name, dims_of[placeholder.name], override, "NHWC")
    outputs = _graphdef_outputs(path, nodes, cut)
    feed = f"{placeholder.name}:0"

    def _import():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    try:
        pruned = wrapped.prune(feeds=[feed], fetches=[f"{o}:0" for o in outputs])
    except Exception as exc:
        raise ConversionError(f"{path}: cannot build a runnable graph ({_first_line(exc)}): check that "
                              f"the graph is frozen and complete") from None

    def run(x):
        return [t.numpy() for t in pruned(tf.constant(x))]

    source = Source(path, "graphdef", placeholder.name, shape, layout, outputs, graph_def, fixed, None, run)
    source.postprocessing = _graphdef_postprocessing(nodes, {o: o for o in outputs})
    return source


def _placeholder_dims(node) -> list[int | None]:
    shape = node.attr["shape"].shape
    return [] if shape.unknown_rank else [d.size if d.size >= 0 else None for d in shape.dim]


def _graphdef_outputs(path: Path, nodes, cut: list[str] | None) -> list[str]:
    """The graph's output nodes: those named by ``cut`` (``--outputs``), else the nodes
    nothing reads."""
    if cut is not None:
        known = {n.name for n in nodes}
        names = [name[:-2] if name.endswith(":0") else name for name in cut]
        missing = [name for name in names if name not in known]
        if missing:
            raise ConversionError(f"{path}: --outputs {missing[0]!r} is not a node of the graph: name nodes "
                                  f"(or their first tensors, NAME:0), e.g. the inputs of its post-processing")
        return names
    consumed = {inp.lstrip("^").split(":")[0] for n in nodes for inp in n.input}
    outputs = [n.name for n in nodes if n.name not in consumed and n.op not in _NOT_OUTPUTS]
    if not outputs:
        raise ConversionError(f"{path}: found no output nodes (every node is consumed): check the graph")
    return outputs


def onnx_session(path: str | Path, model: bytes | None = None):
    """An onnxruntime CPU session for ``path`` (or the serialised ``model`` made from it);
    ConversionError when it cannot load."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConversionError("onnxruntime is not installed: pip install 'edgeface[toolchain]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model if model is not None else str(path), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"{path}: onnxruntime cannot load this model ({_first_line(exc)}): the file "
                              f"is corrupt or not ONNX") from None


def _load_onnx(path: Path, shapes, cut) -> Source:
    session = onnx_session(path)
    inputs = session.get_inputs()
    override = _user_shape(path, [(i.name, _onnx_dims(i.shape)) for i in inputs], shapes)
    if len(inputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}): "
                              f"edgeface converts models with one image input")
    if inputs[0].type != "tensor(float)":
        raise ConversionError(f"{path}: the input {inputs[0].name!r} is {inputs[0].type}, not float32: "
                              f"export the model with a float32 input")
    input_name = inputs[0].name
    shape, layout, fixed = _image_shape(path, input_name, _onnx_dims(inputs[0].shape), override, "NCHW")
    if cut is not None:
        session = onnx_session(path, cut_onnx(path, input_name, cut).SerializeToString())
    names = [o.name for o in session.get_outputs()]

    def run(x):
        return session.run(names, {input_name: x})

    source = Source(path, "onnx", input_name, shape, layout, names, session, fixed, None, run)
    source.postprocessing = _onnx_postprocessing(path, names) if cut is None else []
    return source


def _onnx_dims(shape) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


def cut_onnx(path: Path, input_name: str, cut: list[str]):
    """The ONNX model at ``path`` ending at the tensors named ``cut`` (a ModelProto)."""
    import onnx
    import onnx.utils

    model = onnx.load(str(path))
    known = {t for node in model.graph.node for t in node.output}
    missing = [name for name in cut if name not in known]
    if missing:
        raise ConversionError(f"{path}: --outputs {missing[0]!r} is not a tensor of the graph: name tensors "
                              f"that nodes compute, e.g. the inputs of its post-processing")
    try:
        return onnx.utils.Extractor(model).extract_model([input_name], list(cut))
    except Exception as exc:
        raise ConversionError(f"{path}: cannot cut the graph at {', '.join(cut)} ({_first_line(exc)})") from None


def _onnx_postprocessing(path: Path, outputs: list[str]) -> list[PostProcessing]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    ids = [node.name or f"{node.op_type}#{i}" for i, node in enumerate(graph.node)]
    producers = {tensor: ids[i] for i, node in enumerate(graph.node) for tensor in node.output}
    return _find_postprocessing([(ids[i], node.op_type, [t for t in node.input if t])
                                 for i, node in enumerate(graph.node)],
                                lambda tensor: producers.get(tensor, tensor),
                                {name: producers.get(name, name) for name in outputs})


def uses_mediapipe_ops(data: bytes, path: Path) -> bool:
    """Whether the model calls MediaPipe's custom ops (which edgeface replays with builtins)."""
    from edgeface.converters.mediapipe_ops import MEDIAPIPE_OPS
    from edgeface.converters.tflite_graph import TFLiteGraph

    graph = TFLiteGraph(data, str(path))
    return any(graph.op_name(op) in MEDIAPIPE_OPS for op in graph.graph.operators)


def _load_tflite(path: Path, shapes) -> Source:
    from edgeface.runtime import open_backend
    from edgeface.runtime.model import dequantize

    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConversionError(f"{path}: not a TFLite model (no TFL3 identifier): check the file")
    try:
        backend = open_backend("tflite", data, str(path))
    except EdgefaceError as exc:
        if not uses_mediapipe_ops(data, path):
            raise ConversionError(str(exc)) from None
        from edgeface.converters.tflite import replayed_model

        backend = open_backend("tflite", replayed_model(data, str(path)), str(path))
    override = _user_shape(path, [(i.name, [d if d > 0 else None for d in i.shape]) for i in backend.inputs],
                           shapes)
    if len(backend.inputs) != 1:
        raise ConversionError(f"{path}: the model has {len(backend.inputs)} inputs: edgeface converts "
                              f"models with one image input")
    info = backend.inputs[0]
    dims = [d if d > 0 else None for d in info.shape]
    shape, layout, fixed = _image_shape(path, info.name, dims, override, "NHWC")
    names = [o.name for o in backend.outputs]

    def run(x):
        if info.quantized:
            bounds = np.iinfo(info.dtype)
            x = np.clip(np.rint(x / info.scale + info.zero_point), bounds.min, bounds.max)
        raw = backend.run([x.astype(info.dtype, copy=False)])
        return [dequantize(a, o) for a, o in zip(raw, backend.outputs)]

    return Source(path, "tflite", info.name, shape, layout, names, backend, fixed, None, run)
