"""Graphs people bring from other projects (issue 21): a relative ``--out``, ONNX models
with NHWC inputs, free input sizes fixed by ``--input-shape``, and post-processing inside
the graph (NMS) cut away by ``--outputs``. Every model is built here; the CLI tests run in
``tmp_path`` with a relative ``--out``, as a user in their project folder would."""

import json

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
