"""TensorFlow / TFLite models to ONNX with tf2onnx, and a parity check against the source.

``tf2onnx.convert.from_keras`` does not work with Keras 3 models, so Keras models (and
SavedModel signatures) are wrapped in a ``tf.function`` and converted with
``from_function``; frozen GraphDefs go through ``from_graph_def`` and TFLite files through
``from_tflite``. Output names follow the source's ``output_names``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from edgeface.converters.sources import Source, _first_line, _import_tf, onnx_session, uses_mediapipe_ops
from edgeface.errors import ConversionError
from edgeface.fsutil import atomic_write_bytes
from edgeface.runtime.model import dequantize, quantize


def export_onnx(source: Source, out: str | Path, *, nchw: bool = False, opset: int = 13) -> Path:
    """Write ``source`` as an ONNX model at ``out`` (atomically) and return the path.

    ``nchw``: make the ONNX input NCHW (tf2onnx adds the transpose), as PyTorch-style
    runtimes expect; outputs keep the source's layout.
    """
    out = Path(out)
    if source.kind == "onnx":
        raise ConversionError(f"{source.path} is already ONNX: nothing to export")
    if not 7 <= opset <= 21:
        raise ConversionError(f"opset {opset}: choose an ONNX opset between 7 and 21 (13 is widely supported)")
    tf = _import_tf()
    try:
        import tf2onnx
    except ImportError:
        raise ConversionError("tf2onnx is not installed: pip install 'edgeface[toolchain]'") from None
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    as_nchw = nchw and source.layout == "NHWC"
    tf_logger = tf.get_logger()
    level = tf_logger.level
    try:  # quiet: tf2onnx's progress, TF's v1 deprecation notices, Keras export summaries
        tf_logger.setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto = _convert(tf, tf2onnx, source, as_nchw, opset)
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"{source.path}: tf2onnx could not convert the {source.kind} model "
                              f"({_first_line(exc)}): try another opset, or export ONNX from the "
                              f"training framework") from None
    finally:
        tf_logger.setLevel(level)
    atomic_write_bytes(out, proto.SerializeToString())
    return out


def _convert(tf, tf2onnx, source: Source, as_nchw: bool, opset: int):
    if source.kind == "tflite":
        with tempfile.TemporaryDirectory(prefix="edgeface-tflite-") as folder:
            proto, _ = tf2onnx.convert.from_tflite(
                str(_builtin_tflite(source, Path(folder))), opset=opset,
                inputs_as_nchw=[source.input_name] if as_nchw else None)
        return proto
    if source.kind == "graphdef":
        tensors = {f"{n}:0": n for n in (source.input_name, *source.output_names)}
        proto, _ = tf2onnx.convert.from_graph_def(
            source.handle, input_names=[f"{source.input_name}:0"],
            output_names=[f"{name}:0" for name in source.output_names], opset=opset,
            inputs_as_nchw=[f"{source.input_name}:0"] if as_nchw else None, tensors_to_rename=tensors)
        return proto
    shape = source.input_shape if source.fixed_batch else (None, *source.input_shape[1:])
    spec = tf.TensorSpec(shape, tf.float32, name=source.input_name)
    names = list(source.output_names)
    if source.kind == "keras":
        model = source.handle

        def call(x):
            import keras

            y = model(x, training=False)
            flat = [y[n] for n in names] if isinstance(y, dict) else keras.tree.flatten(y)
            return dict(zip(names, flat))
    elif source.kind == "saved_model":
        signature = source.handle.signatures[source.signature_key or "serving_default"]

        def call(x):
            return signature(**{source.input_name: x})
    else:
        raise ConversionError(f"{source.path}: cannot export a {source.kind} source to ONNX")
    function = tf.function(call, input_signature=[spec])
    proto, _ = tf2onnx.convert.from_function(
        function, input_signature=[spec], opset=opset,
        inputs_as_nchw=[source.input_name] if as_nchw else None)
    return proto


def onnx_parity(source: Source, onnx_path: str | Path, inputs: np.ndarray) -> float:
    """Largest absolute difference between the source's outputs and the ONNX model's
    (run with onnxruntime) on ``inputs`` (a float batch in the source's layout). An ONNX
    input in the other layout (``export_onnx(..., nchw=True)``) is fed transposed.

    A comparison that proves nothing raises ``ConversionError`` naming the output: one
    that is empty, holds NaN or inf, or differs in shape (give real inputs, such as the
    face images of ``edgeface.quantization.calibration``, not noise)."""
    session = onnx_session(onnx_path)
    x = np.asarray(inputs, dtype=np.float32)
    reference = source.run(x)
    specs = session.get_inputs()
    if len(specs) != 1:
        raise ConversionError(f"{onnx_path}: the ONNX model has {len(specs)} inputs, the source has one")
    spec = specs[0]
    dims = [d if isinstance(d, int) and d > 0 else None for d in spec.shape]
    feed = _to_layout(source, x, dims, onnx_path)
    quant = _tflite_quantization(source)  # a quantised TFLite source exports integer I/O
    if spec.type != "tensor(float)" and source.input_name in quant:
        feed = quantize(feed, quant[source.input_name])
    step = 1 if dims and dims[0] == 1 else max(len(feed), 1)
    outputs = session.get_outputs()
    parts = [session.run(None, {spec.name: feed[i:i + step]}) for i in range(0, len(feed), step)]
    names = [o.name for o in outputs]
    got = [np.concatenate([p[j] for p in parts]) for j in range(len(outputs))]
    got = [dequantize(g, quant[n]) if n in quant and not np.issubdtype(g.dtype, np.floating) else g
           for g, n in zip(got, names)]
    if len(got) != len(reference):
        raise ConversionError(f"{onnx_path}: {len(got)} outputs, the source has {len(reference)}")
    order = [names.index(n) for n in source.output_names] if set(source.output_names) <= set(names) \
        else list(range(len(got)))
    error = 0.0
    for ref, j in zip(reference, order):
        g = got[j]
        if g.shape != ref.shape and g.ndim == 4:
            for perm in ((0, 3, 1, 2), (0, 2, 3, 1)):
                if g.transpose(perm).shape == ref.shape:
                    g = g.transpose(perm)
                    break
        _check_comparable(names[j], ref, g, len(x), onnx_path)
        error = max(error, float(np.max(np.abs(g.astype(np.float32) - ref))))
    return error


def _check_comparable(name: str, ref: np.ndarray, got: np.ndarray, inputs: int, where) -> None:
    """Refuse a pair of outputs whose difference would prove nothing: shapes that differ,
    no values at all, or NaN / inf on either side."""
    if got.shape != ref.shape:
        raise ConversionError(f"{where}: output {name!r} has shape {got.shape}, the source's has {ref.shape} "
                              f"on the same {inputs} inputs: the export changed this output")
    if ref.size == 0:
        raise ConversionError(f"{where}: output {name!r} is empty (shape {ref.shape}) in both models on {inputs} "
                              f"real face inputs, so nothing was compared: check that these are the right inputs "
                              f"(--mean/--std/--bgr) and that the output is not filtered away inside the graph")
    for model, values in (("the source", ref), ("the ONNX model", got)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise ConversionError(f"{where}: output {name!r} of {model} has {bad} NaN or inf value(s) on {inputs} "
                                  f"real face inputs, so the two cannot be compared: check the input normalisation "
                                  f"(--mean/--std) and the model")


def _builtin_tflite(source: Source, folder: Path) -> Path:
    """The TFLite source's file, or, when it calls MediaPipe's custom ops (which tf2onnx
    does not know), its replay with builtin ops written in ``folder``."""
    data = Path(source.path).read_bytes()
    if not uses_mediapipe_ops(data, Path(source.path)):
        return Path(source.path)
    from edgeface.converters.tflite import replayed_model

    path = folder / Path(source.path).name
    path.write_bytes(replayed_model(data, str(source.path)))
    return path


def _tflite_quantization(source: Source) -> dict:
    """name -> TensorInfo of a TFLite source's quantised input/output tensors."""
    if source.kind != "tflite":
        return {}
    backend = source.handle
    return {t.name: t for t in (*backend.inputs, *backend.outputs) if t.quantized}


def _to_layout(source: Source, x: np.ndarray, dims: list, where) -> np.ndarray:
    """``x`` (source layout) in the layout of an ONNX input with ``dims``."""
    def fits(shape):
        return len(dims) == len(shape) and all(d is None or d == s for d, s in zip(dims[1:], shape[1:]))

    if fits(x.shape):
        return x
    if x.ndim == 4:
        for perm in ((0, 3, 1, 2), (0, 2, 3, 1)):
            t = x.transpose(perm)
            if fits(t.shape):
                return np.ascontiguousarray(t)
    raise ConversionError(f"{where}: the ONNX input takes {dims}, the source's inputs are {x.shape[1:]}")
