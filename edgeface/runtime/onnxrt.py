"""onnxruntime backend (optional extra ``onnx``), for bundles that carry ONNX models, and
for Hexagon contexts (EPContext models) on the QNN HTP backend (extra ``qnn``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.errors import BackendUnavailableError, InferenceError, ModelLoadError
from edgeface.runtime import TensorInfo, first_line

_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
           "tensor(float16)": np.float16, "tensor(int32)": np.int32, "tensor(int64)": np.int64}


def _info(arg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else -1 for d in arg.shape)
    return TensorInfo(arg.name, shape, np.dtype(_DTYPES.get(arg.type, np.float32)))


class OnnxRuntimeBackend:
    def __init__(self, data: bytes, where: str, num_threads: int = 1, accelerator: str | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendUnavailableError(
                f"{where} is an ONNX model and onnxruntime is not installed: "
                f"pip install 'edgeface[onnx]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if accelerator == "qnn-htp":
            from edgeface.runtime.qnn import add_htp

            add_htp(options)
            providers = None  # the provider comes with the device added to the options
        elif accelerator is not None:
            raise BackendUnavailableError(f"{where}: unknown accelerator {accelerator!r} (edgeface knows qnn-htp)")
        try:
            self._session = ort.InferenceSession(data, sess_options=options, providers=providers)
        except Exception as exc:
            raise ModelLoadError(f"{where}: onnxruntime cannot load this model ({first_line(exc)}): "
                                 f"the file is corrupt or not ONNX") from None
        self._where = where
        self.inputs = [_info(a) for a in self._session.get_inputs()]
        self.outputs = [_info(a) for a in self._session.get_outputs()]
        self._names = [a.name for a in self.inputs]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._session.run(None, dict(zip(self._names, inputs)))
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise InferenceError(f"{self._where}: onnxruntime failed to run the model on inputs "
                                 f"{[a.shape for a in inputs]} ({first_line(exc)})") from None
