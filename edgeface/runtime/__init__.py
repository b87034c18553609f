"""Interpreter backends behind one small interface.

A backend runs a model on numpy arrays in the model's own dtypes; ``Model`` adds the
quantisation arithmetic so the rest of the SDK only sees float32. LiteRT is the default;
onnxruntime is optional (``pip install edgeface[onnx]``) and imported only when a bundle
holds an ONNX model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # -1 (or 1 for LiteRT) where the batch size can change
    dtype: np.dtype
    scale: float = 0.0  # affine quantisation: real = scale * (q - zero_point); 0 when float
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)


class Backend(Protocol):
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run on arrays matching ``inputs`` (batch size may differ); return every output."""


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def open_backend(fmt: str, data: bytes, where: str, num_threads: int = 1,
                 accelerator: str | None = None) -> Backend:
    """Load model bytes with the backend for ``fmt`` ("tflite" or "onnx"); ``accelerator``
    "qnn-htp" runs an ONNX EPContext model on the Qualcomm HTP (a simulator on x86_64)."""
    if fmt == "tflite":
        from edgeface.runtime.litert import LiteRTBackend

        return LiteRTBackend(data, where, num_threads)
    from edgeface.runtime.onnxrt import OnnxRuntimeBackend

    return OnnxRuntimeBackend(data, where, num_threads, accelerator)
