"""Conversion toolchain: sources of every kind load, convert to TFLite at every precision
and match the source numerically; TF/TFLite export to ONNX with parity; bad inputs raise
ConversionError. Models are tiny and built in code (tests/toolchain_models.py); no test
uses the network (the parent process's sockets are disabled, onnx2tf's child disables
its own)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnxruntime")

from edgeface.converters.onnx_export import export_onnx, onnx_parity  # noqa: E402
from edgeface.converters.sources import load_source  # noqa: E402
from edgeface.converters.tflite import PRECISIONS, convert_to_tflite  # noqa: E402
from edgeface.errors import ConversionError  # noqa: E402
from tests import toolchain_models as tm  # noqa: E402

# Keras's own model.save / export trip numpy 2's copy-keyword deprecation.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

KINDS = ("keras", "saved_model", "graphdef", "onnx")
BUILDERS = {"keras": tm.keras_model, "saved_model": tm.saved_model, "graphdef": tm.frozen_graph,
            "onnx": tm.onnx_model}


@pytest.fixture(scope="module", autouse=True)
def no_network():
    def refuse(*args, **kwargs):
        raise OSError("tests must not use the network")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("toolchain_models")


@pytest.fixture(scope="module")
def paths(model_dir):
    return {kind: build(model_dir) for kind, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def sources(paths):
    return {kind: load_source(path) for kind, path in paths.items()}


@pytest.fixture(scope="module")
def calibration():
    return tm.calibration_images(32, seed=0)


@pytest.fixture(scope="module")
def eval_inputs():
    return tm.calibration_images(6, seed=11)  # NHWC, like calibration but unseen


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("convert_work")


@pytest.fixture(scope="module")
def converted(sources, calibration, workdir):
    """(kind, precision, io_type) -> TFLite bytes, converted once per module."""
    cache: dict = {}

    def get(kind, precision, io_type="float32"):
        key = (kind, precision, io_type)
        if key not in cache:
            calib = calibration if precision in ("int8", "int16x8") else None
            cache[key] = convert_to_tflite(sources[kind], precision, calib, io_type=io_type, workdir=workdir)
        return cache[key]

    return get


# -- helpers -------------------------------------------------------------------------------

def run_tflite(data: bytes, x_nhwc: np.ndarray):
    """Run with ai_edge_litert, one sample at a time; (input detail, {name: float outputs})."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    it.allocate_tensors()
    (inp,) = it.get_input_details()
    results: dict[str, list] = {}
    for i in range(len(x_nhwc)):
        x = x_nhwc[i:i + 1]
        scale, zero = inp["quantization"]
        if scale:
            bounds = np.iinfo(inp["dtype"])
            x = np.clip(np.rint(x / scale + zero), bounds.min, bounds.max)
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        it.invoke()
        for d in it.get_output_details():
            y = it.get_tensor(d["index"]).astype(np.float32)
            scale, zero = d["quantization"]
            results.setdefault(d["name"], []).append((y - zero) * scale if scale else y)
    return inp, {name: np.concatenate(parts) for name, parts in results.items()}


def match_outputs(names, reference, got: dict):
    """Pair each source output with a TFLite output: by name, else by the only output of the
    same shape (allowing a 4-D NHWC <-> NCHW transpose). Returns [(name, ref, aligned got)]."""
    def aligned(g, shape):
        if g.shape == shape:
            return g
        if g.ndim == 4 and g.transpose(0, 3, 1, 2).shape == shape:
            return g.transpose(0, 3, 1, 2)
        return None

    pairs, unused = [], dict(got)
    for name, ref in zip(names, reference):
        if name in unused:
            g = aligned(unused.pop(name), ref.shape)
        else:
            fits = [n for n, g in unused.items() if aligned(g, ref.shape) is not None]
            assert len(fits) == 1, f"cannot match output {name} {ref.shape} among {list(got)}"
            g = aligned(unused.pop(fits[0]), ref.shape)
        assert g is not None, f"output {name}: shape mismatch with the source's {ref.shape}"
        pairs.append((name, ref, g))
    assert not unused, f"TFLite has extra outputs {list(unused)}"
    return pairs


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def slow_if_onnx(kinds):
    return [pytest.param(k, marks=pytest.mark.slow) if k == "onnx" else k for k in kinds]


# -- sources -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,layout,shape,names", [
    ("keras", "NHWC", (1, 64, 64, 3), ["embedding", "heatmap"]),
    ("saved_model", "NHWC", (1, 64, 64, 3), ["output_0", "output_1"]),
    ("graphdef", "NHWC", (1, 64, 64, 3), ["Identity", "Identity_1"]),
    ("onnx", "NCHW", (1, 3, 64, 64), ["embedding", "heatmap"]),
])
def test_source_loads(sources, eval_inputs, kind, layout, shape, names):
    source = sources[kind]
    assert (source.kind, source.layout, source.input_shape, source.output_names) == (kind, layout, shape, names)
    assert source.nhwc_shape == (1, 64, 64, 3)
    out = source.run(source.to_source_layout(eval_inputs))
    heat = (6, 2, 16, 16) if layout == "NCHW" else (6, 16, 16, 2)
    assert [o.shape for o in out] == [(6, 16), heat]
    assert all(o.dtype == np.float32 and np.all(np.isfinite(o)) for o in out)
    np.testing.assert_allclose(source.run(source.to_source_layout(eval_inputs[:1]))[0], out[0][:1],
                               atol=1e-5)  # batch size does not change results


def test_tf_sources_agree(sources, eval_inputs):
    """The same net as Keras, SavedModel and frozen GraphDef gives the same outputs."""
    outs = [sources[k].run(eval_inputs) for k in ("keras", "saved_model", "graphdef")]
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_source_kind_override_and_saved_model_file(paths):
    assert load_source(paths["saved_model"] / "saved_model.pb").kind == "saved_model"
    assert load_source(paths["onnx"], kind="onnx").layout == "NCHW"


def test_run_rejects_wrong_shape(sources):
    with pytest.raises(ConversionError, match="NCHW"):
        sources["onnx"].run(np.zeros((1, 64, 64, 3), np.float32))


# -- TFLite --------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", slow_if_onnx(KINDS))
def test_convert_matches_source(sources, converted, eval_inputs, kind, precision):
    source = sources[kind]
    data = converted(kind, precision)
    assert data[4:8] == b"TFL3"
    inp, got = run_tflite(data, eval_inputs)
    assert tuple(inp["shape"]) == (1, 64, 64, 3) and inp["dtype"] == np.float32  # NHWC, float I/O
    reference = source.run(source.to_source_layout(eval_inputs))
    for name, ref, out in match_outputs(source.output_names, reference, got):
        peak = float(np.max(np.abs(ref)))
        err = float(np.max(np.abs(ref - out)))
        if precision == "fp32":
            assert err < 1e-4 * max(1.0, peak), (name, err)
        elif precision == "fp16":
            assert err < 5e-3 * max(1.0, peak), (name, err)
        else:
            assert cosine(ref, out) >= 0.99, (name, cosine(ref, out))
            assert err < 0.1 * max(1.0, peak), (name, err)


@pytest.mark.parametrize("kind", slow_if_onnx(KINDS))
def test_tflite_names_follow_source(sources, converted, kind):
    from ai_edge_litert.interpreter import Interpreter

    source = sources[kind]
    it = Interpreter(model_content=converted(kind, "fp32"))
    assert [d["name"] for d in it.get_input_details()] == [source.input_name]
    assert sorted(d["name"] for d in it.get_output_details()) == sorted(source.output_names)


@pytest.mark.parametrize("io_type,dtype", [("int8", np.int8), ("uint8", np.uint8)])
def test_int8_integer_io(sources, converted, eval_inputs, io_type, dtype):
    source = sources["graphdef"]
    inp, got = run_tflite(converted("graphdef", "int8", io_type), eval_inputs)
    assert inp["dtype"] == dtype and inp["quantization"][0] > 0
    reference = source.run(eval_inputs)
    for name, ref, out in match_outputs(source.output_names, reference, got):
        assert cosine(ref, out) >= 0.99, name


@pytest.mark.slow
def test_onnx2tf_layout_and_cache(sources, converted, workdir):
    """onnx2tf makes the input NHWC and leaves the 4-D output NHWC; its SavedModel is made once
    and reused for every precision; it writes no TFLite files of its own."""
    import json

    before = sources["onnx"].path.read_bytes()
    converted("onnx", "fp32")
    converted("onnx", "fp16")
    assert sources["onnx"].path.read_bytes() == before  # onnx2tf worked on a copy
    folders = list(workdir.glob("onnx2tf_*"))
    assert len(folders) == 1
    meta = json.loads((folders[0] / "edgeface_onnx2tf.json").read_text())
    assert meta["input_shape"][1:] == [64, 64, 3]
    layouts = {o["onnx"]: (o["shape"], o["nhwc"]) for o in meta["outputs"]}
    assert layouts == {"embedding": ([1, 16], False), "heatmap": ([1, 16, 16, 2], True)}
    assert meta["max_abs_error"] < 1e-4
    assert not list(folders[0].rglob("*.tflite"))


# -- ONNX export ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tflite_source(converted, model_dir):
    path = model_dir / "tiny_fp32.tflite"
    path.write_bytes(converted("keras", "fp32"))
    return load_source(path)


@pytest.mark.parametrize("kind", ["keras", "saved_model", "graphdef", "tflite"])
def test_export_onnx_parity(sources, tflite_source, eval_inputs, tmp_path, kind):
    import onnxruntime as ort

    source = tflite_source if kind == "tflite" else sources[kind]
    assert source.kind == kind
    for nchw in (False, True):
        path = export_onnx(source, tmp_path / f"{kind}_{nchw}.onnx", nchw=nchw)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert list(session.get_inputs()[0].shape[1:]) == ([3, 64, 64] if nchw else [64, 64, 3])
        assert sorted(o.name for o in session.get_outputs()) == sorted(source.output_names)
        assert onnx_parity(source, path, eval_inputs) < 1e-4
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_export_quantized_tflite_to_onnx(converted, model_dir, eval_inputs, tmp_path):
    path = model_dir / "tiny_int8_uint8.tflite"
    path.write_bytes(converted("keras", "int8", "uint8"))
    source = load_source(path)
    out = export_onnx(source, tmp_path / "q.onnx")
    assert onnx_parity(source, out, eval_inputs) < 0.05


# -- errors --------------------------------------------------------------------------------

def test_unknown_kind(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00\x01 not a model at all")
    with pytest.raises(ConversionError, match="unknown model kind"):
        load_source(path)
    with pytest.raises(ConversionError, match="choose one of"):
        load_source(path, kind="caffe")


def test_missing_path_and_empty_dir(tmp_path):
    with pytest.raises(ConversionError, match="no such file"):
        load_source(tmp_path / "absent.onnx")
    with pytest.raises(ConversionError, match="saved_model.pb"):
        load_source(tmp_path)


@pytest.mark.parametrize("suffix,match", [(".onnx", "onnxruntime cannot load"), (".tflite", "not a TFLite"),
                                          (".pb", "GraphDef"), (".keras", "Keras cannot load")])
def test_corrupt_files(tmp_path, suffix, match):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x08\x07garbage\xff" * 20)
    with pytest.raises(ConversionError, match=match):
        load_source(path)


def test_quantization_needs_calibration(sources, workdir):
    for precision in ("int8", "int16x8"):
        with pytest.raises(ConversionError, match="needs calibration data"):
            convert_to_tflite(sources["graphdef"], precision, None, workdir=workdir)


def test_bad_arguments(sources, workdir, calibration):
    src = sources["graphdef"]
    with pytest.raises(ConversionError, match="precision 'int4'"):
        convert_to_tflite(src, "int4", workdir=workdir)
    with pytest.raises(ConversionError, match="int8 only"):
        convert_to_tflite(src, "fp16", io_type="uint8", workdir=workdir)
    with pytest.raises(ConversionError, match="looks NCHW"):
        convert_to_tflite(src, "int8", calibration.transpose(0, 3, 1, 2), workdir=workdir)
    with pytest.raises(ConversionError, match="raw uint8"):
        convert_to_tflite(src, "int8", (calibration * 100).astype(np.uint8), workdir=workdir)
    with pytest.raises(ConversionError, match="already ONNX"):
        export_onnx(sources["onnx"], workdir / "x.onnx")


def _onnx(path: Path, inputs, outputs, nodes) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    onnx.checker.check_model(model)
    return path


def test_onnx_input_checks(tmp_path):
    from onnx import TensorProto, helper

    def vi(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    two = _onnx(tmp_path / "two.onnx", [vi("a", [1, 3, 8, 8]), vi("b", [1, 3, 8, 8])], [vi("c", [1, 3, 8, 8])],
                [helper.make_node("Add", ["a", "b"], ["c"])])
    with pytest.raises(ConversionError, match="2 inputs"):
        load_source(two)
    flat = _onnx(tmp_path / "flat.onnx", [vi("a", [1, 128])], [vi("c", [1, 128])],
                 [helper.make_node("Relu", ["a"], ["c"])])
    with pytest.raises(ConversionError, match="not an image batch"):
        load_source(flat)
    dynamic = _onnx(tmp_path / "dyn.onnx", [vi("a", ["n", 3, "h", "w"])], [vi("c", ["n", 3, "h", "w"])],
                    [helper.make_node("Relu", ["a"], ["c"])])
    with pytest.raises(ConversionError, match="pass input_shape"):
        load_source(dynamic)
    fixed = load_source(dynamic, input_shape=(1, 3, 32, 32))
    assert fixed.input_shape == (1, 3, 32, 32) and fixed.nhwc_shape == (1, 32, 32, 3)
    x = np.ones((2, 3, 32, 32), np.float32) * -1
    assert np.all(fixed.run(x)[0] == 0)


def test_onnx2tf_failure_is_reported(sources, tmp_path, monkeypatch):
    """A failing onnx2tf child becomes a ConversionError carrying its error line."""
    import subprocess

    from edgeface.converters import tflite

    def failing(args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "progress...\n", "\x1b[31mERROR:\x1b[0m Unsupported op: Foo\n")

    monkeypatch.setattr(tflite.subprocess, "run", failing)
    with pytest.raises(ConversionError, match="onnx2tf could not convert.*Unsupported op: Foo"):
        convert_to_tflite(sources["onnx"], "fp32", workdir=tmp_path)


def test_onnx2tf_worker_writes_why_it_failed_and_leaves_the_users_file(tmp_path):
    """The child, run as the converter runs it, on a damaged ONNX file: it writes error.json
    naming the cause, never the description file, and leaves the input as it was."""
    import json
    import subprocess
    import sys

    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"not an onnx model")
    folder = tmp_path / "work"
    folder.mkdir()
    np.save(folder / "samples_nhwc.npy", np.zeros((1, 8, 8, 3), np.float32))
    spec = {"onnx": str(damaged), "folder": str(folder), "input": "x", "input_shape_nchw": [1, 3, 8, 8],
            "layout": "NCHW", "outputs": ["y"]}
    (folder / "spec.json").write_text(json.dumps(spec))
    code = "import sys; from edgeface.converters.tflite import _onnx2tf_worker as w; sys.exit(w(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(folder / "spec.json")], capture_output=True, text=True,
                          timeout=300, cwd=folder)
    assert proc.returncode == 3, proc.stderr
    assert json.loads((folder / "error.json").read_text())["error"].startswith("cannot read the ONNX model")
    assert not (folder / "edgeface_onnx2tf.json").exists()
    assert damaged.read_bytes() == b"not an onnx model"


# -- TFLite sources: replayed op by op (edgeface.converters.tflite_graph) -------------------

@pytest.fixture(scope="module")
def tflite_fp16_source(model_dir):
    """A net as MediaPipe ships its models: a float .tflite whose weights are float16
    behind DEQUANTIZE ops (PReLU slopes above 1 on some channels, too)."""
    return load_source(tm.mesh_like_tflite(model_dir))


def _op_types(data: bytes) -> set[str]:
    from edgeface.converters.tflite_graph import TFLiteGraph

    graph = TFLiteGraph(data, "converted")
    return {graph.op_name(op) for op in graph.graph.operators}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "dynamic", "int8"])
def test_a_float_tflite_converts_again_and_matches_it(tflite_fp16_source, calibration, eval_inputs, workdir,
                                                      precision):
    source = tflite_fp16_source
    data = convert_to_tflite(source, precision, calibration if precision == "int8" else None, workdir=workdir)
    inp, got = run_tflite(data, eval_inputs)
    assert [inp["name"]] == [source.input_name] and sorted(got) == sorted(source.output_names)
    reference = source.run(eval_inputs)
    for name, ref in zip(source.output_names, reference):
        err = float(np.max(np.abs(ref - got[name].reshape(ref.shape))))
        peak = max(1.0, float(np.max(np.abs(ref))))
        if precision in ("int8", "dynamic"):
            assert cosine(ref, got[name]) >= 0.99, name
        else:  # the same float16 weights, widened: the same numbers up to summation order
            assert err < 1e-4 * peak, (name, err)
    if precision == "fp32":
        assert "PRELU" in _op_types(data) and "DEQUANTIZE" not in _op_types(data)


def test_int8_from_tflite_keeps_prelu_inside_xnnpack(tflite_fp16_source, calibration, workdir):
    """XNNPACK has no int8 PRELU (nor RELU): the replay writes it as MULs and an ADD with a
    fused ReLU, so the int8 graph stays in one partition."""
    from edgeface.quantization.coverage import delegate_coverage

    data = convert_to_tflite(tflite_fp16_source, "int8", calibration, workdir=workdir)
    report = delegate_coverage(data)
    assert "PRELU" not in _op_types(data)
    assert not report.undelegated and report.delegate_partitions == 1, report.summary()


def test_dynamic_range_keeps_depthwise_weights_float_for_xnnpack(tflite_fp16_source, workdir):
    """XNNPACK takes no depthwise convolution with int8 weights on float activations: the
    dynamic-range model's are widened back, and the whole graph is delegated."""
    from edgeface.converters.tflite_graph import TFLiteGraph
    from edgeface.quantization.coverage import delegate_coverage

    data = convert_to_tflite(tflite_fp16_source, "dynamic", workdir=workdir)
    graph = TFLiteGraph(data, "dynamic")
    filters = [(graph.op_name(op), graph.type_name(op.inputs[1]), graph.constant(op.inputs[1]).size)
               for op in graph.graph.operators if graph.op_name(op) in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert ("CONV_2D", "INT8") in {(op, kind) for op, kind, _ in filters}
    depthwise = [(kind, size) for op, kind, size in filters if op == "DEPTHWISE_CONV_2D"]
    assert {kind for kind, _ in depthwise} == {"FLOAT32"} and max(size for _, size in depthwise) > 1024
    report = delegate_coverage(data)
    assert not report.undelegated and report.delegate_partitions == 1, report.summary()


def test_a_quantised_tflite_source_is_refused_with_the_reason(converted, model_dir, calibration, workdir):
    path = model_dir / "tiny_int8.tflite"
    path.write_bytes(converted("keras", "int8", "int8"))
    with pytest.raises(ConversionError, match="quantised already.*float model"):
        convert_to_tflite(load_source(path), "fp16", workdir=workdir)


def test_a_tflite_op_edgeface_cannot_replay_is_named(converted, model_dir, workdir):
    path = model_dir / "tiny_upsampling.tflite"  # Keras's UpSampling2D: SHAPE, STRIDED_SLICE, TILE, ...
    path.write_bytes(converted("keras", "fp16"))
    with pytest.raises(ConversionError, match="SHAPE.*cannot be re-converted.*original model"):
        convert_to_tflite(load_source(path), "fp32", workdir=workdir)


def test_the_replayed_ops_compute_what_litert_computes(model_dir, workdir, eval_inputs):
    """A float .tflite with the other ops the replay reads (resizes, pools, FC, mean,
    concat, activations, softmax) comes back at fp32 with the same outputs."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    kernel = tf.constant(rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32))
    dense = tf.constant(rng.normal(0, 0.3, (16, 5)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 64, 64, 3), tf.float32, name="image")])
    def many_ops(image):
        x = tf.nn.relu6(tf.nn.conv2d(image, kernel, 2, "SAME"))  # 32x32x8
        smooth = tf.image.resize(tf.nn.avg_pool2d(x, 2, 2, "VALID"), (32, 32), "bilinear")
        blocky = tf.image.resize(tf.nn.max_pool2d(x, 4, 4, "VALID"), (32, 32), "nearest")
        mixed = tf.concat([tf.sigmoid(smooth) * x, tf.tanh(blocky) - x], axis=-1)
        pooled = tf.reduce_mean(tf.nn.leaky_relu(mixed, 0.2), axis=[1, 2])
        return tf.nn.softmax(pooled @ dense), tf.reshape(mixed, (1, 32 * 32 * 16))

    path = model_dir / "many_ops.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([many_ops.get_concrete_function()],
                                                                     many_ops).convert())
    assert {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "MEAN", "SOFTMAX",
            "LEAKY_RELU", "LOGISTIC", "TANH", "CONCATENATION"} <= _op_types(path.read_bytes())
    source = load_source(path)
    _, got = run_tflite(convert_to_tflite(source, "fp32", workdir=workdir), eval_inputs)
    for name, ref in zip(source.output_names, source.run(eval_inputs)):
        assert np.max(np.abs(ref - got[name].reshape(ref.shape))) < 1e-4, name


def test_a_damaged_constant_is_a_clear_error(tflite_fp16_source):
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from edgeface.converters.tflite_graph import TFLiteGraph

    model = schema.ModelT.InitFromPackedBuf(bytearray(Path(tflite_fp16_source.path).read_bytes()), 0)
    graph = model.subgraphs[0]
    weights = next(t for t in graph.tensors if t.buffer and model.buffers[t.buffer].data is not None
                   and len(model.buffers[t.buffer].data) > 8)
    model.buffers[weights.buffer].data = model.buffers[weights.buffer].data[:-3]
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    damaged = TFLiteGraph(bytes(builder.Output()), "damaged.tflite")
    with pytest.raises(ConversionError, match="damaged.tflite: constant .* the file is damaged"):
        damaged.constant(graph.tensors.index(weights))
