"""``edgeface bundle combine``: a detector bundle and an embedder-only bundle become one
that ``edgeface verify`` runs; missing models, a bundle with both models and an existing
--out are refused with one line, and nothing of the user's is replaced or deleted."""

import dataclasses
import json
import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from edgeface.bundle import load_bundle, write_bundle
from edgeface.cli.app import app
from tests.test_analyzer import SQUARE, textured

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def embedder_only(tmp_path, fixture_bundle):
    """The fixture's embedder alone, like the fp32/fp16 recognizer bundles (no detector)."""
    full = load_bundle(fixture_bundle())
    manifest = dataclasses.replace(full.manifest, detector=None, raw={}, name="embedder-only")
    return write_bundle(tmp_path / "embedder_only", manifest, full.files(roles=("embedder",)))


@pytest.fixture
def faces(tmp_path):
    paths = []
    for name, squares in (("ann", SQUARE), ("ann2", ((440, 280, 80),))):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(textured(1, squares)).save(paths[-1])
    return paths


def test_combined_bundle_verifies_like_the_bundle_with_both_models(tmp_path, fixture_bundle, embedder_only, faces):
    assert "no detector" in run("verify", *faces, "--bundle", embedder_only).stderr  # the defect's symptom
    out = tmp_path / "combined"
    result = run("bundle", "combine", "--detector", fixture_bundle("blob_detector_only"), "--embedder",
                 embedder_only, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["bundle"] == str(out)
    combined = load_bundle(out)
    assert combined.manifest.detector == load_bundle(fixture_bundle("blob_detector_only")).manifest.detector
    assert combined.manifest.embedder == load_bundle(embedder_only).manifest.embedder
    got = json.loads(run("verify", *faces, "--bundle", out, "--json").stdout)
    want = json.loads(run("verify", *faces, "--bundle", fixture_bundle(), "--json").stdout)
    assert got == want and got["similarity"] > 0.5  # the same textured face, found and matched


@pytest.mark.parametrize("detector, embedder, message", [
    ("embedder_only", "embedder_only", "embedder_only: this bundle has no detector"),
    ("detector_only", "detector_only", "detector_only: this bundle has no embedder"),
    ("both", "embedder_only", "--detector .*has both a detector and an embedder.*which embedder"),
    ("detector_only", "both", "--embedder .*has both a detector and an embedder.*which detector"),
    ("detector_only", "nowhere", "no such bundle"),
])
def test_refusals_are_one_line_naming_the_bundle(tmp_path, fixture_bundle, embedder_only, detector, embedder,
                                                  message):
    paths = {"embedder_only": embedder_only, "detector_only": fixture_bundle("blob_detector_only"),
             "both": fixture_bundle(), "nowhere": tmp_path / "nowhere"}
    result = run("bundle", "combine", "--detector", paths[detector], "--embedder", paths[embedder],
                 "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "out").exists()


def test_an_existing_out_is_kept_unless_force_and_never_deleted(tmp_path, fixture_bundle, embedder_only):
    args = ["bundle", "combine", "--detector", fixture_bundle("blob_detector_only"), "--embedder", embedder_only]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    result = run(*args, "--out", notes)
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    forced = run(*args, "--out", notes, "--force")
    assert forced.exit_code == 2 and "is not a bundle" in forced.stderr
    assert (notes / "mine.txt").read_text() == "keep me"

    bundle = tmp_path / "bundle"
    assert run(*args, "--out", bundle).exit_code == 0
    assert run(*args, "--out", bundle).exit_code == 2  # a bundle is user data too
    assert run(*args, "--out", bundle, "--force", "--name", "again").exit_code == 0
    assert load_bundle(bundle).manifest.name == "again"


def test_out_may_not_be_an_input_bundle(tmp_path, fixture_bundle, embedder_only):
    result = run("bundle", "combine", "--detector", fixture_bundle("blob_detector_only"), "--embedder",
                 embedder_only, "--out", embedder_only, "--force")
    assert result.exit_code == 2 and "is one of the bundles to combine" in result.stderr
    assert load_bundle(embedder_only).manifest.detector is None
