"""Any source model to TFLite at one precision: fp32, fp16, dynamic, int8 or int16x8.

Keras models go through ``TFLiteConverter.from_keras_model``, SavedModels through
``from_saved_model``, frozen GraphDefs through the v1 ``from_frozen_graph``. ONNX models
are first turned into a SavedModel by onnx2tf, once per source (cached in ``workdir``),
in a child process: importing onnx2tf changes process-wide state (``TF_USE_LEGACY_KERAS``,
warning filters, the recursion limit, op determinism) and it calls ``sys.exit`` on
errors. The child has its network disabled and its sample data provided, since onnx2tf
otherwise downloads sample images even for a float conversion, and it works on a copy
of the ONNX file, since onnx2tf rewrites the file it is given.

Layouts: the TFLite input is in the source's layout, except for NCHW ONNX sources, which
onnx2tf turns into NHWC (an NHWC ONNX input, as tf2onnx exports, is kept NHWC). onnx2tf
leaves 4-D outputs NHWC as well (an NCHW ``(1, 2, 16, 16)`` output comes out
``(1, 16, 16, 2)``); 2-D outputs are unchanged.
Tensor names: the converted model's input and output tensors (and signature keys) are
renamed to the source's ``input_name`` and ``output_names``; the TFLite output order
may still differ from the source's, so match outputs by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from edgeface.converters.sources import Source, _first_line, _import_tf, cut_onnx
from edgeface.errors import ConversionError
from edgeface.fsutil import atomic_write_bytes, write_json

PRECISIONS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
IO_TYPES = ("float32", "int8", "uint8")
ONNX2TF_TIMEOUT_S = 3600
_META = "edgeface_onnx2tf.json"


def convert_to_tflite(source: Source, precision: str, calibration: np.ndarray | None = None, *,
                      io_type: str = "float32", workdir: Path) -> bytes:
    """Convert ``source`` to a TFLite flatbuffer at ``precision``.

    ``calibration``: normalised float32 inputs in NHWC (N, H, W, C), required for int8 and
    int16x8. ``io_type`` (int8 only): the model's input/output type, "float32" (float I/O
    around an int8 graph), "int8" or "uint8". ``workdir`` holds intermediate files (the
    onnx2tf SavedModel of an ONNX source, reused by later precisions).
    """
    if precision not in PRECISIONS:
        raise ConversionError(f"precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    if io_type not in IO_TYPES:
        raise ConversionError(f"io_type {io_type!r}: choose from {', '.join(IO_TYPES)}")
    if io_type != "float32" and precision != "int8":
        raise ConversionError(f"io_type {io_type}: integer input/output applies to int8 only; "
                              f"{precision} models keep float32 input and output")
    needs_calibration = precision in ("int8", "int16x8")
    if needs_calibration:
        calibration = _check_calibration(source, calibration, precision)
    workdir = Path(workdir)
    tf = _import_tf()
    names: dict[str, str] = {}  # TFLite signature key -> source name
    converter = _converter(tf, source, workdir, calibration, names, precision)
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif needs_calibration:
        samples = calibration

        def representative():
            for i in range(len(samples)):
                yield [samples[i:i + 1]]

        converter.representative_dataset = representative
        if precision == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            dtype = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[io_type]
            converter.inference_input_type = dtype
            converter.inference_output_type = dtype
        else:
            # Ops without a 16x8 kernel (PReLU, among others, in TF 2.21) stay float.
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        with _quiet():
            data = bytes(converter.convert())
    except Exception as exc:
        raise ConversionError(
            f"{source.path}: TFLite conversion to {precision} failed ({_first_line(exc)})"
            + (": if an op has no int8 kernel, try int16x8, dynamic or fp16"
               if precision == "int8" else ": check that the model runs in TensorFlow")) from None
    data = _rename_io(data, source, names)
    return float_depthwise_weights(data) if precision == "dynamic" else data


def float_depthwise_weights(data: bytes) -> bytes:
    """A dynamic-range model with its depthwise convolutions' int8 weights widened back to
    float32. XNNPACK runs no depthwise convolution with int8 weights on float activations:
    the face mesh's nine largest were left to the CPU kernels and the graph cut into 19
    parts, for a few KiB of weights saved."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    from edgeface.converters.tflite_graph import TFLiteGraph, dequantized

    graph = TFLiteGraph(data, "the dynamic-range model")
    model = fbu.convert_bytearray_to_object(bytearray(data))
    tensors = model.subgraphs[0].tensors
    shared = Counter(t.buffer for t in tensors)
    changed = False
    for op in graph.graph.operators:
        index = op.inputs[1] if len(op.inputs) > 1 else -1
        if graph.op_name(op) != "DEPTHWISE_CONV_2D" or graph.type_name(index) != "INT8" \
                or shared[tensors[index].buffer] != 1:
            continue
        tensor = tensors[index]
        stored = np.frombuffer(bytes(model.buffers[tensor.buffer].data), np.int8).reshape(tuple(tensor.shape))
        model.buffers[tensor.buffer].data = np.frombuffer(
            dequantized(stored, tensor.quantization).astype(np.float32).tobytes(), np.uint8)
        tensor.type, tensor.quantization = 0, None  # TensorType.FLOAT32
        changed = True
    return bytes(fbu.convert_object_to_bytearray(model)) if changed else data


def _check_calibration(source: Source, calibration, precision: str) -> np.ndarray:
    if calibration is None:
        raise ConversionError(f"precision {precision} needs calibration data: pass calibration, "
                              f"normalised float32 inputs shaped (N, {', '.join(map(str, source.nhwc_shape[1:]))})"
                              f" (NHWC), ideally 100+ real samples")
    calibration = np.asarray(calibration)
    want = tuple(source.nhwc_shape[1:])
    if calibration.ndim != 4 or tuple(calibration.shape[1:]) != want or len(calibration) == 0:
        hint = " (it looks NCHW: transpose it to NHWC)" if calibration.ndim == 4 and \
            tuple(calibration.shape[1:]) == (want[2], want[0], want[1]) else ""
        raise ConversionError(f"calibration has shape {calibration.shape}, expected (N, "
                              f"{', '.join(map(str, want))}) in NHWC{hint}")
    if not np.issubdtype(calibration.dtype, np.floating):
        raise ConversionError(f"calibration is {calibration.dtype}: pass normalised float32 inputs "
                              f"(as the model takes them, not raw uint8 pixels)")
    if not np.all(np.isfinite(calibration)):
        raise ConversionError("calibration holds NaN or infinite values: check its normalisation")
    return np.ascontiguousarray(calibration, dtype=np.float32)


def _converter(tf, source: Source, workdir: Path, calibration, names: dict[str, str], precision: str):
    try:
        if source.kind == "tflite":
            from edgeface.converters.tflite_graph import tflite_function

            function = tflite_function(tf, Path(source.path).read_bytes(), str(source.path), precision=precision)
            with _quiet():
                return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
        if source.kind in ("keras", "saved_model") and _free_size(source):
            names.update({f"output_{i}": n for i, n in enumerate(source.output_names)})
            return _fixed_size_converter(tf, source)
        if source.kind == "keras":
            names.update({f"output_{i}": n for i, n in enumerate(source.output_names)})
            with _quiet():
                return tf.lite.TFLiteConverter.from_keras_model(source.handle)
        if source.kind == "saved_model":
            key = source.signature_key or "serving_default"
            return tf.lite.TFLiteConverter.from_saved_model(str(source.path), signature_keys=[key])
        if source.kind == "graphdef":
            return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
                str(source.path), [source.input_name], list(source.output_names),
                {source.input_name: list(source.input_shape)})
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"{source.path}: TFLite converter cannot read the {source.kind} model "
                              f"({_first_line(exc)})") from None
    if source.kind == "onnx":
        saved, meta = onnx_to_saved_model(source, workdir, calibration)
        names.update({o["key"]: o["onnx"] for o in meta["outputs"]})
        return tf.lite.TFLiteConverter.from_saved_model(str(saved))
    raise ConversionError(f"{source.path}: cannot convert a {source.kind} source to TFLite")


def _free_size(source: Source) -> bool:
    """Whether the Keras model or SavedModel signature leaves its height or width free
    (``input_shape`` fixed them in ``source``)."""
    if source.kind == "keras":
        dims = source.handle.inputs[0].shape
    else:
        args, kwargs = source.handle.signatures[source.signature_key].structured_input_signature
        dims = next(iter([*args, *kwargs.values()])).shape.as_list()
    return any(d is None for d in dims[1:])


def _fixed_size_converter(tf, source: Source):
    """A converter for the model traced at the source's (user-fixed) batch-1 input shape:
    converting the model's own signature would keep its free height/width."""
    if source.kind == "keras":
        model, function = source.handle, (lambda x: source.handle(x, training=False))
    else:
        signature = source.handle.signatures[source.signature_key]
        model = source.handle

        def function(x):
            y = signature(**{source.input_name: x})
            return [y[n] for n in source.output_names] if isinstance(y, dict) else y

    spec = tf.TensorSpec(source.input_shape, tf.float32)
    concrete = tf.function(function).get_concrete_function(spec)
    with _quiet():
        return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


@contextlib.contextmanager
def _quiet():
    """Swallow what Keras and the converter print to stdout (export summaries) and warn."""
    import warnings

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _rename_io(data: bytes, source: Source, names: dict[str, str]) -> bytes:
    """Name the TFLite input/output tensors (and signature keys) as the source does.
    Best effort: the model is returned unchanged if its flatbuffer cannot be rewritten."""
    try:
        from tensorflow.lite.tools import flatbuffer_utils as fbu

        model = fbu.convert_bytearray_to_object(bytearray(data))
        if len(model.subgraphs) != 1:
            return data
        if not model.signatureDefs:
            return _rename_in_order(fbu, model, source) if source.kind == "tflite" else data
        tensors = model.subgraphs[0].tensors
        changed = False
        for signature in model.signatureDefs:
            if len(signature.inputs or []) == 1:
                item = signature.inputs[0]
                tensors[item.tensorIndex].name = source.input_name.encode()
                item.name = source.input_name.encode()
                changed = True
            for item in signature.outputs or []:
                new = names.get(item.name.decode(), item.name.decode())
                tensors[item.tensorIndex].name = new.encode()
                item.name = new.encode()
                changed = True
        return bytes(fbu.convert_object_to_bytearray(model)) if changed else data
    except ConversionError:
        raise
    except Exception:
        return data


def _rename_in_order(fbu, model, source: Source) -> bytes:
    return _named_in_order(fbu, model, source.input_name, source.output_names, str(source.path))


def _named_in_order(fbu, model, input_name: str, output_names: list[str], where: str) -> bytes:
    """A model converted from a TFLite source has no signature: its outputs are the
    replayed function's, in the source's order (``tflite_graph.tflite_function``)."""
    graph = model.subgraphs[0]
    if len(graph.outputs) != len(output_names) or len(graph.inputs) != 1:
        raise ConversionError(f"{where}: the converted model has {len(graph.outputs)} outputs, the source "
                              f"{len(output_names)}")
    graph.tensors[graph.inputs[0]].name = input_name.encode()
    for index, name in zip(graph.outputs, output_names):
        graph.tensors[index].name = name.encode()
    return bytes(fbu.convert_object_to_bytearray(model))


def replayed_model(data: bytes, where: str) -> bytes:
    """The float TFLite model ``data`` made again at fp32 from its replay
    (``tflite_graph``), its input and outputs named as in ``data``. For a model that LiteRT
    cannot load as it is (MediaPipe's custom ops), this is the model conversions are
    checked against; the replay itself is checked against MediaPipe's own runtime in
    scripts/bench_landmarks.py."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    from edgeface.converters.tflite_graph import TFLiteGraph, tflite_function

    tf = _import_tf()
    graph = TFLiteGraph(data, where)
    function = tflite_function(tf, data, where)
    try:
        with _quiet():
            converted = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()],
                                                                        function).convert()
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"{where}: the replayed model does not convert ({_first_line(exc)})") from None
    return _named_in_order(fbu, fbu.convert_bytearray_to_object(bytearray(converted)),
                           graph.tensor_name(graph.graph.inputs[0]),
                           [graph.tensor_name(i) for i in graph.graph.outputs], where)


# -- ONNX -> SavedModel through onnx2tf ----------------------------------------------------

def onnx_to_saved_model(source: Source, workdir: Path, calibration: np.ndarray | None = None
                        ) -> tuple[Path, dict]:
    """Convert an ONNX source to an NHWC SavedModel with onnx2tf (cached in ``workdir``).

    Returns the SavedModel directory and its description: ``input`` (the signature's input
    key), ``input_shape`` (NHWC), ``outputs`` (``onnx`` name, signature ``key``, TF
    ``shape``, ``nhwc``: whether onnx2tf left a 4-D output NHWC) and ``max_abs_error``
    against onnxruntime on the calibration samples.
    """
    if source.kind != "onnx":
        raise ConversionError(f"{source.path} is not an ONNX model")
    hasher = hashlib.sha256(Path(source.path).read_bytes())
    hasher.update(repr(source.cut_outputs).encode())  # a graph cut at other outputs is another model
    digest = hasher.hexdigest()[:16]
    shape_tag = "x".join(map(str, source.input_shape))
    # absolute: the child process runs in ``folder`` and reads its paths from there
    folder = (Path(workdir) / f"onnx2tf_{Path(source.path).stem}_{digest}_{shape_tag}").resolve()
    meta_path = folder / _META
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if (folder / "saved_model" / "saved_model.pb").is_file():
            return folder / "saved_model", meta
    folder.mkdir(parents=True, exist_ok=True)
    if calibration is None or len(calibration) == 0:  # onnx2tf needs sample inputs; never its download
        rng = np.random.default_rng(0)
        calibration = rng.uniform(-1, 1, (4, *source.nhwc_shape[1:])).astype(np.float32)
    samples = np.ascontiguousarray(calibration[:8], dtype=np.float32)
    np.save(folder / "samples_nhwc.npy", samples)
    onnx_path = Path(source.path).resolve()
    if source.cut_outputs is not None:
        onnx_path = folder / "cut.onnx"
        cut = cut_onnx(source.path, source.input_name, source.cut_outputs)
        atomic_write_bytes(onnx_path, cut.SerializeToString())
    spec = {"onnx": str(onnx_path), "folder": str(folder),
            "input": source.input_name, "input_shape_nchw": list(source.input_shape),
            "layout": source.layout, "outputs": list(source.output_names)}
    spec_path = folder / "spec.json"
    write_json(spec_path, spec)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    code = ("import sys; from edgeface.converters.tflite import _onnx2tf_worker as w; "
            "sys.exit(w(sys.argv[1]))")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(spec_path)], capture_output=True, text=True,
                              env=env, timeout=ONNX2TF_TIMEOUT_S, cwd=folder)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{source.path}: onnx2tf took more than {ONNX2TF_TIMEOUT_S} s: simplify "
                              f"the model (onnxslim) or convert it by hand") from None
    error_path = folder / "error.json"
    if proc.returncode != 0 or not meta_path.is_file():
        reason = json.loads(error_path.read_text())["error"] if error_path.is_file() else \
            _onnx2tf_reason(proc.stdout + "\n" + proc.stderr)
        raise ConversionError(f"{source.path}: onnx2tf could not convert the model ({reason}): "
                              f"check the model with onnxruntime, or simplify it (onnxslim)")
    meta = json.loads(meta_path.read_text())
    scale = max(1.0, meta.get("max_abs_reference", 1.0))
    if meta.get("max_abs_error", 0.0) > 1e-3 * scale:
        raise ConversionError(f"{source.path}: onnx2tf's TensorFlow graph differs from onnxruntime by "
                              f"{meta['max_abs_error']:.3g} (outputs up to {scale:.3g}): the conversion "
                              f"is wrong; convert with parameter replacement or export NHWC from the "
                              f"original framework")
    return folder / "saved_model", meta


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _onnx2tf_reason(text: str) -> str:
    lines = [_ANSI.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for marker in ("ERROR:", "Error:", "Error", "error"):
        hits = [line for line in lines if marker in line]
        if hits:
            return hits[-1][:300]
    return lines[-1][:300] if lines else "no output"


def _key(name: str, used: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "output"
    if not key[0].isalpha():
        key = "t_" + key
    base, n = key, 1
    while key in used:
        key, n = f"{base}_{n}", n + 1
    used.add(key)
    return key


def _onnx2tf_worker(spec_path: str) -> int:
    """Child process: ONNX -> SavedModel with onnx2tf, offline. Writes the SavedModel and
    edgeface_onnx2tf.json (last), or error.json."""
    spec = json.loads(Path(spec_path).read_text())
    folder = Path(spec["folder"])
    _disable_network()
    try:
        meta = _onnx2tf_offline(spec, folder)
    except _Onnx2TfFailure as exc:
        write_json(folder / "error.json", {"error": str(exc)})
        return 3
    write_json(folder / _META, meta, indent=1)
    return 0


class _Onnx2TfFailure(Exception):
    """Why the worker could not convert: written to error.json for the parent."""


def _disable_network() -> None:
    """onnx2tf downloads test images unless stopped: no socket connects in this process."""
    import socket

    def offline(*args, **kwargs):
        raise OSError("edgeface: network access is disabled while onnx2tf runs")

    socket.socket.connect = offline  # type: ignore[method-assign]
    socket.create_connection = offline  # type: ignore[assignment]


def _onnx2tf_offline(spec: dict, folder: Path) -> dict:
    """Convert, write the SavedModel and check it against onnxruntime; its description."""
    model, samples = _run_onnx2tf(spec, folder)
    if len(model.outputs) != len(spec["outputs"]):
        raise _Onnx2TfFailure(f"onnx2tf made {len(model.outputs)} outputs, the ONNX model has "
                              f"{len(spec['outputs'])}")
    used: set[str] = set()
    keys = [_key(n, used) for n in spec["outputs"]]
    input_key = _key(spec["input"], set(keys))
    serve = _write_saved_model(model, keys, input_key, folder)
    layouts = getattr(model, "onnx_output_layouts", {}) or {}
    tensor = model.inputs[0]
    return {"onnx": spec["onnx"], "input": input_key,
            "input_shape": [-1 if d is None else int(d) for d in tensor.shape],
            **_compare_with_onnxruntime(spec, samples, serve, keys, layouts)}


def _run_onnx2tf(spec: dict, folder: Path):
    """onnx2tf on a private copy of the ONNX file, calibrated with the parent's samples (its
    own download is never used); the Keras model it builds, and the samples."""
    try:
        import onnx2tf.onnx2tf as o2t
    except ImportError as exc:
        from edgeface.cli.toolchain import INSTALL_HINT  # the installer module: stdlib only

        raise _Onnx2TfFailure(f"onnx2tf is not installed ({exc}): {INSTALL_HINT}") from None
    work_onnx = _private_copy(spec["onnx"], folder)
    samples_path = folder / "samples_nhwc.npy"
    samples = np.load(samples_path)
    o2t.download_test_image_data = lambda: samples  # used for its own checks; never download
    name = spec["input"]
    c = samples.shape[-1]
    kwargs = dict(
        input_onnx_file_path=str(work_onnx), output_folder_path=str(folder / "onnx2tf_out"),
        output_signaturedefs=True, non_verbose=True, disable_model_save=True,
        custom_input_op_name_np_data_path=[[name, str(samples_path), np.zeros((1, 1, 1, c), np.float32),
                                            np.ones((1, 1, 1, c), np.float32)]],
        overwrite_input_shape=[f"{name}:{','.join(map(str, spec['input_shape_nchw']))}"])
    if spec["layout"] == "NHWC":  # onnx2tf takes every 4-D input for NCHW unless told
        kwargs["keep_nwc_or_nhwc_or_ndhwc_input_names"] = [name]
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            return o2t.convert(**kwargs), samples
    except SystemExit:
        raise _Onnx2TfFailure(_onnx2tf_reason(log.getvalue())) from None
    except Exception as exc:
        raise _Onnx2TfFailure(_first_line(exc)) from None


def _private_copy(onnx_path: str, folder: Path) -> Path:
    """onnx2tf rewrites the ONNX file it is given (onnxsim, shape inference, op names):
    give it a copy in ``folder``, never the user's file."""
    import onnx

    work_onnx = folder / "model.onnx"
    try:
        proto = onnx.load(onnx_path)
        try:
            onnx.save(proto, str(work_onnx))
        except ValueError:  # over 2 GB: keep the weights beside it
            onnx.save(proto, str(work_onnx), save_as_external_data=True, location="model.onnx.data")
    except Exception as exc:
        raise _Onnx2TfFailure(f"cannot read the ONNX model: {_first_line(exc)}") from None
    return work_onnx


def _write_saved_model(model, keys: list[str], input_key: str, folder: Path):
    """Export ``model`` as folder/saved_model with one serving signature whose outputs are
    named ``keys``; the serving function."""
    import tensorflow as tf
    import tf_keras

    def serve(x):
        y = model(x)
        y = list(y) if isinstance(y, (list, tuple)) else [y]
        return dict(zip(keys, y))

    archive = tf_keras.export.ExportArchive()
    archive.track(model)
    tensor = model.inputs[0]
    archive.add_endpoint(name="serving_default", fn=serve,
                         input_signature=[tf.TensorSpec(tensor.shape, tensor.dtype, name=input_key)])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            archive.write_out(str(folder / "saved_model"))
    except Exception as exc:
        raise _Onnx2TfFailure(f"writing the SavedModel failed: {_first_line(exc)}") from None
    return serve


def _compare_with_onnxruntime(spec: dict, samples: np.ndarray, serve, keys: list[str], layouts: dict) -> dict:
    """Run the TF graph and onnxruntime on the samples: each output's key, shape and layout
    (onnx2tf may leave a 4-D output NHWC), the largest difference and the largest value."""
    import onnxruntime as ort
    import tensorflow as tf

    session = ort.InferenceSession(spec["onnx"], providers=["CPUExecutionProvider"])
    error, peak = 0.0, 0.0
    nhwc: list[bool | None] = [None] * len(keys)
    shapes: list[list[int]] = []
    for i in range(len(samples)):
        x = samples[i:i + 1]
        ref = session.run(spec["outputs"], {spec["input"]: x.transpose(0, 3, 1, 2) if spec["layout"] == "NCHW"
                                            else x})
        got = [np.asarray(t) for t in serve(tf.constant(x)).values()]
        shapes = [list(map(int, g.shape)) for g in got]
        for j, (r, g) in enumerate(zip(ref, got)):
            options = {False: g}  # onnx2tf may leave a 4-D output NHWC: compare both ways
            if g.ndim == 4:
                options[True] = g.transpose(0, 3, 1, 2)
            if nhwc[j] is None:
                fits = {t: float(np.max(np.abs(r - a))) for t, a in options.items() if a.shape == r.shape}
                if not fits:
                    raise _Onnx2TfFailure(f"onnx2tf output {keys[j]} has shape {g.shape}, the ONNX output {r.shape}")
                if len(fits) == 2 and fits[True] == fits[False]:  # symmetric: trust onnx2tf's flag
                    nhwc[j] = bool(layouts.get(spec["outputs"][j], True))
                else:
                    nhwc[j] = min(fits, key=fits.get)
            error = max(error, float(np.max(np.abs(r - options[nhwc[j]]))))
            peak = max(peak, float(np.max(np.abs(r))))
    return {"outputs": [{"onnx": n, "key": k, "shape": s, "nhwc": bool(t)}
                        for n, k, s, t in zip(spec["outputs"], keys, shapes, nhwc)],
            "max_abs_error": error, "max_abs_reference": peak}
