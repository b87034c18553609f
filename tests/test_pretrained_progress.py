"""Progress while a pretrained model is fetched: the bytes pip has received so far, and each
build step, on stderr; nothing but the JSON with --json. pip is faked: it writes its
download slowly into its temporary folder, as the real one does."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeface.cli import progress
from edgeface.cli.app import app
from edgeface.pretrained import PretrainedModel, fetch

WHEEL = "fake_models-1.0-py3-none-any.whl"


@pytest.fixture
def slow_pip(tmp_path, monkeypatch):
    """``pip download`` taking 0.4 s to receive 4 MB into $TMPDIR, then saving the wheel."""
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "WATCH_EVERY_S", 0.05)

    def pip(cmd, **kwargs):
        partial = Path(kwargs["env"]["TMPDIR"]) / "pip-unpack-x" / WHEEL
        partial.parent.mkdir()
        with open(partial, "wb") as handle:
            for _ in range(8):
                handle.write(b"\0" * 500_000)
                handle.flush()
                time.sleep(0.05)
        os.replace(partial, Path(cmd[cmd.index("-d") + 1]) / WHEEL)
        return fetch.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", pip)


def test_the_bytes_received_so_far_are_reported_during_the_download(slow_pip):
    told = []
    with fetch.download_progress(told.append):
        path = fetch.download_package("fake-models==1.0", binary=True, sha256=None, filename=WHEEL)
    assert path.stat().st_size == 4_000_000
    sizes = [float(m) for m in re.findall(rf"downloading {WHEEL}: ([\d.]+) MB so far", "\n".join(told))]
    assert len(sizes) == len(told) >= 3 and sizes == sorted(sizes) and 0 < sizes[-1] <= 4.0, told


@pytest.fixture
def fake_fetcher(slow_pip, monkeypatch):
    """Any model's fetch: a download, then one build step."""
    def fetch_it(self, out_dir=None, progress=lambda message: None):
        fetch.download_package("fake-models==1.0", binary=True, sha256=None, filename=WHEEL)
        progress("writing the bundle")
        return self.bundle_dir()

    monkeypatch.setattr(PretrainedModel, "fetch", fetch_it)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # not a terminal: every update a line


def test_cli_fetch_shows_the_download_and_each_step_on_stderr(fake_fetcher):
    result = CliRunner().invoke(app, ["models", "fetch", "blazeface"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("fetching blazeface (mediapipe==")
    assert any(re.fullmatch(rf"downloading {WHEEL}: [\d.]+ MB so far", line) for line in lines), lines
    assert lines[-1] == "writing the bundle"
    assert result.stdout.strip().endswith("blazeface-short")


def test_cli_fetch_json_is_quiet(fake_fetcher):
    result = CliRunner().invoke(app, ["models", "fetch", "blazeface", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and json.loads(result.stdout)["name"] == "blazeface"
