"""Options that take one of a fixed set of words list the words in --help and refuse any
other with click's usage error (exit code 2); each set matches the module that owns it."""

import pytest
from typer.testing import CliRunner

from edgeface.cli import choices
from edgeface.cli.app import app

runner = CliRunner()


def test_choice_sets_match_their_owners():
    from edgeface.converters.job import ROLES
    from edgeface.converters.tflite import IO_TYPES
    from edgeface.hub.compile import RUNTIMES
    from edgeface.hub.profile import COMPUTE_UNITS
    from edgeface.tiled_search import SEARCHES

    assert tuple(choices.ModelRole) == ROLES
    assert tuple(choices.IoType) == IO_TYPES
    assert tuple(choices.HubRuntime) == tuple(RUNTIMES)
    assert tuple(choices.ComputeUnit) == (*COMPUTE_UNITS, "all")
    assert tuple(choices.Search) == SEARCHES


@pytest.mark.parametrize("command, listed", [
    (["convert"], ("tflite|onnx", "float32|int8|uint8", "detector|embedder")),
    (["quantize"], ("float32|int8|uint8", "detector|embedder")),
    (["compile"], ("detector|embedder",)),
    (["eval"], ("inter_ocular|box",)),
    (["hub", "compile"], ("qnn_context_binary",)),
    (["hub", "profile"], ("npu|gpu|cpu|all",)),
    (["bench", "run"], ("npu|gpu|cpu|all", "qnn_dlc")),
    (["detect"], ("whole|auto|all",)),
    (["identify"], ("whole|auto|all",)),
])
def test_help_lists_the_choices(command, listed):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for words in listed:
        assert words in result.stdout, result.stdout


def test_a_word_outside_the_set_is_a_usage_error(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    result = runner.invoke(app, ["eval", str(bundle), "--pairs", "synthetic", "--nme", "nose"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "'nose' is not one of 'inter_ocular', 'box'" in result.stderr
