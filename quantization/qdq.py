"""ONNX models made ready for the Hexagon HTP: static shapes, then QDQ quantisation.

The HTP compiles a fixed graph: the batch is pinned to 1 and shape arithmetic that
exporters leave behind (Shape -> Gather -> Concat -> Reshape) is folded away by onnxslim
before anything else. Quantisation follows onnxruntime's QNN recipe
(``get_qnn_qdq_config``): QuantizeLinear/DequantizeLinear pairs around every op, with
the op-specific constraints the HTP needs. The calibration batches are the same ones the
TFLite path uses (``edgeface.quantization.calibration``), in the model's own layout.

Precisions (named as Qualcomm names them):
  w8a8   8-bit weights, 8-bit activations     (fastest; the default)
  w8a16  8-bit weights, 16-bit activations    (when w8a8 loses too much accuracy)
  fp16   no quantisation: the HTP runs the float graph in fp16 (v73 and newer)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeface.errors import ConversionError
from edgeface.fsutil import atomic_write_bytes

HTP_PRECISIONS = ("w8a8", "w8a16", "fp16")


def static_model(onnx_path: str | Path, out: str | Path, input_shape: Sequence[int] | None = None) -> Path:
    """``onnx_path`` with every input/output batch dimension set to 1 (the one image input
    set to ``input_shape`` when given: sizes the user fixed) and constant shape arithmetic
    folded (onnxslim), written to ``out``."""
    import onnx
    import onnxslim

    model = onnx.load(str(onnx_path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = 1
    if input_shape is not None and len(model.graph.input) == 1:
        for dim, size in zip(model.graph.input[0].type.tensor_type.shape.dim, input_shape):
            dim.dim_value = int(size)
    for value in model.graph.input:
        unknown = [d.dim_param or "?" for d in value.type.tensor_type.shape.dim[1:] if not d.dim_value]
        if unknown:
            raise ConversionError(f"{onnx_path}: input {value.name!r} has dynamic dimensions "
                                  f"({', '.join(unknown)}): the HTP needs a fixed input size; fix it with "
                                  f"--input-shape {value.name}:1,3,H,W (the model's own layout)")
    try:
        model = onnxslim.slim(model)
    except Exception as exc:
        raise ConversionError(f"{onnx_path}: could not fold the graph's shape arithmetic with onnxslim "
                              f"({str(exc).splitlines()[0][:200]})") from None
    atomic_write_bytes(out, model.SerializeToString())
    return Path(out)


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over an (N, ...) array."""

    def __init__(self, input_name: str, batches: np.ndarray):
        self._items = iter([{input_name: sample[None]} for sample in batches])

    def get_next(self):
        return next(self._items, None)


def quantize_for_htp(static_onnx: str | Path, out: str | Path, calibration: np.ndarray,
                     precision: str, per_channel: bool = True) -> Path:
    """QDQ-quantise a static ONNX model for the HTP (``w8a8`` or ``w8a16``).

    ``calibration``: float32 samples in the model input's own layout, shape (N, ...).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize
    from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config

    activations = {"w8a8": QuantType.QUInt8, "w8a16": QuantType.QUInt16}
    if precision not in activations:
        raise ConversionError(f"precision {precision!r} is not a QDQ precision: choose w8a8 or w8a16")
    graph_input = onnx.load(str(static_onnx), load_external_data=False).graph.input[0]
    want = tuple(d.dim_value for d in graph_input.type.tensor_type.shape.dim[1:])
    if tuple(calibration.shape[1:]) != want:
        raise ConversionError(f"calibration samples have shape {tuple(calibration.shape[1:])}, the model "
                              f"input {graph_input.name!r} takes {want}")
    tmp = Path(out).with_suffix(".partial.onnx")
    logging.disable(logging.WARNING)  # onnxruntime's "consider pre-processing" hints, logged per call
    try:
        config = get_qnn_qdq_config(str(static_onnx), _Batches(graph_input.name, calibration),
                                    activation_type=activations[precision], weight_type=QuantType.QUInt8,
                                    per_channel=per_channel)
        quantize(str(static_onnx), str(tmp), config)
        tmp.replace(out)
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    return Path(out)
