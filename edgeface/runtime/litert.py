"""LiteRT (``ai-edge-litert``) interpreter backend, the SDK's default."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.errors import BackendUnavailableError, InferenceError, ModelLoadError
from edgeface.runtime import TensorInfo, first_line
from edgeface.runtime.native_log import without_native_info


def _info(detail: dict) -> TensorInfo:
    scale, zero = detail.get("quantization", (0.0, 0))
    signature = detail.get("shape_signature")
    shape = tuple(int(d) for d in (signature if signature is not None and len(signature) else detail["shape"]))
    return TensorInfo(detail["name"], shape, np.dtype(detail["dtype"]), float(scale), int(zero))


class LiteRTBackend:
    def __init__(self, data: bytes, where: str, num_threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise BackendUnavailableError(
                "LiteRT is not installed: pip install ai-edge-litert (it is a base dependency of "
                "edgeface; reinstall edgeface)") from None
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelLoadError(f"{where}: not a TFLite model (no TFL3 identifier): "
                                 f"check the file or the manifest's format field")
        try:
            with without_native_info():
                self._interpreter = Interpreter(model_content=data, num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except Exception as exc:  # LiteRT raises ValueError, RuntimeError, UnicodeDecodeError...
            raise ModelLoadError(f"{where}: LiteRT cannot load this model ({first_line(exc)}): "
                                 f"the file is corrupt or uses ops this LiteRT lacks") from None
        self._in = self._interpreter.get_input_details()
        self._out = self._interpreter.get_output_details()
        self.inputs = [_info(d) for d in self._in]
        self.outputs = [_info(d) for d in self._out]
        self._shapes = [tuple(d["shape"]) for d in self._in]
        self._where = where

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        it = self._interpreter
        try:
            shapes = [a.shape for a in inputs]
            if shapes != self._shapes:  # a new batch size: resize once, then reuse
                for detail, shape in zip(self._in, shapes):
                    it.resize_tensor_input(detail["index"], shape)
                it.allocate_tensors()
                self._shapes = shapes
            for detail, array in zip(self._in, inputs):
                it.set_tensor(detail["index"], array)
            it.invoke()
            return [it.get_tensor(d["index"]) for d in self._out]
        except (RuntimeError, ValueError) as exc:
            raise InferenceError(f"{self._where}: LiteRT failed to run the model on inputs "
                                 f"{[a.shape for a in inputs]} ({first_line(exc)})") from None
