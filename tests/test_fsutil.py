"""edgeface.fsutil.write_json: the one JSON writer of reports and records."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeface.fsutil import write_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=50, deadline=None)
@given(data=JSON_VALUES)
def test_what_is_written_reads_back_equal_and_ends_with_a_newline(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("json") / "report.json"
    write_json(path, data)
    text = path.read_text()
    assert text.endswith("\n") and json.loads(text) == data


def test_a_value_json_cannot_hold_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "report.json"
    write_json(path, {"run": 1})
    with pytest.raises(TypeError):
        write_json(path, {"run": 2, "when": object()})
    assert json.loads(path.read_text()) == {"run": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_default_converts_what_json_cannot_and_indent_is_kept(tmp_path):
    path = tmp_path / "deep" / "folder" / "report.json"
    write_json(path, {"path": tmp_path}, indent=1, default=str)
    assert path.read_text() == '{\n "path": ' + json.dumps(str(tmp_path)) + "\n}\n"
