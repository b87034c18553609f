"""Output paths of the image and video commands (embed --out, track --out-video and
--events): a path the command cannot or should not write is a user error (exit 2, one
line naming the option, the path and the fix), found before any model or video is opened,
and nothing of the user's is replaced."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import edgeface.cli.app
import edgeface.video
from edgeface.cli.app import app
from tests import video_fixtures as vf
from tests.test_analyzer import SQUARE, textured


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def no_model_loaded(monkeypatch):
    """Fails the test if a command gets as far as loading the bundle."""
    def refuse(*args, **kwargs):
        raise AssertionError("the models were loaded before the output path was checked")

    monkeypatch.setattr(edgeface.cli.app, "analyzer_for", refuse)
    monkeypatch.setattr("edgeface.cli.track.analyzer_for", refuse)
    monkeypatch.setattr(edgeface.video, "open_video", lambda *a, **k: refuse())


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "ann.png"
    Image.fromarray(textured(1, SQUARE)).save(path)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("out, fragments", [
    (lambda tmp: tmp, ["is a folder"]),
    (lambda tmp: (tmp / "notes.txt").resolve() / "e.npy", ["notes.txt is a file, not a folder"]),
    (lambda tmp: tmp / "ann.png", ["is also an input"]),
    (lambda tmp: _fifo(tmp / "pipe.npy"), ["is not a regular file"]),
    pytest.param(lambda tmp: Path("/proc/edgeface-test/e.npy"), ["cannot write in /proc"],
                 marks=pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")),
], ids=["folder", "under-a-file", "the-input", "a-pipe", "unwritable"])
def test_embed_out_that_cannot_be_written_is_refused_before_work(tmp_path, photo, fixture_bundle, no_model_loaded,
                                                                out, fragments):
    (tmp_path / "notes.txt").write_text("keep\n")
    target = out(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = run("embed", photo, "--bundle", fixture_bundle(), "--out", target)
    assert_one_line_user_error(result, f"--out {target}", *fragments)
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ann.png", "notes.txt", *(
        ["pipe.npy"] if target.name == "pipe.npy" else [])])


def test_embed_out_still_makes_missing_folders(tmp_path, photo, fixture_bundle):
    out = tmp_path / "new" / "deeper" / "e.npy"
    result = run("embed", photo, "--bundle", fixture_bundle(), "--out", out)
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (1, 128)


@pytest.fixture
def clip(tmp_path):
    return vf.write_mp4(vf.single_face_video(n_frames=2), tmp_path / "clip.mp4")


@pytest.mark.parametrize("option", ["--out-video", "--events"])
@pytest.mark.parametrize("out, fragments", [
    (lambda tmp: tmp / "missing" / "out.mp4", ["the folder", "missing does not exist: create it first"]),
    (lambda tmp: tmp, ["is a folder"]),
    (lambda tmp: tmp / "clip.mp4", ["is also an input"]),
], ids=["missing-folder", "folder", "the-input"])
def test_track_outputs_that_cannot_be_written_are_refused_before_work(tmp_path, clip, fixture_bundle,
                                                                     no_model_loaded, option, out, fragments):
    target = out(tmp_path)
    video = clip.read_bytes()
    result = run("track", clip, "--bundle", fixture_bundle(), option, target)
    assert_one_line_user_error(result, f"{option} {target}", *fragments)
    assert clip.read_bytes() == video and not (tmp_path / "missing").exists()
