"""Untrusted YAML (pipeline and feeds configs, device profiles): alias bombs, deep nesting,
oversized or special files and unbuildable values are refused with one short line naming
the file, before any value is built; and error messages stay short whatever the input."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeface.errors import EdgefaceError, show
from edgeface.feeds.config import FeedsConfigError
from edgeface.feeds.config import load_config as load_feeds
from edgeface.pipeline import PipelineConfigError
from edgeface.pipeline import load_config as load_pipeline
from edgeface.pipeline import parse_config
from edgeface.bench.profiles import ProfileError, load_profile_file
from edgeface.safe_yaml import MAX_BYTES, MAX_DEPTH, MAX_VALUES, load_yaml_file

MAX_LINE = 300  # what an error line may take, whatever the input


def alias_bomb(field: str, levels: int = 6, width: int = 10) -> str:
    """A "billion laughs" document: ``field`` holds a list of ``levels`` lists, each of
    ``width`` aliases to the one before: ``width ** levels`` strings from a few hundred bytes."""
    items = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return f"{field}: [{', '.join(items)}]\n"


READERS = [  # (reader, error class, a field whose whole value the old messages showed)
    (load_pipeline, PipelineConfigError, "name"),
    (load_feeds, FeedsConfigError, "bundle"),
    (load_profile_file, ProfileError, "schema"),
]


def one_short_line(exc: BaseException, path: Path) -> str:
    text = str(exc)
    assert str(path) in text and "\n" not in text and len(text) < MAX_LINE, text[:500]
    return text


@pytest.mark.parametrize("reader, error, field", READERS)
def test_alias_bomb_is_refused_before_any_value_is_built(tmp_path, monkeypatch, reader, error, field):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(field))
    assert path.stat().st_size < 600 and 10 ** 6 > MAX_VALUES
    built = []
    original = yaml.constructor.SafeConstructor.construct_object
    monkeypatch.setattr(yaml.constructor.SafeConstructor, "construct_object",
                        lambda self, node, deep=False: built.append(node) or original(self, node, deep))
    with pytest.raises(error) as info:
        reader(path)
    assert "expands to more than" in one_short_line(info.value, path)
    assert built == []  # refused on the composed nodes: bounded work, whatever the expansion


@pytest.mark.parametrize("text, message", [
    ("a: &a [*a]\n", "an alias refers to a collection that contains it"),
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("seed: 1" + "0" * 5000 + "\n", "a value cannot be read"),
    ("data: 2024-13-45\n", "a value cannot be read (month must be in 1..12)"),
    ("seed: !!python/object/apply:os.system [echo hi]\n", "could not determine a constructor"),
    ("detector: {epochs: [1\n", "not valid YAML at line 2, column 1"),
    ("name: \"\udcff\"\n".encode("utf-8", "surrogateescape"), "not UTF-8 text"),
])
def test_bad_documents_are_one_short_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline(path)
    assert message in one_short_line(info.value, path)


@pytest.fixture
def high_recursion_limit():
    """Libraries imported earlier in a process (the full test run has them) raise Python's
    recursion limit: the depth bound must not rest on it."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    yield
    sys.setrecursionlimit(before)


def test_nesting_is_bounded_whatever_the_recursion_limit(tmp_path, high_recursion_limit):
    path = tmp_path / "p.yaml"
    path.write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline(path)
    assert "nested too deeply (more than 100 levels)" in one_short_line(info.value, path)
    path.write_text("a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n")
    with pytest.raises(PipelineConfigError, match="a: unknown field"):  # deep enough, and read
        load_pipeline(path)


def test_oversized_file_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(FeedsConfigError) as info:
        load_feeds(path)
    assert "larger than 1024 KiB" in one_short_line(info.value, path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_and_device_files_are_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline(fifo)
    assert "not a regular file" in one_short_line(info.value, fifo)
    with pytest.raises(ProfileError, match="/dev/zero: not a regular file"):
        load_profile_file("/dev/zero")  # would be read until memory runs out


@pytest.mark.parametrize("path", ["x/" + "y" * 5000 + ".yaml", "x/" + "z" * 100 + "/" * 3000 + "p.yaml",
                                  "x/a\0b.yaml"])
def test_a_long_profile_path_in_a_config_gives_a_short_error(path):
    with pytest.raises(PipelineConfigError) as info:
        parse_config({"bench": {"profiles": [path]}}, "p.yaml")
    text = str(info.value)
    assert text.startswith("p.yaml: bench.profiles[0]: x/") and len(text) < MAX_LINE and "\n" not in text


def test_missing_file_keeps_each_readers_hint(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_yaml_file(tmp_path / "nope.yaml", EdgefaceError)
    with pytest.raises(PipelineConfigError, match="print-default-config"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(FeedsConfigError, match="docs/feeds.md"):
        load_feeds(tmp_path / "nope.yaml")


def test_anchors_and_merge_keys_within_the_bound_still_work(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("detector: &train {epochs: 2, batch: 8}\nrecognizer: {<<: *train, embedding_size: 32}\n")
    config = load_pipeline(path)
    assert (config.detector.epochs, config.recognizer.batch, config.recognizer.embedding_size) == (2, 8, 32)


values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3000),
                      lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=2000), inner,
                                                                                 max_size=5), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(value=values, big=st.integers(0, 5000))
def test_show_is_short_and_one_line_whatever_the_value(value, big):
    text = show([value] * big if big else value)
    assert len(text) <= 60 and "\n" not in text


@pytest.mark.parametrize("command", [["pipeline", "--config", "{path}", "--out", "{out}"], ["serve-feeds", "{path}"],
                                     ["profiles", "show", "{path}"]])
def test_cli_alias_bomb_is_one_short_line_exit_2(tmp_path, command):
    from typer.testing import CliRunner

    from edgeface.cli.app import app

    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb("name", levels=7))
    args = [a.format(path=path, out=tmp_path / "run") for a in command]
    result = CliRunner().invoke(app, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output[:500]
    assert str(path) in lines[0] and "expands to more than" in lines[0] and len(lines[0]) < MAX_LINE
