"""``edgeface convert`` / ``quantize`` end to end: files, reports, bundles the SDK loads,
the fidelity gate's exit code, ONNX export, and clear user errors."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeface import FaceAnalyzer
from edgeface.cli.app import app
from tests import toolchain_models

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    return toolchain_models.keras_model(tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def converted(keras_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run("convert", keras_file, "--out", out, "--precision", "fp32,fp16,int8", "--role", "embedder",
                 "--max-cosine-drop", "0.05", "--json")
    return out, result


@pytest.mark.slow
def test_convert_writes_files_reports_and_bundles(converted):
    out, result = converted
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [a["precision"] for a in report["artifacts"]] == ["fp32", "fp16", "int8"]
    sizes = {a["precision"]: a["size_bytes"] for a in report["artifacts"]}
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]
    for artifact in report["artifacts"]:
        assert (out / artifact["file"]).is_file() and artifact["passed"]
        embedder = artifact["fidelity"]["embedder"]
        assert embedder["samples"] > 100 and embedder["cosine_worst"] >= 0.95
        assert artifact["fidelity"]["coverage"]["total_ops"] > 0
    assert (out / "report.md").read_text().startswith("# Conversion report")


@pytest.mark.slow
def test_converted_bundle_runs_in_the_sdk(converted, keras_file):
    import keras

    out, _ = converted
    analyzer = FaceAnalyzer.create_from_bundle(out / "bundle_int8")
    chips = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    got = analyzer.embed_chips(chips)
    model = keras.models.load_model(keras_file)
    outputs = model(chips.astype(np.float32) / 127.5 - 1.0)
    ref = np.array(outputs[model.output_names.index("embedding")])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert np.sum(got * ref, axis=1).min() > 0.95


@pytest.mark.slow
def test_gate_failure_exits_1(keras_file, tmp_path):
    result = run("quantize", keras_file, "--out", tmp_path, "--max-cosine-drop", "0")
    assert result.exit_code == 1
    assert "fidelity gate failed: int8" in result.stderr


@pytest.mark.slow
def test_to_onnx_with_parity(keras_file, tmp_path):
    result = run("convert", keras_file, "--to", "onnx", "--nchw", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["max_abs_error"] < 1e-4 and (tmp_path / "tiny.onnx").is_file()


@pytest.mark.parametrize("args, message", [
    (["--precision", "int4"], "choose from"),
    (["--role", "detector"], "needs --family"),
    (["--role", "tracker"], "'tracker' is not one of"),
    (["--io-type", "int4"], "'int4' is not one of"),
    (["--calib", "/nonexistent/folder"], "no such folder"),
    (["--to", "coreml"], "'coreml' is not one of"),
])
def test_user_errors_exit_2(keras_file, tmp_path, args, message):
    result = run("convert", keras_file, "--out", tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_missing_source_exits_2(tmp_path):
    result = run("convert", tmp_path / "nope.onnx", "--out", tmp_path)
    assert result.exit_code == 2 and "nope.onnx" in result.stderr


@pytest.mark.slow
def test_detector_role_decodes_and_bundles(tmp_path):
    from edgeface.models import create_model

    source = tmp_path / "blazeface.keras"
    model = create_model("blazeface")
    for layer in model.layers:  # untrained: give the box heads valid 25.6-pixel boxes
        if layer.name in ("reg_16x16", "reg_8x8"):
            kernel, bias = layer.get_weights()
            bias = np.tile(np.array([0, 0, 25.6, 25.6] + [0] * 12, np.float32), len(bias) // 16)
            layer.set_weights([np.zeros_like(kernel), bias])
    model.save(source)
    result = run("convert", source, "--out", tmp_path / "out", "--precision", "fp32", "--role", "detector",
                 "--family", "blazeface-short", "--json")
    assert result.exit_code == 0, result.output
    (artifact,) = json.loads(result.stdout)["artifacts"]
    detector = artifact["fidelity"]["detector"]
    assert detector["images"] > 100 and detector["ref_faces"] > 100
    assert detector["missed"] <= detector["ref_faces"] * 0.01 and detector["min_iou"] > 0.9
    analyzer = FaceAnalyzer.create_from_bundle(tmp_path / "out" / "bundle_fp32")
    assert analyzer.detector.decoder.num_keypoints == 6
    analyzer.detect(np.zeros((480, 640, 3), np.uint8))  # runs end to end (untrained weights)


@pytest.mark.slow
def test_quantize_int8_qat_through_the_cli(tmp_path):
    """QAT of the project's own architecture goes through the same gate, report and bundle."""
    from edgeface.models import create_model
    from edgeface.quantization.calibration import face_chips

    source = tmp_path / "mfn.keras"
    model = create_model("mobilefacenet_int8", input_size=32, embedding_size=32)
    chips = face_chips((32, 32)).astype(np.float32) / 127.5 - 1.0
    for _ in range(30):  # settle BatchNorm statistics on real faces: untrained embeddings are ~0
        model(chips, training=True)
    model.save(source)
    result = run("quantize", source, "--out", tmp_path / "out", "--precision", "int8,int8-qat",
                 "--arch", "mobilefacenet_int8", "--qat-steps", "20", "--role", "embedder", "--json")
    assert result.exit_code == 0, result.output
    artifacts = {a["precision"]: a for a in json.loads(result.stdout)["artifacts"]}
    qat = artifacts["int8-qat"]
    assert qat["fidelity"]["coverage"]["precision"] == "int8"
    assert qat["fidelity"]["embedder"]["cosine_mean"] > 0.9
    print("PTQ vs QAT embedding cosine:", artifacts["int8"]["fidelity"]["embedder"]["cosine_mean"],
          qat["fidelity"]["embedder"]["cosine_mean"])
    assert FaceAnalyzer.create_from_bundle(tmp_path / "out" / "bundle_int8-qat").embedder.dim == 32


def test_qat_needs_an_architecture(keras_file, tmp_path):
    result = run("quantize", keras_file, "--out", tmp_path, "--precision", "int8-qat")
    assert result.exit_code == 2 and "--arch" in result.stderr


@pytest.mark.slow
def test_integer_io_applies_to_int8_only(keras_file, tmp_path):
    result = run("convert", keras_file, "--out", tmp_path, "--precision", "fp32,int8", "--io-type", "uint8",
                 "--role", "embedder", "--json")
    assert result.exit_code == 0, result.output
    from edgeface.bundle import load_bundle

    assert load_bundle(tmp_path / "bundle_int8").manifest.embedder.input.dtype == "uint8"
    assert load_bundle(tmp_path / "bundle_fp32").manifest.embedder.input.dtype == "float32"
    chips = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    a = FaceAnalyzer.create_from_bundle(tmp_path / "bundle_int8").embed_chips(chips)
    b = FaceAnalyzer.create_from_bundle(tmp_path / "bundle_fp32").embed_chips(chips)
    assert np.sum(a * b, axis=1).min() > 0.95
