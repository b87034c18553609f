"""What ``edgeface bench`` measures: a model file, or each model of a bundle.

A bundle's models are read through :func:`edgeface.bundle.load_bundle` (so their sha256
is checked); backends that need a file on disk (adb, AI Hub, the estimator) get one via
:meth:`Target.files`, extracted to a temporary directory when the bundle is a zip.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from edgeface.errors import EdgefaceError

MODEL_SUFFIXES = {".tflite": "tflite", ".onnx": "onnx"}


class BenchError(EdgefaceError):
    """A benchmark cannot run as asked (a bad argument, a missing tool, a device problem)."""


@dataclass(frozen=True)
class ModelEntry:
    """One model to benchmark: its role in a bundle ("model" for a lone file), its format
    and its bytes."""

    role: str                       # detector, embedder, or "model" for a lone file
    name: str                       # file name, for tables and remote paths
    format: str                     # tflite or onnx
    data: bytes
    where: str                      # "bundle/detector.tflite" or the file's path, for messages
    local_path: Optional[Path] = None  # the file itself when it lies on disk unpacked

    @functools.cached_property
    def precision(self) -> str:
        return model_precision(self.data, self.format)


@dataclass(frozen=True)
class Target:
    """The command line's MODEL_OR_BUNDLE, opened."""

    path: Path
    is_bundle: bool
    models: tuple[ModelEntry, ...]
    bundle: object = None           # the edgeface.bundle.Bundle, for bundles

    @property
    def label(self) -> str:
        return str(self.path)

    def roles(self) -> list[str]:
        return [m.role for m in self.models]

    @contextlib.contextmanager
    def files(self) -> Iterator[list[tuple[ModelEntry, Path]]]:
        """Each model with a path on disk (a temporary copy where it has none)."""
        with tempfile.TemporaryDirectory(prefix="edgeface-bench-") as tmp:
            out = []
            for entry in self.models:
                path = entry.local_path
                if path is None:
                    path = Path(tmp) / entry.role / entry.name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(entry.data)
                out.append((entry, path))
            yield out


def open_target(path: str | Path) -> Target:
    """A .tflite/.onnx file, or a bundle directory/zip; raises ``BenchError`` naming the fix."""
    path = Path(path)
    if not path.exists():
        raise BenchError(f"{path}: no such model or bundle: give a .tflite or .onnx file, or a bundle "
                         f"directory / .zip (edgeface models fetch default prints one)")
    if path.is_dir() or (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)) and \
            path.suffix.lower() not in MODEL_SUFFIXES:
        return _open_bundle(path)
    fmt = MODEL_SUFFIXES.get(path.suffix.lower()) or _sniff_format(path)
    if fmt is None:
        raise BenchError(f"{path}: not a model edgeface can benchmark (expected a .tflite or .onnx "
                         f"file, or a bundle directory or .zip)")
    data = path.read_bytes()
    return Target(path, False, (ModelEntry("model", path.name, fmt, data, str(path), path),))


def _open_bundle(path: Path) -> Target:
    from edgeface.bundle import load_bundle

    bundle = load_bundle(path)
    entries = []
    for spec in bundle.manifest.models():
        local = path / spec.file if path.is_dir() else None
        entries.append(ModelEntry(spec.role, Path(spec.file).name, spec.format, bundle.read_model(spec),
                                  f"{bundle.location}/{spec.file}", local))
    return Target(path, True, tuple(entries), bundle)


def _sniff_format(path: Path) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    if head[4:8] == b"TFL3":
        return "tflite"
    return None


def model_precision(data: bytes, fmt: str) -> str:
    """fp32, fp16, dynamic (int8 weights, float activations) or int8, read from the graph's
    tensor types; "unknown" when the graph cannot be read here."""
    try:
        if fmt == "tflite":
            return _tflite_precision(data)
        return _onnx_precision(data)
    except Exception:  # an unreadable graph is for the runtime to report, not for a label
        return "unknown"


def _tflite_precision(data: bytes) -> str:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    details = interpreter.get_tensor_details()
    inputs = interpreter.get_input_details()
    quantized_io = any(np.issubdtype(d["dtype"], np.integer) and d["quantization"][0] != 0.0
                       for d in inputs)
    dtypes = {np.dtype(d["dtype"]) for d in details}
    integer_tensors = [d for d in details if np.dtype(d["dtype"]) in (np.dtype(np.int8), np.dtype(np.uint8))]
    if quantized_io:
        return "int8"
    if np.dtype(np.float16) in dtypes:
        return "fp16"
    if integer_tensors:
        # Float I/O around an int8 graph has QUANTIZE ops; dynamic range has int8 weights only.
        ops = getattr(interpreter, "_get_ops_details", lambda: [])()
        return "int8" if any(op.get("op_name") == "QUANTIZE" for op in ops) else "dynamic"
    return "fp32"


def _onnx_precision(data: bytes) -> str:
    try:
        import onnx
    except ImportError:
        return "unknown"
    model = onnx.load_from_string(data)
    ops = {n.op_type for n in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"
