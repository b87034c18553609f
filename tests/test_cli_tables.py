"""The tables list names that users type back (edgeface models fetch NAME, --profile ID):
on a narrow terminal Rich shrinks columns, but never cuts or ellipsizes those names."""

import re

import pytest
from typer.testing import CliRunner

from edgeface.bench.profiles import list_profiles
from edgeface.cli.app import app
from edgeface.pretrained import known_models
from edgeface.socs import load_socs


def cells(output: str) -> set[str]:
    return {cell.strip() for line in output.splitlines() for cell in re.split(r"[│┃]", line)}


@pytest.mark.parametrize("command, names", [
    (["models", "list"], lambda: list(known_models())),
    (["profiles", "list"], lambda: [p.id for p in list_profiles()]),
    (["profiles", "socs"], lambda: list(load_socs())),
])
def test_names_appear_whole_at_60_columns(command, names):
    result = CliRunner().invoke(app, command, env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    missing = [name for name in names() if name not in cells(result.stdout)]
    assert not missing, result.stdout


def test_a_long_path_in_a_log_line_is_never_broken(tmp_path, monkeypatch):
    """Not a terminal (CliRunner), so Rich would wrap at 80 columns: the path stays on one line."""
    cache = tmp_path / ("a-folder-with-a-long-name-" * 6) / "cache"
    assert len(str(cache)) > 120
    monkeypatch.setenv("EDGEFACE_CACHE", str(cache))
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert f"cache: {cache} " in result.stdout
