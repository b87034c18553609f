"""Checks that can fail (issue 21, defects 5-7): scalar outputs judged by the decision
they drive, ONNX export verified on real faces, and the Hexagon compile's progress,
bounded check and per-precision results. Models are tiny and built here."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from edgeface.quantization.fidelity import (FidelityReport, compare_outputs, decision_threshold, is_scalar_output,
                                            scalar_fidelity, scalar_outputs)

try:  # TensorFlow loaded after onnxruntime-qnn has run a model crashes the process (segfault): these
    import tensorflow  # noqa: F401  tests use both, so load it first, at collection, whatever runs before
except ImportError:
    pass


# ---------------------------------------------------------------- scalar outputs in the gate

def _report(ref, got, **options):
    names = ["face"]
    return FidelityReport("m.tflite", "int8", 1, compare_outputs([ref], [got], names=names),
                          scalars=scalar_outputs([ref], [got], names, **options))


def test_a_logit_that_changes_sign_is_a_flipped_decision_not_an_unrelated_output():
    ref = np.array([[2.0], [-1.0], [0.05], [-3.0]], np.float32)  # (N, 1): a face-presence logit
    got = np.array([[1.8], [-1.1], [-0.02], [-2.9]], np.float32)
    report = _report(ref, got)
    (scalar,) = report.scalars
    assert (scalar.threshold, scalar.flips, scalar.samples) == (0.0, 1, 4)
    assert "logit" in scalar.threshold_from
    assert scalar.max_abs_err == pytest.approx(0.2, abs=1e-6)
    (failure,) = report.gate(None, None)
    assert failure.startswith("output 'face': 1 of 4 inputs flip their decision at threshold 0 (0: ")
    assert "sign-flipped" not in failure
    assert report.gate(0.01, None, max_decision_flips=1) == []  # no cosine of one number
    assert math.isnan(report.worst_cosine())


def test_a_probability_that_crosses_one_half_fails_though_every_cosine_is_one():
    ref = np.array([0.9, 0.6, 0.2], np.float32)  # (N,)
    got = np.array([0.7, 0.4, 0.25], np.float32)
    assert compare_outputs([ref], [got])[0].cosine_worst == 1.0  # what the old gate looked at
    report = _report(ref, got)
    assert report.scalars[0].threshold == 0.5 and "probability" in report.scalars[0].threshold_from
    (failure,) = report.gate(0.001, None)
    assert "1 of 3 inputs flip their decision at threshold 0.5" in failure


def test_the_threshold_is_the_given_one_else_the_manifests_else_by_range():
    logits, probabilities = np.array([-2.0, 3.0]), np.array([0.1, 0.8])
    assert decision_threshold(logits, threshold=1.5) == (1.5, "given")
    value, how = decision_threshold(logits, score_threshold=0.75)
    assert value == pytest.approx(math.log(3)) and how == "the manifest's score_threshold 0.75 as a logit"
    assert decision_threshold(probabilities, score_threshold=0.75) == (0.75, "the manifest's score_threshold")
    assert decision_threshold(probabilities)[0] == 0.5 and decision_threshold(logits)[0] == 0.0
    flipped = scalar_fidelity("p", probabilities, np.array([0.1, 0.7]), score_threshold=0.75)
    assert flipped.flips == 1


def test_non_finite_scalars_count_as_flips():
    fid = scalar_fidelity("s", np.array([1.0, -1.0]), np.array([np.nan, np.inf]))
    assert fid.flips == 2 and math.isinf(fid.max_abs_err)


def test_only_one_number_per_input_is_scalar():
    assert all(is_scalar_output(s) for s in [(5,), (5, 1), (5, 1, 1, 1), ()])
    assert not any(is_scalar_output(s) for s in [(5, 2), (5, 16, 16, 1), (5, 1, 3)])
    vector = np.random.default_rng(0).standard_normal((4, 8))
    report = _report(vector, -vector)
    assert report.scalars == [] and any("sign-flipped" in f for f in report.gate(None, None))  # cosine as before


def _scalar_keras(directory: Path) -> Path:
    """A tiny NHWC 32x32 model with an embedding (N, 8) and a face-presence logit (N, 1)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    pooled = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, [layers.Dense(8, name="embedding")(pooled), layers.Dense(1, name="face_logit")(pooled)])
    path = directory / "presence.keras"
    model.save(path)
    return path


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_conversion_report_judges_a_scalar_output_by_its_decisions(tmp_path):
    pytest.importorskip("tensorflow")
    from edgeface.converters.job import ConvertRequest, convert

    request = ConvertRequest(source=_scalar_keras(tmp_path), out=tmp_path / "out", precisions=["fp32"],
                             calibration_size=8, max_cosine_drop=0.01)
    (artifact,) = convert(request).artifacts
    (scalar,) = artifact.fidelity.scalars
    assert scalar.name == "face_logit" and scalar.samples > 100  # real faces and calibration samples
    assert scalar.flips == 0 and scalar.max_abs_err < 1e-4 and artifact.failures == []
    assert [o.name for o in artifact.fidelity.vector_outputs()] == ["embedding"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"face_logit: 0/{scalar.samples} flip at {scalar.threshold:g}" in report


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_scalar_threshold_from_the_command_line(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    import json

    from typer.testing import CliRunner

    from edgeface.cli.app import app

    model = _scalar_keras(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["convert", str(model), "--precision", "fp32", "--calib-size", "8",
                                      "--scalar-threshold", "0.25", "--out", "out", "--json"])
    assert result.exit_code == 0, result.output
    (scalar,) = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"][0]["fidelity"]["scalars"]
    assert (scalar["name"], scalar["threshold"], scalar["threshold_from"]) == ("face_logit", 0.25, "given")


# ---------------------------------------------------------------- --to onnx verified on real faces

def _saved_function(directory: Path, name: str, output) -> Path:
    """A SavedModel of one NHWC 32x32 image input and one output ``output(x)``."""
    import tensorflow as tf

    module = tf.Module()
    module.serve = tf.function(lambda image: {name: output(tf, image)},
                               input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image")])
    path = directory / name
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def _to_onnx(model: Path, out: Path):
    from typer.testing import CliRunner

    from edgeface.cli.app import app

    return CliRunner().invoke(app, ["convert", str(model), "--to", "onnx", "--out", str(out), "--json"])


ONNX_CASES = {  # a model whose outputs are empty, or NaN, for inputs in [-1, 1]: noise and faces alike
    "kept": (lambda tf, x: tf.boolean_mask(x, x > 1.5), r"output 'kept' is empty \(shape \(0,\)\) in both models"),
    "logs": (lambda tf, x: tf.math.log(x - 1.5), r"output 'logs' of the source has \d+ NaN or inf value"),
}


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("name", sorted(ONNX_CASES))
def test_onnx_verification_that_compares_nothing_fails_naming_the_output(tmp_path, name):
    pytest.importorskip("tf2onnx")
    output, message = ONNX_CASES[name]
    result = _to_onnx(_saved_function(tmp_path, name, output), tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert re.search(message, result.stderr) and "101 real face inputs" in result.stderr, result.stderr
    assert str(tmp_path / "out" / f"{name}.onnx") in result.stderr  # the file left behind is named


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_onnx_verification_runs_on_the_face_images(tmp_path):
    pytest.importorskip("tf2onnx")
    import json

    model = _saved_function(tmp_path, "mean", lambda tf, x: tf.reduce_mean(x, axis=[1, 2]))
    result = _to_onnx(model, tmp_path / "out")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"] == 101 and data["max_abs_error"] < 1e-5


# ---------------------------------------------------------------- compile: progress, bounded check, all precisions

try:
    import onnxruntime_qnn  # noqa: F401

    HAVE_QNN = True
except ImportError:
    HAVE_QNN = False

qnn = pytest.mark.skipif(not HAVE_QNN, reason="needs the qnn extra (onnxruntime-qnn)")


@qnn
def test_a_refused_precision_does_not_stop_the_next_and_the_check_is_bounded(tmp_path, monkeypatch):
    from edgeface.converters import qnn as qnn_compiler
    from edgeface.converters.hexagon import CompileRequest, compile_hexagon
    from edgeface.errors import ConversionError
    from tests.test_hexagon import _tiny_onnx

    real = qnn_compiler.compile_context

    def refuse_w8a8(model, soc, out_dir, stem, precision, allow_fallback=False):
        if precision == "w8a8":  # what the compiler says of ops the HTP cannot run, forced
            raise ConversionError(f"{model.name}: 1 of 9 nodes cannot run on the HTP of {soc.part}: NonMaxSuppression")
        return real(model, soc, out_dir, stem, precision, allow_fallback)

    monkeypatch.setattr(qnn_compiler, "compile_context", refuse_w8a8)
    checked = []
    request = CompileRequest(source=_tiny_onnx(tmp_path / "tiny.onnx"), out=tmp_path / "job", role="embedder",
                             precisions=["w8a8", "w8a16"], socs=["SM8650"], calibration_size=8,
                             max_cosine_drop=0.05, check_images=5,
                             on_check=lambda done, total: checked.append((done, total)))
    result = compile_hexagon(request)
    assert result.refused == ["w8a8 SM8650: tiny_w8a8.onnx: 1 of 9 nodes cannot run on the HTP of SM8650: "
                              "NonMaxSuppression"]
    (artifact,) = result.artifacts  # w8a16, compiled and run in the real simulator
    assert (artifact.context.precision, artifact.failures) == ("w8a16", [])
    assert artifact.fidelity.embedder.samples == 5 and checked == [(i, 5) for i in range(6)]
    report = json.loads(result.report_json.read_text())
    assert report["images_checked"] == 5 and report["refused"] == result.refused
    assert "on 5 images" in result.report_md.read_text() and "Refused: w8a8 SM8650" in result.report_md.read_text()
    assert [b.name for b in result.bundles] == ["bundle_w8a16"]


@qnn
def test_when_every_precision_is_refused_each_ones_reason_is_given(tmp_path):
    from edgeface.converters.hexagon import CompileRequest, compile_hexagon
    from edgeface.errors import EdgefaceError
    from tests.test_hexagon import _tiny_onnx

    request = CompileRequest(source=_tiny_onnx(tmp_path / "mod.onnx", extra_op="Mod"), out=tmp_path / "job",
                             precisions=["fp16", "w8a16"], socs=["SM8650"], calibration_size=8, check_images=2)
    with pytest.raises(EdgefaceError) as refused:
        compile_hexagon(request)
    message = str(refused.value)
    assert re.search(r"fp16 SM8650: .*cannot run on the HTP of SM8650.*Mod", message)
    assert re.search(r"w8a16 SM8650: .*cannot run on the HTP of SM8650.*Mod", message)  # tried after fp16


@qnn
def test_compile_cli_shows_the_check_with_time_left_on_stderr(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from edgeface.cli.app import app
    from tests.test_hexagon import _tiny_onnx

    monkeypatch.chdir(tmp_path)
    _tiny_onnx(tmp_path / "tiny.onnx")
    args = ["compile", "tiny.onnx", "--out", "out", "--soc", "SM8650", "--role", "embedder", "--calib-size", "8",
            "--check-images", "3"]  # a relative --out, as users give it
    result = CliRunner().invoke(app, args, env={"FORCE_COLOR": "1", "COLUMNS": "200"})  # Rich draws the bar
    assert result.exit_code == 0, result.output
    stderr = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)
    assert "in the HTP simulator on 3 images" in stderr
    assert re.search(r"3/3 left \d+:\d\d:\d\d", stderr), stderr[-2000:]
    assert "on 3 images" in result.stdout
    assert json.loads((tmp_path / "out" / "report.json").read_text())["images_checked"] == 3
