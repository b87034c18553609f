"""Source models for conversion: Keras, SavedModel, frozen GraphDef, ONNX and TFLite.

``load_source`` finds what a path holds and wraps it as a ``Source``: one image input
(batch 1, in the model's own layout), named outputs, and ``run`` for float reference
outputs. Heavy libraries (TensorFlow, onnxruntime) are imported only by the kinds that
need them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeface.errors import ConversionError, EdgefaceError

KINDS = ("keras", "saved_model", "graphdef", "onnx", "tflite")
_SUFFIXES = {".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".onnx": "onnx",
             ".tflite": "tflite", ".pb": "graphdef"}
_CHANNELS = (1, 3)  # image inputs: grayscale or colour
_CHUNK = 64  # samples per call when running a batch


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
        """Float outputs for a float batch ``x`` in the source's layout (any batch size)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.input_shape[1:]):
            raise ConversionError(
                f"{self.path}: input batch has shape {x.shape}, the model takes {self.layout} "
                f"(N, {', '.join(map(str, self.input_shape[1:]))}): transpose or resize the inputs")
        step = 1 if self.fixed_batch else _CHUNK
        try:
            parts = [self._runner(x[i:i + step]) for i in range(0, len(x), step)]
        except EdgefaceError:
            raise
        except Exception as exc:
            raise ConversionError(f"{self.path}: the {self.kind} model failed to run ({_first_line(exc)}): "
                                  f"check that it loads and runs in its own framework") from None
        if not parts:
            return []
        return [np.concatenate([np.asarray(p[i], dtype=np.float32) for p in parts])
                for i in range(len(parts[0]))]


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
                input_shape: Sequence[int] | None = None) -> Source:
    """Load a source model. ``kind`` is detected when not given. ``input_shape`` (in the
    model's own layout, batch first) fixes inputs whose height or width are dynamic."""
    path = Path(path)
    if kind is None:
        kind = detect_kind(path)
    elif kind not in KINDS:
        raise ConversionError(f"kind {kind!r}: choose one of {', '.join(KINDS)}")
    elif not path.exists():
        raise ConversionError(f"{path}: no such file or directory: check the path")
    if kind == "saved_model" and path.is_file():
        path = path.parent
    override = tuple(int(d) for d in input_shape) if input_shape is not None else None
    if override is not None and (len(override) != 4 or min(override) < 1):
        raise ConversionError(f"input_shape {input_shape}: give four positive sizes, batch first "
                              f"(e.g. 1,112,112,3 or 1,3,112,112)")
    loader = {"keras": _load_keras, "saved_model": _load_saved_model, "graphdef": _load_graphdef,
              "onnx": _load_onnx, "tflite": _load_tflite}[kind]
    return loader(path, override)


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


def _image_shape(path: Path, dims: Sequence[int | None], override: tuple[int, ...] | None,
                 prefer: str) -> tuple[tuple[int, ...], str, bool]:
    """(batch-1 shape, layout, fixed_batch) of an input with ``dims`` (None where dynamic)."""
    dims = list(dims)
    if len(dims) != 4:
        raise ConversionError(f"{path}: the input has shape {_show(dims)}, not an image batch (N, H, W, C) "
                              f"or (N, C, H, W): edgeface converts image models with one 4-D input")
    fixed_batch = dims[0] is not None and dims[0] > 0
    if fixed_batch and dims[0] != 1:
        raise ConversionError(f"{path}: the input has a fixed batch of {dims[0]}: re-export the model "
                              f"with batch 1 or a dynamic batch")
    if override is not None:
        for want, got in zip(override[1:], dims[1:]):
            if got is not None and got > 0 and got != want:
                raise ConversionError(f"{path}: input_shape {override} does not fit the model's input "
                                      f"{_show(dims)}: give the model's own layout and sizes")
        dims = [1, *override[1:]]
    shape = (1, *[d if d is not None and d > 0 else None for d in dims[1:]])
    nhwc = shape[3] in _CHANNELS
    nchw = shape[1] in _CHANNELS
    if nhwc and nchw:
        layout = prefer
    elif nhwc or nchw:
        layout = "NHWC" if nhwc else "NCHW"
    else:
        raise ConversionError(f"{path}: the input has shape {_show(dims)}, no 1- or 3-channel image "
                              f"axis first or last: pass input_shape if a size is dynamic, or "
                              f"convert an image model")
    spatial = shape[1:3] if layout == "NHWC" else shape[2:4]
    if any(d is None for d in spatial):
        raise ConversionError(f"{path}: the input's height/width are dynamic ({_show(dims)}): pass "
                              f"input_shape (e.g. --input-shape 1,112,112,3) to fix them")
    return tuple(int(d) for d in shape), layout, fixed_batch


def _show(dims) -> str:
    return "(" + ", ".join("?" if d is None or (isinstance(d, int) and d < 0) else str(d) for d in dims) + ")"


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# -- loaders -------------------------------------------------------------------------------

def _load_keras(path: Path, override) -> Source:
    _import_tf()
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ConversionError(f"{path}: Keras cannot load this model ({_first_line(exc)}): check the file, "
                              f"and that custom layers are registered") from None
    inputs = list(model.inputs)
    if len(inputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs: edgeface converts models with "
                              f"one image input")
    shape, layout, fixed = _image_shape(path, inputs[0].shape, override, "NHWC")
    outputs = list(model.outputs)
    names = list(getattr(model, "output_names", None) or [])
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

    return Source(path, "keras", inputs[0].name, shape, layout, names, model, fixed, None, run)


def _load_saved_model(path: Path, override) -> Source:
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
    if len(specs) != 1:
        raise ConversionError(f"{path}: signature {key!r} has {len(specs)} inputs ({', '.join(specs)}): "
                              f"edgeface converts models with one image input")
    input_name, spec = next(iter(specs.items()))
    if not spec.dtype.is_floating:
        raise ConversionError(f"{path}: the input {input_name!r} is {spec.dtype.name}, not float: export "
                              f"the model with a float32 input")
    shape, layout, fixed = _image_shape(path, spec.shape.as_list() if spec.shape.rank is not None else [],
                                        override, "NHWC")
    outputs = signature.structured_outputs
    names = sorted(outputs, key=_natural) if isinstance(outputs, dict) else \
        [f"output_{i}" for i in range(len(tf.nest.flatten(outputs)))]

    def run(x):
        y = signature(**{input_name: tf.constant(x)})
        if isinstance(y, dict):
            return [y[n].numpy() for n in names]
        return [t.numpy() for t in tf.nest.flatten(y)]

    return Source(path, "saved_model", input_name, shape, layout, names, loaded, fixed, key, run)


_NOT_OUTPUTS = {"NoOp", "Const", "Placeholder", "PlaceholderWithDefault", "Assert", "SaveV2",
                "RestoreV2", "VarIsInitializedOp", "AssignVariableOp"}
_VARIABLES = {"VariableV2", "Variable", "VarHandleOp"}


def _load_graphdef(path: Path, override) -> Source:
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
    if len(placeholders) != 1:
        raise ConversionError(f"{path}: the graph has {len(placeholders)} Placeholder inputs: edgeface "
                              f"converts models with one image input")
    placeholder = placeholders[0]
    if placeholder.attr["dtype"].type not in (tf.float32.as_datatype_enum, tf.float16.as_datatype_enum):
        raise ConversionError(f"{path}: the input {placeholder.name!r} is not float: export a float32 input")
    shape_attr = placeholder.attr["shape"].shape
    dims = [] if shape_attr.unknown_rank else [d.size if d.size >= 0 else None for d in shape_attr.dim]
    shape, layout, fixed = _image_shape(path, dims, override, "NHWC")
    consumed = {inp.lstrip("^").split(":")[0] for n in nodes for inp in n.input}
    outputs = [n.name for n in nodes if n.name not in consumed and n.op not in _NOT_OUTPUTS]
    if not outputs:
        raise ConversionError(f"{path}: found no output nodes (every node is consumed): check the graph")
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

    return Source(path, "graphdef", placeholder.name, shape, layout, outputs, graph_def, fixed, None, run)


def onnx_session(path: str | Path):
    """An onnxruntime CPU session for ``path``; ConversionError when it cannot load."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConversionError("onnxruntime is not installed: pip install 'edgeface[toolchain]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"{path}: onnxruntime cannot load this model ({_first_line(exc)}): the file "
                              f"is corrupt or not ONNX") from None


def _load_onnx(path: Path, override) -> Source:
    session = onnx_session(path)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ConversionError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}): "
                              f"edgeface converts models with one image input")
    if inputs[0].type != "tensor(float)":
        raise ConversionError(f"{path}: the input {inputs[0].name!r} is {inputs[0].type}, not float32: "
                              f"export the model with a float32 input")
    dims = [d if isinstance(d, int) and d > 0 else None for d in inputs[0].shape]
    shape, layout, fixed = _image_shape(path, dims, override, "NCHW")
    names = [o.name for o in session.get_outputs()]
    input_name = inputs[0].name

    def run(x):
        return session.run(names, {input_name: x})

    return Source(path, "onnx", input_name, shape, layout, names, session, fixed, None, run)


def _load_tflite(path: Path, override) -> Source:
    from edgeface.runtime import open_backend
    from edgeface.runtime.model import dequantize

    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConversionError(f"{path}: not a TFLite model (no TFL3 identifier): check the file")
    try:
        backend = open_backend("tflite", data, str(path))
    except EdgefaceError as exc:
        raise ConversionError(str(exc)) from None
    if len(backend.inputs) != 1:
        raise ConversionError(f"{path}: the model has {len(backend.inputs)} inputs: edgeface converts "
                              f"models with one image input")
    info = backend.inputs[0]
    dims = [d if d > 0 else None for d in info.shape]
    shape, layout, fixed = _image_shape(path, dims, override, "NHWC")
    names = [o.name for o in backend.outputs]

    def run(x):
        if info.quantized:
            bounds = np.iinfo(info.dtype)
            x = np.clip(np.rint(x / info.scale + info.zero_point), bounds.min, bounds.max)
        raw = backend.run([x.astype(info.dtype, copy=False)])
        return [dequantize(a, o) for a, o in zip(raw, backend.outputs)]

    return Source(path, "tflite", info.name, shape, layout, names, backend, fixed, None, run)
