"""Graphs people bring from other projects (issue 21): a relative ``--out``, ONNX models
with NHWC inputs, free input sizes fixed by ``--input-shape``, and post-processing inside
the graph (NMS) cut away by ``--outputs``. Every model is built here; the CLI tests run in
``tmp_path`` with a relative ``--out``, as a user in their project folder would."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeface.cli.app import app
from tests import toolchain_models

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in tmp_path, so that a relative --out lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_onnx_converts_with_a_relative_out(in_tmp):
    """onnx2tf runs in a child process in another directory: a relative --out (and the
    default one) used to make it miss its spec.json."""
    onnx_path = toolchain_models.onnx_model(in_tmp)
    result = run("convert", onnx_path.name, "--out", "out", "--precision", "fp32", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["artifacts"][0]["passed"]
    assert (in_tmp / "out" / "tiny_nchw_fp32.tflite").is_file()


@pytest.mark.slow
def test_nhwc_onnx_converts(in_tmp):
    """An ONNX model whose input is NHWC (tf2onnx's and edgeface's own exports) used to be
    taken for NCHW by onnx2tf: "expected shape=(None, 64, 3, 64)"."""
    from edgeface.runtime import open_backend

    onnx_path = toolchain_models.onnx_nhwc_model(in_tmp)
    result = run("convert", onnx_path.name, "--out", "out", "--precision", "fp32", "--max-cosine-drop", "0.001",
                 "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["source"]["layout"] == "NHWC" and report["artifacts"][0]["passed"]
    tflite = (in_tmp / "out" / "tiny_nhwc_fp32.tflite").read_bytes()
    assert tuple(open_backend("tflite", tflite, "converted").inputs[0].shape[1:]) == (64, 64, 3)


# -- models with the properties of the graphs people bring ---------------------------------

def nms_graph(directory) -> Path:
    """A frozen TensorFlow detector with a free input size (?, ?, ?, 3) and NMS inside the
    graph: raw ``boxes`` (N, M, 4) and ``scores`` (N, M), then ``detections`` (K, 4), the
    boxes NMS keeps for the first image of the batch."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        y = tf.nn.conv2d(x, tf.constant(rng.normal(0, 0.5, (4, 4, 3, 5)).astype(np.float32)), strides=4,
                         padding="SAME")
        raw = tf.reshape(y, tf.stack([tf.shape(y)[0], -1, 5]))
        centre, size = tf.sigmoid(raw[..., :2]), 0.1 + 0.2 * tf.sigmoid(raw[..., 2:4])
        boxes = tf.concat([centre - size / 2, centre + size / 2], axis=-1, name="boxes")
        scores = tf.sigmoid(raw[..., 4], name="scores")
        keep = tf.image.non_max_suppression(boxes[0], scores[0], 16, 0.3, 0.5)
        tf.identity(tf.gather(boxes[0], keep), name="detections")
    path = directory / "detector_nms.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def batch_mixing_graph(directory) -> Path:
    """A frozen graph with a free batch and size whose output depends on the other images
    of its batch (each image minus the batch mean), as a batch-1 model exported with a
    dynamic batch may: run with a batch of 1, its output is 0."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        tf.identity(x - tf.reduce_mean(x, axis=0, keepdims=True), name="centred")
    path = directory / "batch_mixing.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def onnx_topk_model(directory) -> Path:
    """An NCHW ONNX model (N, 3, 8, 8) with a raw output ``flat`` and a TopK after it
    feeding ``top_values``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
             helper.make_node("TopK", ["flat", "k"], ["top_values", "top_indices"], axis=1)]
    graph = helper.make_graph(
        nodes, "topk", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["N", 192]),
         helper.make_tensor_value_info("top_values", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(np.array([5], np.int64), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = directory / "topk.onnx"
    path.write_bytes(model.SerializeToString())
    return path


# -- --input-shape ----------------------------------------------------------------------------

def test_free_input_size_is_refused_naming_the_flag_that_fixes_it(in_tmp):
    """The refusal names the input and an --input-shape in its layout; that flag exists and works."""
    nms_graph(in_tmp)
    refused = run("convert", "detector_nms.pb", "--out", "out", "--precision", "fp32")
    assert refused.exit_code == 2
    assert "free height/width" in refused.output and "--input-shape image:1,H,W,3" in refused.output
    fixed = run("convert", "detector_nms.pb", "--out", "out", "--precision", "fp32", "--input-shape",
                "image:1,64,64,3", "--outputs", "boxes,scores", "--json")
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["source"]["input_shape"] == [1, 64, 64, 3]


def test_input_shape_syntax_and_errors_name_the_inputs(tmp_path):
    from edgeface.converters.sources import load_source, parse_input_shapes
    from edgeface.errors import ConversionError

    assert parse_input_shapes(["image:1,64,64,3"]) == {"image": (1, 64, 64, 3)}
    assert parse_input_shapes(["1,3,32,32"]) == {None: (1, 3, 32, 32)}
    assert parse_input_shapes(["input:0:1,3,32,32"]) == {"input:0": (1, 3, 32, 32)}
    for bad, message in ((["image:1,64,64"], "four positive sizes"), (["image:1,a,64,3"], "four positive sizes"),
                         (["1,64,64,3", "1,32,32,3"], "has a shape already")):
        with pytest.raises(ConversionError, match=message):
            parse_input_shapes(bad)
    path = nms_graph(tmp_path)
    with pytest.raises(ConversionError, match=r"names the input 'picture'.*its inputs are image \(\?, \?, \?, 3\)"):
        load_source(path, input_shape={"picture": (1, 64, 64, 3)})
    with pytest.raises(ConversionError, match="batch of 2: edgeface converts batch-1 models"):
        load_source(path, input_shape={"image": (2, 64, 64, 3)})
    with pytest.raises(ConversionError, match="does not fit the model's input 'image'"):
        load_source(path, input_shape=(1, 64, 64, 4))
    assert load_source(path, input_shape={"image:0": (1, 32, 48, 3)}).nhwc_shape == (1, 32, 48, 3)


def test_compile_takes_input_shape(tmp_path):
    result = run("compile", toolchain_models.onnx_model(tmp_path), "--out", tmp_path / "out",
                 "--input-shape", "input:1,3,64")
    assert result.exit_code == 2 and "--input-shape 'input:1,3,64'" in result.output


def test_static_model_takes_the_users_input_shape(tmp_path):
    import onnx

    from edgeface.errors import ConversionError
    from edgeface.quantization.qdq import static_model

    model = onnx_topk_model(tmp_path)
    graph = onnx.load(str(model)).graph
    graph.input[0].type.tensor_type.shape.dim[2].dim_param = "h"
    free = tmp_path / "free.onnx"
    free.write_bytes(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)],
                                            ir_version=8).SerializeToString())
    with pytest.raises(ConversionError, match="--input-shape input:"):
        static_model(free, tmp_path / "static.onnx")
    static = static_model(free, tmp_path / "static.onnx", (1, 3, 8, 8))
    dims = onnx.load(str(static)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 8, 8]


def test_a_users_batch_of_one_is_honoured(tmp_path):
    """A graph whose batch is free but which must run one image at a time: once the user
    fixed the batch to 1, a batch of inputs is never run together (outputs never mix)."""
    from edgeface.converters.sources import load_source

    source = load_source(batch_mixing_graph(tmp_path), input_shape=(1, 16, 16, 3))
    assert source.fixed_batch
    x = np.random.default_rng(0).uniform(-1, 1, (5, 16, 16, 3)).astype(np.float32)
    (together,) = source.run(x)
    assert together.shape == x.shape and np.all(together == 0)


def test_free_size_saved_model_converts_at_the_users_size(tmp_path):
    """A SavedModel whose signature leaves H and W free is traced at the user's size: the
    TFLite input is (1, 48, 40, 3), not a free one."""
    import keras

    from edgeface.converters.sources import load_source
    from edgeface.converters.tflite import convert_to_tflite
    from edgeface.runtime import open_backend

    inp = keras.Input((None, None, 3), name="image")
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp)))
    model.export(str(tmp_path / "free_sm"), verbose=False)
    source = load_source(tmp_path / "free_sm", input_shape=(1, 48, 40, 3))
    data = convert_to_tflite(source, "fp32", workdir=tmp_path / "work")
    backend = open_backend("tflite", data, "converted")
    assert tuple(backend.inputs[0].shape) == (1, 48, 40, 3)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 48, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(backend.run([x])[0], source.run(x)[0], atol=1e-5)


# -- post-processing inside the graph ------------------------------------------------------

def test_postprocessing_ops_are_found_with_the_outputs_they_feed(tmp_path):
    from edgeface.converters.sources import load_source

    source = load_source(nms_graph(tmp_path), input_shape=(1, 64, 64, 3))
    (nms,) = source.postprocessing
    assert nms.op == "NonMaxSuppressionV3" and nms.feeds == ["detections"]
    assert source.variable_outputs == ["detections"] and "strided_slice_4" in nms.reads
    onnx_source = load_source(onnx_topk_model(tmp_path))
    (topk,) = onnx_source.postprocessing
    assert topk.op == "TopK" and topk.feeds == ["top_values"] and topk.reads == ["flat"]
    cut = load_source(onnx_topk_model(tmp_path), outputs=["flat"])
    assert cut.output_names == ["flat"] and not cut.postprocessing
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(cut.run(x)[0], x.reshape(2, -1))


def test_outputs_names_what_it_cannot_cut(tmp_path):
    from edgeface.converters.sources import load_source
    from edgeface.errors import ConversionError

    with pytest.raises(ConversionError, match="--outputs 'nope' is not a node"):
        load_source(nms_graph(tmp_path), input_shape=(1, 64, 64, 3), outputs=["nope"])
    with pytest.raises(ConversionError, match="--outputs 'nope' is not a tensor"):
        load_source(onnx_topk_model(tmp_path), outputs=["nope"])
    with pytest.raises(ConversionError, match="--outputs cuts frozen graphs"):
        load_source(toolchain_models.saved_model(tmp_path), outputs=["embedding"])


@pytest.mark.slow
def test_cut_onnx_converts_through_onnx2tf(tmp_path):
    from edgeface.converters.sources import load_source
    from edgeface.converters.tflite import convert_to_tflite
    from edgeface.runtime import open_backend

    source = load_source(onnx_topk_model(tmp_path), outputs=["flat"])
    data = convert_to_tflite(source, "fp32", workdir=tmp_path / "work")
    backend = open_backend("tflite", data, "converted")
    assert [tuple(o.shape[1:]) for o in backend.outputs] == [(192,)]


@pytest.mark.slow
def test_nms_graph_is_announced_compared_image_by_image_and_leaves_no_stray_file(in_tmp):
    """The issue's detector: a warning before converting names the NMS and what it feeds;
    every precision gets a result; the NMS output is compared per image (no shape-pairing
    error); every file left in --out is in the report."""
    nms_graph(in_tmp)
    result = run("convert", "detector_nms.pb", "--out", "out", "--precision", "fp32,int8", "--input-shape",
                 "image:1,64,64,3", "--json")
    assert "warning: detector_nms.pb: post-processing inside the graph: NonMaxSuppressionV3" in result.stderr
    assert "feeds detections" in result.stderr and "--outputs" in result.stderr
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    assert [a["precision"] for a in report["artifacts"]] == ["fp32", "int8"]
    assert report["notes"] and "NonMaxSuppressionV3" in report["notes"][0]
    for artifact in report["artifacts"]:
        (variable,) = artifact["fidelity"]["variable_outputs"]
        assert variable["name"] == "detections" and variable["inputs"] > 100
        assert all("pair and transpose" not in f for f in artifact["failures"])
    listed = {a["file"] for a in report["artifacts"] if a["file"]} | {"report.json", "report.md", ".work"}
    assert {p.name for p in (in_tmp / "out").iterdir()} <= listed


@pytest.mark.slow
def test_one_precision_failing_never_stops_the_others(in_tmp, monkeypatch):
    """fp16 fails to convert: fp32 and int8 are still converted and reported; fp16's
    failure is in the report, its file is not left behind, and a user's file of that name
    from before is kept."""
    from edgeface.converters import tflite
    from edgeface.errors import ConversionError

    real = tflite.convert_to_tflite

    def failing_fp16(source, precision, *args, **kwargs):
        if precision == "fp16":
            raise ConversionError("no fp16 kernel for this op (test)")
        return real(source, precision, *args, **kwargs)

    monkeypatch.setattr(tflite, "convert_to_tflite", failing_fp16)
    nms_graph(in_tmp)
    args = ("convert", "detector_nms.pb", "--out", "out", "--precision", "fp32,fp16,int8", "--input-shape",
            "image:1,64,64,3", "--outputs", "boxes,scores", "--json")
    result = run(*args)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    by_precision = {a["precision"]: a for a in report["artifacts"]}
    assert by_precision["fp32"]["passed"] and by_precision["int8"]["passed"]
    assert "no fp16 kernel" in by_precision["fp16"]["error"] and by_precision["fp16"]["file"] is None
    assert not (in_tmp / "out" / "detector_nms_fp16.tflite").exists()
    (in_tmp / "out" / "detector_nms_fp16.tflite").write_bytes(b"the user's own file")
    assert run(*args).exit_code == 1
    assert (in_tmp / "out" / "detector_nms_fp16.tflite").read_bytes() == b"the user's own file"


def test_variable_size_outputs_are_compared_input_by_input():
    from edgeface.quantization.fidelity import FidelityReport, compare_variable_outputs

    ref = [[np.ones((3, 4)), np.ones((2, 4)), np.zeros((0, 4))]]
    got = [[np.ones((3, 4)) * 1.01, np.ones((5, 4)), np.zeros((0, 4))]]
    (out,) = compare_variable_outputs(ref, got, ["detections"])
    assert (out.inputs, out.size_mismatches, out.ref_items, out.got_items) == (3, 1, 20, 32)
    assert out.max_abs_err == pytest.approx(0.01) and out.cosine_worst == pytest.approx(1.0)
    report = FidelityReport("m.tflite", "fp32", 1, [], variable_outputs=[out])
    (failure,) = report.gate(None, None)
    assert "'detections' differs in size on 1 of 3 inputs (20 items from the source, 32 converted)" in failure
    same = compare_variable_outputs([[np.ones((2, 4))]], [[np.ones((2, 4))]], ["detections"])
    assert FidelityReport("m.tflite", "fp32", 1, [], variable_outputs=same).gate(0.01, None) == []


def test_an_output_sized_by_an_unknown_op_is_named_not_concatenated(tmp_path):
    """An output whose size depends on the image through ops edgeface does not know as
    post-processing (a data-dependent slice): a clear error naming it, on both sides."""
    import tensorflow as tf

    from edgeface.converters.sources import load_source
    from edgeface.errors import ConversionError
    from edgeface.quantization.fidelity import FidelityError, stack_samples

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3], name="image")
        flat = tf.reshape(x, [-1, 192])
        kept = tf.cast(tf.reduce_sum(tf.cast(flat[0] > 0, tf.int32)), tf.int32)
        tf.identity(flat[:, :kept], name="positive_prefix")
    path = tmp_path / "sliced.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    source = load_source(path, input_shape=(1, 8, 8, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ConversionError, match="output 'positive_prefix' changes shape from input to input"):
        source.run(x)
    with pytest.raises(FidelityError, match="changes shape from input to input"):
        stack_samples([np.zeros((1, 2)), np.zeros((1, 3))])


def test_keras_models_are_cut_at_named_layers(tmp_path):
    from edgeface.converters.sources import load_source
    from edgeface.errors import ConversionError

    path = toolchain_models.keras_model(tmp_path)
    cut = load_source(path, outputs=["embedding"])
    assert cut.output_names == ["embedding"]
    x = toolchain_models.calibration_images(3)
    (embedding,) = cut.run(x)
    np.testing.assert_allclose(embedding, load_source(path).run(x)[0], atol=1e-5)
    with pytest.raises(ConversionError, match="--outputs 'boxes' is not a layer of the model"):
        load_source(path, outputs=["boxes"])


@pytest.mark.slow
def test_compile_fixes_a_free_size_with_input_shape(tmp_path, monkeypatch):
    """A free HxW is refused with the flag to use, and compiles through the HTP simulator once
    --input-shape fixes it (relative --out), with nothing but the JSON on stdout."""
    pytest.importorskip("onnxruntime_qnn")
    import onnx

    model = onnx.load(str(toolchain_models.onnx_model(tmp_path)))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    size = dims[2].dim_value
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    onnx.save(model, str(tmp_path / "free.onnx"))
    monkeypatch.chdir(tmp_path)
    common = ["compile", "free.onnx", "--soc", "SM8650", "--precision", "fp16", "--role", "embedder",
              "--calib-size", "8", "--check-images", "2", "--json"]
    refused = run(*common, "--out", "refused")
    assert refused.exit_code == 2 and "--input-shape input:1,3,H,W" in refused.output
    # a real process: the QNN library writes to file descriptor 1, which CliRunner does not see
    script = "import sys; from edgeface.cli import main; sys.argv[0] = 'edgeface'; sys.exit(main())"
    fixed = subprocess.run([sys.executable, "-c", script, *common, "--out", "fixed", "--input-shape",
                            f"input:1,3,{size},{size}"], capture_output=True, text=True, timeout=600)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert json.loads(fixed.stdout)["reports"][0]["images_checked"] == 2  # stdout is the JSON alone
    report = json.loads(Path("fixed/report.json").read_text())
    assert [(c["precision"], c["passed"]) for c in report["contexts"]] == [("fp16", True)]
    assert Path("fixed/fp16/free_SM8650.bin").is_file()
