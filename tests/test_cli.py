"""The command line: tables and JSON, exit code 2 with one line for user errors. (The light
import of ``import edgeface`` and ``--help`` is checked in tests/test_layering.py.)"""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edgeface.cli.app import app
from tests.conftest import blob_image
from tests.test_analyzer import SQUARE, textured

runner = CliRunner()


@pytest.fixture
def images(tmp_path):
    paths = {}
    for name, array in {"one": blob_image(squares=SQUARE), "none": np.zeros((48, 64, 3), np.uint8),
                        "ann": textured(1, SQUARE), "ann2": textured(1, ((440, 280, 80),)),
                        "bob": textured(2, SQUARE)}.items():
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(array).save(paths[name])
    return paths


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_version_and_help():
    from edgeface import __version__

    assert run("--version").stdout.strip() == f"edgeface {__version__}"
    result = run("--help")
    assert result.exit_code == 0
    for command in ("detect", "embed", "verify", "enroll", "identify", "doctor"):
        assert command in result.stdout


def test_detect_json_in_original_coordinates(images, fixture_bundle):
    result = run("detect", images["one"], images["none"], "--bundle", fixture_bundle(), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [len(d["faces"]) for d in data] == [1, 0]
    assert (data[0]["width"], data[0]["height"]) == (640, 480)
    x1, y1, x2, y2 = data[0]["faces"][0]["bbox"]
    assert abs((x1 + x2) / 2 - 200) <= 1 and abs((y1 + y2) / 2 - 200) <= 1


def test_detect_table_and_bundle_from_environment(images, fixture_bundle):
    result = run("detect", images["one"], env={"EDGEFACE_BUNDLE": str(fixture_bundle()), "COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "one.png" in result.stdout and "0.99" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["detect", "{one}"], "edgeface models fetch default"),
    (["detect", "{missing}", "--bundle", "{bundle}"], "no such image file"),
    (["detect", "{one}", "--bundle", "{nowhere}"], "no such bundle"),
    (["verify", "{one}", "{none}", "--bundle", "{bundle}"], "image B: no face found"),
    (["identify", "{one}", "--gallery", "{nowhere}", "--bundle", "{bundle}"], "no such gallery"),
    (["embed", "{one}", "--bundle", "{detector_only}"], "no embedder"),
])
def test_user_errors_exit_2_with_one_line(images, fixture_bundle, tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("EDGEFACE_BUNDLE", raising=False)
    monkeypatch.setenv("EDGEFACE_CACHE", str(tmp_path / "empty-cache"))  # no default bundle either
    values = dict(one=images["one"], none=images["none"], missing=tmp_path / "missing.png",
                  bundle=fixture_bundle(), nowhere=tmp_path / "nowhere",
                  detector_only=fixture_bundle("blob_detector_only"))
    result = run(*[a.format(**values) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def decodes(monkeypatch):
    """Per ``read_image`` call, how many images it decoded before are still alive then."""
    import weakref

    import edgeface.image

    real, alive, held = edgeface.image.read_image, [], []

    def counting(path, *args, **kwargs):
        held.append(sum(ref() is not None for ref in alive))
        rgb = real(path, *args, **kwargs)
        alive.append(weakref.ref(rgb))
        return rgb

    monkeypatch.setattr(edgeface.image, "read_image", counting)
    return held


def test_detect_decodes_one_image_at_a_time(images, fixture_bundle, decodes):
    names = ("one", "none", "ann", "bob", "one")
    result = run("detect", *[images[n] for n in names], "--bundle", fixture_bundle(), "--json")
    assert result.exit_code == 0, result.output
    assert [len(d["faces"]) for d in json.loads(result.stdout)][:2] == [1, 0]
    assert decodes == [0] * len(names)  # no earlier image alive when the next is decoded


def test_detect_checks_every_file_before_decoding_any(images, fixture_bundle, tmp_path, decodes):
    (tmp_path / "notes.png").write_text("not an image\n")
    for bad, message in (("missing.png", "missing.png: no such image file"),
                         ("notes.png", "notes.png: cannot decode this image")):
        result = run("detect", images["one"], images["ann"], tmp_path / bad, "--bundle", fixture_bundle())
        assert result.exit_code == 2 and message in result.stderr and result.stdout == ""
    assert decodes == []


def test_detect_image_over_pillows_limit_is_one_line_without_pillows_warning(images, fixture_bundle, tmp_path):
    import warnings

    from tests.test_image import png_claiming

    huge = png_claiming(10_000, 10_000, tmp_path / "huge.png")  # over Image.MAX_IMAGE_PIXELS (89 M)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run("detect", images["one"], huge, "--bundle", fixture_bundle())
    assert result.exit_code == 2 and "huge.png: 10000x10000 is over the limit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert [w for w in caught if w.category is Image.DecompressionBombWarning] == []


def test_detect_damaged_image_among_many_fails_whole_with_one_line(images, fixture_bundle, tmp_path):
    data = images["ann"].read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])  # the header is whole, the pixels are not
    result = run("detect", images["one"], tmp_path / "cut.png", images["bob"], "--bundle", fixture_bundle(), "--json")
    assert result.exit_code == 2 and result.stdout == ""  # as before streaming: no partial output
    assert result.stderr.startswith("error: ") and "cut.png: cannot decode" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_detect_boxes_are_in_the_upright_photo_of_an_exif_rotated_file(images, fixture_bundle, tmp_path):
    upright = blob_image(squares=SQUARE)  # 640x480, a face at (200, 200)
    stored = Image.fromarray(np.rot90(upright, 1))  # as a phone stores it: sideways, tagged "rotate 90 CW"
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.png", exif=exif)
    result = run("detect", tmp_path / "phone.png", "--bundle", fixture_bundle(), "--json")
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.stdout)
    assert (data["width"], data["height"]) == (640, 480)
    x1, y1, x2, y2 = data["faces"][0]["bbox"]
    assert abs((x1 + x2) / 2 - 200) <= 1 and abs((y1 + y2) / 2 - 200) <= 1


def test_embed_saves_npy(images, fixture_bundle, tmp_path):
    out = tmp_path / "e.npy"
    result = run("embed", images["ann"], "--bundle", fixture_bundle(), "--out", out, "--json")
    assert result.exit_code == 0, result.output
    saved = np.load(out)
    assert saved.shape == (1, 128)
    np.testing.assert_allclose(saved[0], json.loads(result.stdout)["faces"][0]["embedding"], atol=1e-5)


@pytest.mark.parametrize("store", ["file", "milvus"])
def test_verify_enroll_identify(images, fixture_bundle, tmp_path, store):
    """A gallery file, or a gallery in Milvus (Milvus Lite, the embedded server) by URI."""
    if store == "milvus":
        pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")
    bundle = fixture_bundle()
    gallery = tmp_path / "g.efg" if store == "file" else f"milvus-lite:{tmp_path / 'g.db'}?collection=people"
    same = json.loads(run("verify", images["ann"], images["ann2"], "--bundle", bundle, "--json").stdout)
    assert same["is_same"] and same["similarity"] > 0.999
    for name in ("ann", "bob"):
        result = run("enroll", name, images[name], "--gallery", gallery, "--bundle", bundle, "--json")
        assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["identities"] == 2
    result = run("identify", images["ann2"], "--gallery", gallery, "--bundle", bundle, "--json")
    faces = json.loads(result.stdout)["faces"]
    assert faces[0]["identity"] == "ann" and faces[0]["candidates"][0]["identity"] == "ann"
    table = run("identify", images["ann2"], "--gallery", gallery, "--bundle", bundle)
    assert "ann" in table.stdout


def test_a_gallery_of_another_embedder_is_a_one_line_user_error(images, fixture_bundle, tmp_path):
    gallery, other = tmp_path / "g.efg", fixture_bundle("blob_blazeface_int8")  # same embedding size
    assert run("enroll", "ann", images["ann"], "--gallery", gallery, "--bundle", fixture_bundle()).exit_code == 0
    before = gallery.read_bytes()
    for args in (["enroll", "bob", images["bob"]], ["identify", images["ann2"]]):
        result = run(*args, "--gallery", gallery, "--bundle", other)
        assert result.exit_code == 2, result.output
        assert "g.efg was enrolled with embedder 'fixture-blob-blazeface' (sha256 91d18f0ef816), not this " \
               "bundle's 'fixture-blob-blazeface-int8' (sha256 bfa1f713a0b9): re-enroll the gallery with this " \
               "bundle, or use the bundle that made it" in result.stderr
        assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    assert gallery.read_bytes() == before


def test_doctor_json_lists_capabilities():
    result = run("doctor", "--json")
    data = json.loads(result.stdout)
    assert data["packages"]["ai-edge-litert"]
    assert any(c["name"].startswith("run TFLite") and c["ready"] for c in data["capabilities"])


# --------------------------------------------------------------------- names and paths are shown as they are

WIDE = {"COLUMNS": "400"}  # one table row per line


def enroll_as(name, image, gallery, bundle):
    return run("enroll", name, image, "--gallery", gallery, "--bundle", bundle, env=WIDE)


def test_markup_in_names_and_paths_is_printed_literally(images, fixture_bundle, tmp_path):
    bundle, gallery = fixture_bundle(), tmp_path / "team [draft].efg"
    photo = tmp_path / "photo [draft].png"
    photo.write_bytes(images["ann"].read_bytes())
    result = enroll_as("ann[/]", photo, gallery, bundle)
    assert result.exit_code == 0, result.output
    assert "enrolled 'ann[/]': 1 template(s) in " in result.stdout and "team [draft].efg" in result.stdout
    link = "[link=https://evil.example]bob[/link]"
    assert enroll_as(link, images["bob"], gallery, bundle).exit_code == 0
    table = run("identify", images["ann2"], "--gallery", gallery, "--bundle", bundle, "--top-k", "2", env=WIDE)
    assert table.exit_code == 0, table.output
    assert "ann[/]" in table.stdout and link in table.stdout
    detected = run("detect", photo, "--bundle", bundle, env=WIDE)
    assert detected.exit_code == 0 and "photo [draft].png" in detected.stdout


def test_control_characters_from_a_gallery_file_are_shown_escaped(images, fixture_bundle, tmp_path):
    """A gallery file from elsewhere may hold any name: identify must not send it to the terminal raw."""
    from edgeface.gallery import Gallery

    bundle, gallery = fixture_bundle(), tmp_path / "g.efg"
    assert enroll_as("ann", images["ann"], gallery, bundle).exit_code == 0
    honest = Gallery.open(gallery)
    forged = Gallery(honest.dim, tmp_path / "forged.efg")
    forged._append("eve\x1b[2J\x1b]8;;https://evil.example\x07\u202e", honest.templates("ann")[:1])  # not via enroll
    forged.save()
    result = run("identify", images["ann2"], "--gallery", forged.path, "--bundle", bundle, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "eve\\x1b[2J\\x1b]8;;https://evil.example\\x07\\u202e" in result.stdout
    assert "\x1b" not in result.output and "\u202e" not in result.output


@pytest.mark.parametrize("name, message", [
    ("ann\x1b[31m", "holds control characters ('\\x1b'): use printable text"),
    ("caf\udce9", "holds bytes that are not valid text in this locale"),  # a Latin-1 argv byte, surrogate-escaped
])
def test_enroll_refuses_unprintable_names_as_a_user_error(images, fixture_bundle, tmp_path, name, message):
    gallery = tmp_path / "g.efg"
    result = enroll_as(name, images["ann"], gallery, fixture_bundle())
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "\x1b" not in result.output and not gallery.exists()


def test_error_lines_show_control_characters_escaped(images, fixture_bundle, tmp_path):
    result = run("identify", images["one"], "--gallery", tmp_path / "no\x1b[2Jwhere.efg", "--bundle", fixture_bundle())
    assert result.exit_code == 2
    assert "no\\x1b[2Jwhere.efg" in result.stderr and "\x1b" not in result.stderr
