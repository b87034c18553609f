"""Every multi-value option takes its values repeated, comma-separated or both
(edgeface.cli.common.listed): --soc A,B compiles for both SoCs and a repeated --precision
keeps every precision, where before the first failed and the second kept only the last."""

import pytest
from typer.testing import CliRunner

import edgeface.converters.hexagon as hexagon
import edgeface.converters.job as job
from edgeface.cli.app import app
from edgeface.cli.common import listed
from edgeface.errors import EdgefaceError


def test_listed_splits_flattens_and_keeps_order():
    assert listed(["SM8650,SM8750", " SM8450 ", "SM8650", ","]) == ["SM8650", "SM8750", "SM8450"]
    assert listed(None, ["w8a8"]) == ["w8a8"] and listed([], ("a", "b")) == ["a", "b"]


class Stop(EdgefaceError):
    pass


@pytest.fixture
def requests(monkeypatch):
    """The requests the commands would run (each stops right there with a user error)."""
    seen = []

    def record(request, *args, **kwargs):
        seen.append(request)
        raise Stop("recorded")

    monkeypatch.setattr(hexagon, "compile_hexagon", record)
    monkeypatch.setattr(job, "convert", record)
    return seen


def test_compile_takes_socs_and_precisions_repeated_or_comma_separated(requests, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    result = CliRunner().invoke(app, ["compile", str(model), "--soc", "SM8650,SM8750", "--soc", "SM8450",
                                      "--precision", "w8a8", "--precision", "fp16,w8a16"])
    assert result.exit_code == 2 and "recorded" in result.output, result.output
    assert requests[0].socs == ["SM8650", "SM8750", "SM8450"]
    assert requests[0].precisions == ["w8a8", "fp16", "w8a16"]


@pytest.mark.parametrize("command, default", [("convert", ["fp32", "fp16", "int8"]), ("quantize", ["int8"])])
def test_convert_and_quantize_precisions_and_outputs(requests, tmp_path, command, default):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    CliRunner().invoke(app, [command, str(model)])
    CliRunner().invoke(app, [command, str(model), "--precision", "fp16", "--precision", "int8,dynamic",
                             "--outputs", "boxes,scores", "--outputs", "keypoints"])
    assert requests[0].precisions == default
    assert requests[1].precisions == ["fp16", "int8", "dynamic"]
    assert requests[1].outputs == ["boxes", "scores", "keypoints"]
