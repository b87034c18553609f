"""A loaded model with float32 in and out, whatever its tensors' quantisation."""

from __future__ import annotations


import numpy as np

from edgeface.bundle import Bundle, ModelSpec
from edgeface.errors import ModelLoadError
from edgeface.runtime import Backend, TensorInfo, open_backend


class Model:
    def __init__(self, backend: Backend, spec: ModelSpec, where: str):
        self.backend = backend
        self.spec = spec
        if len(backend.inputs) != 1:
            raise ModelLoadError(f"{where}: expected one input tensor, the model has {len(backend.inputs)}")
        self.input: TensorInfo = backend.inputs[0]
        self.outputs = backend.outputs
        _check_input(self.input, spec, where)

    @classmethod
    def from_bundle(cls, bundle: Bundle, spec: ModelSpec, num_threads: int = 1, soc: str | None = None) -> "Model":
        """Load the model's portable file, or with ``soc`` its build for that SoC's
        accelerator (``targets`` in the manifest)."""
        if soc is None:
            where = f"{bundle.location}/{spec.file}"
            return cls(open_backend(spec.format, bundle.read_model(spec), where, num_threads), spec, where)
        target = spec.targets.get(soc)
        if target is None:
            built = ", ".join(spec.targets) or "none"
            raise ModelLoadError(f"{bundle.location}: the {spec.role} has no build for {soc} (built for: {built}): "
                                 f"run edgeface compile for it with --soc {soc}")
        where = f"{bundle.location}/{target.file}"
        backend = open_backend(target.format, bundle.read_model(target), where, num_threads, target.accelerator)
        return cls(backend, spec, where)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        return quantize(x, self.input)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Normalised float32 input batch -> every output as float32."""
        return run_float(self.backend, x)


def run_float(backend: Backend, x: np.ndarray) -> list[np.ndarray]:
    """Run a one-input backend on float32 ``x``, quantising and dequantising as needed."""
    raw = backend.run([quantize(x, backend.inputs[0])])
    return [dequantize(a, info) for a, info in zip(raw, backend.outputs)]


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float32 (already normalised) -> the tensor's dtype, by its scale and zero point."""
    if not info.quantized:
        return x.astype(info.dtype, copy=False)
    bounds = np.iinfo(info.dtype)
    q = np.rint(x * (1.0 / info.scale) + info.zero_point)
    return np.clip(q, bounds.min, bounds.max).astype(info.dtype)


def dequantize(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:
        return (array.astype(np.float32) - info.zero_point) * np.float32(info.scale)
    return array.astype(np.float32, copy=False)


def _check_input(info: TensorInfo, spec: ModelSpec, where: str) -> None:
    s = spec.input
    expected = (s.height, s.width, 3) if s.layout == "NHWC" else (3, s.height, s.width)
    if len(info.shape) != 4 or tuple(info.shape[1:]) != expected:
        raise ModelLoadError(f"{where}: the model's input is {info.shape}, the manifest says "
                             f"{s.layout} {s.width}x{s.height}x3: fix models.{spec.role}.input")
    if info.dtype != np.dtype(s.dtype):
        raise ModelLoadError(f"{where}: the model's input dtype is {info.dtype}, the manifest says "
                             f"{s.dtype}: fix models.{spec.role}.input.dtype")
