"""MediaPipe's real BlazeFace detectors, fetched from the pinned mediapipe wheel on PyPI,
checked on real faces shipped with scikit-image.

These tests download the wheel (35 MB) once per module into a temporary EDGEFACE_CACHE.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeface.analyzer import FaceAnalyzer
from edgeface.errors import EdgefaceError
from edgeface.cards.pretrained import FULL_RANGE_SOURCE as FULL
from edgeface.cards.pretrained import SHORT_RANGE_SOURCE as SHORT
from edgeface.pretrained import fetch, fetch_model

skimage_data = pytest.importorskip("skimage.data")
skimage_transform = pytest.importorskip("skimage.transform")

pytestmark = pytest.mark.slow

# Where the astronaut's face is in skimage.data.astronaut() (512x512), checked by drawing
# the detected box and keypoints on the image.
FACE_X = (170, 300)
FACE_Y = (40, 200)


@pytest.fixture(scope="module")
def short_bundle(cache) -> Path:
    return fetch_model("blazeface")


@pytest.fixture(scope="module")
def short_analyzer(short_bundle) -> FaceAnalyzer:
    return FaceAnalyzer.create_from_bundle(short_bundle)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def _check_astronaut(faces, min_score=0.7):
    assert len(faces) == 1, [f.to_dict() for f in faces]
    face = faces[0]
    assert face.score > min_score
    b = face.bbox
    assert FACE_X[0] <= b.x1 < b.x2 <= FACE_X[1], face.to_dict()
    assert FACE_Y[0] <= b.y1 < b.y2 <= FACE_Y[1], face.to_dict()
    assert 60 <= b.width <= 130 and 60 <= b.height <= 130
    k = {p.name: (p.x, p.y) for p in face.keypoints}
    assert list(k) == ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"]
    for x, y in k.values():
        assert b.x1 - 10 <= x <= b.x2 + 10 and b.y1 - 10 <= y <= b.y2 + 10
    eyes_y = max(k["right_eye"][1], k["left_eye"][1])
    assert eyes_y < k["nose_tip"][1] < k["mouth_center"][1]
    assert k["right_eye"][0] < k["left_eye"][0]  # the subject's right eye is on the image's left
    assert k["right_ear"][0] < k["right_eye"][0] and k["left_ear"][0] > k["left_eye"][0]
    assert k["right_eye"][0] < k["nose_tip"][0] < k["left_eye"][0]


def _lfw_canvas(crop: np.ndarray, size: int = 200, canvas: int = 400) -> np.ndarray:
    """A 25x25 grayscale LFW crop upscaled to ``size`` and centred on a black canvas."""
    up = skimage_transform.resize(crop, (size, size), order=1)
    image = np.zeros((canvas, canvas), np.uint8)
    o = (canvas - size) // 2
    image[o:o + size, o:o + size] = np.clip(np.rint(up * 255), 0, 255).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2)


def _lfw_rates(analyzer: FaceAnalyzer) -> tuple[int, int, int]:
    """(faces with a detection over the crop, of 100; non-faces with any detection, of 100;
    face images with more than one detection)."""
    crops = skimage_data.lfw_subset()
    found_faces = found_other = several = 0
    for i, crop in enumerate(crops):
        faces = analyzer.detect(_lfw_canvas(crop))
        if i < 100:
            several += len(faces) > 1
            if faces:
                b = faces[0].bbox
                cx, cy = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2
                found_faces += 100 <= cx <= 300 and 100 <= cy <= 300
        else:
            found_other += bool(faces)
    return found_faces, found_other, several


# -- the bundle ------------------------------------------------------------------------------

def test_fetch_writes_a_bundle_with_provenance(short_bundle, cache):
    assert short_bundle == cache / "bundles" / "blazeface-short"
    manifest = json.loads((short_bundle / "manifest.json").read_text())
    source = manifest["source"]
    assert source["package"] == "mediapipe" and source["version"] == SHORT.version
    assert source["licence"] == "Apache-2.0"
    assert source["distribution_sha256"] == SHORT.distribution_sha256
    assert source["member_sha256"] == manifest["models"]["detector"]["sha256"] == SHORT.member_sha256
    assert manifest["models"]["detector"]["decoder"]["outputs"] == {"boxes": "regressors",
                                                                    "scores": "classificators"}
    wheel = cache / "downloads" / SHORT.distribution
    assert fetch.sha256_file(wheel) == SHORT.distribution_sha256
    # The wheel's own metadata declares the licence recorded in the manifest.
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"mediapipe-{SHORT.version}.dist-info/METADATA").decode()
    assert "License: Apache 2.0" in metadata
    # no staging left: only finished downloads (other tests of the run may have fetched other packages)
    names = sorted(p.name for p in (cache / "downloads").iterdir())
    assert SHORT.distribution in names and all(n.endswith((".whl", ".tar.gz")) and not n.startswith(".") for n in names)


def test_fetch_is_idempotent_and_offline_once_cached(short_bundle, monkeypatch):
    before = (short_bundle / "manifest.json").stat().st_mtime_ns

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the bundle is cached")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    assert fetch_model("blazeface") == short_bundle
    assert (short_bundle / "manifest.json").stat().st_mtime_ns == before
    # A damaged bundle is rebuilt from the cached wheel, still without pip.
    (short_bundle / SHORT.file).write_bytes(b"garbage")
    assert fetch_model("blazeface") == short_bundle
    assert fetch.sha256_file(short_bundle / SHORT.file) == SHORT.member_sha256


# -- real faces ------------------------------------------------------------------------------

def test_short_range_finds_the_astronaut(short_analyzer, astronaut):
    _check_astronaut(short_analyzer.detect(astronaut))


def test_short_range_on_lfw_faces_and_non_faces(short_analyzer):
    faces, other, several = _lfw_rates(short_analyzer)
    print(f"\nblazeface short-range on upscaled lfw_subset: {faces}/100 faces found, "
          f"{other}/100 non-faces with a detection, {several} face images with >1 detection")
    assert faces >= 95  # measured 100
    assert other <= 5  # measured 0
    assert several <= 2  # measured 0


def test_full_range_finds_the_astronaut(cache, astronaut):
    bundle = fetch_model("blazeface-full")
    assert bundle == cache / "bundles" / "blazeface-full"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["models"]["detector"]["input"]["height"] == 192
    assert manifest["source"]["member_sha256"] == FULL.member_sha256
    _check_astronaut(FaceAnalyzer.create_from_bundle(bundle).detect(astronaut))


# -- refusing bad downloads and bad targets --------------------------------------------------

def test_a_tampered_cached_wheel_is_refused(short_bundle, tmp_path, monkeypatch):
    other = tmp_path / "cache"
    (other / "downloads").mkdir(parents=True)
    wheel = other / "downloads" / SHORT.distribution
    shutil.copyfile(fetch.downloads_dir() / SHORT.distribution, wheel)
    with open(wheel, "r+b") as handle:  # flip one byte in the middle
        handle.seek(10_000_000)
        byte = handle.read(1)
        handle.seek(10_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setenv(fetch.CACHE_ENV, str(other))
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    with pytest.raises(EdgefaceError, match="tampered or corrupt download") as info:
        fetch_model("blazeface")
    assert f"delete {wheel}" in str(info.value)
    assert not (other / "bundles" / "blazeface-short").exists()


def test_a_download_that_does_not_match_the_pin_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path))

    def fake_pip(cmd, **kwargs):
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / SHORT.distribution).write_bytes(b"not the pinned wheel")
        return fetch.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    with pytest.raises(EdgefaceError, match="tampered or corrupt download.*was not used"):
        fetch_model("blazeface")
    assert list((tmp_path / "downloads").iterdir()) == []


def test_pip_failure_names_the_requirement(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: an empty local index only
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    with pytest.raises(EdgefaceError, match=r"cannot download edgeface-no-such-package==1\.0 with pip"):
        fetch.download_package("edgeface-no-such-package==1.0", binary=True, sha256=None)


def test_fetch_refuses_to_replace_a_directory_that_is_not_a_bundle(short_bundle, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(EdgefaceError, match="not a bundle"):
        fetch_model("blazeface", tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    out = fetch_model("blazeface", tmp_path / "bf")
    assert (out / "manifest.json").is_file()


def test_extract_member_reads_wheels_and_sdists(tmp_path):
    sdist = tmp_path / "pkg-1.0.tar.gz"
    payload = tmp_path / "model.dat"
    payload.write_bytes(b"weights")
    with tarfile.open(sdist, "w:gz") as t:
        t.add(payload, arcname="pkg-1.0/pkg/models/model.dat")
    assert fetch.extract_member(sdist, "pkg/models/model.dat") == b"weights"
    assert fetch.extract_member(sdist, "model.dat") == b"weights"
    with pytest.raises(EdgefaceError, match="no member ending with 'odel.dat'"):
        fetch.extract_member(sdist, "odel.dat")  # suffixes match at a path boundary
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/a/model.dat", b"a")
        z.writestr("pkg/b/model.dat", b"b")
    assert fetch.extract_member(wheel, "b/model.dat") == b"b"
    with pytest.raises(EdgefaceError, match="2 members"):
        fetch.extract_member(wheel, "model.dat")


# -- int8, made by edgeface's own quantizer --------------------------------------------------

def test_int8_variant_made_by_the_quantizer(short_bundle, short_analyzer, astronaut):
    for module in ("tensorflow", "tf2onnx", "onnx2tf"):
        pytest.importorskip(module)
    bundle = fetch_model("blazeface-int8")
    manifest = json.loads((bundle / "manifest.json").read_text())
    quant = manifest["source"]["quantization"]
    assert manifest["source"]["member_sha256"] == SHORT.member_sha256
    assert quant["fidelity_vs_float"]["detector"]["missed"] == 0
    analyzer = FaceAnalyzer.create_from_bundle(bundle)
    faces = analyzer.detect(astronaut)
    _check_astronaut(faces)
    ref = short_analyzer.detect(astronaut)[0].bbox
    got = faces[0].bbox
    inter = max(0, min(ref.x2, got.x2) - max(ref.x1, got.x1)) * max(0, min(ref.y2, got.y2) - max(ref.y1, got.y1))
    iou = inter / (ref.width * ref.height + got.width * got.height - inter)
    assert iou > 0.9
    found, other, _ = _lfw_rates(analyzer)
    print(f"\nblazeface int8 on upscaled lfw_subset: {found}/100 faces, {other}/100 non-faces")
    assert found >= 95 and other <= 10  # measured 100 and 1 (the faces are also its calibration set)
    assert fetch_model("blazeface-int8") == bundle  # reused


# -- CLI -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli():
    import typer
    from typer.testing import CliRunner

    from edgeface.cli.models import models_app

    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """test app"""

    app.add_typer(models_app, name="models")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_cli_fetch_and_list(cli, short_bundle):
    result = cli("models", "fetch", "blazeface", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["bundle"] == str(short_bundle) and data["reused"] is True
    assert data["licence"] == "Apache-2.0" and data["version"] == SHORT.version
    result = cli("models", "fetch", "blazeface")
    assert result.exit_code == 0 and result.stdout.strip() == str(short_bundle)
    result = cli("models", "list")
    assert result.exit_code == 0, result.output
    assert "blazeface" in result.stdout and "mediapipe" in result.stdout
    result = cli("models", "list", "--json")
    rows = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert rows["blazeface"]["cached"] is True
    assert {"blazeface", "blazeface-full", "blazeface-int8"} <= set(rows)


def test_cli_unknown_model_is_a_user_error(cli):
    result = cli("models", "fetch", "no-such-model")
    assert result.exit_code == 2
    assert "unknown pretrained model" in result.stderr
