"""Attacks on bundles (issue 14): a write that would delete a user's directory, members
that exhaust memory, hang or read outside the bundle, malformed zips, manifest values
that accept anyone or imply huge allocations, and readers racing a writer. Each must end
in a BundleError/ManifestError (exit code 2 on the command line), never in lost files,
a traceback, a hang or unbounded memory."""

import contextlib
import functools
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgeface.bundle import MAX_MANIFEST_BYTES, load_bundle, parse_manifest, write_bundle
from edgeface.errors import BundleError, ManifestError
from tests.conftest import blob_image

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def parts(fixture_bundle):
    """(manifest, files) of the fixture bundle, for write_bundle."""
    root = fixture_bundle()
    manifest = json.loads((root / "manifest.json").read_text())
    return manifest, {p.name: p.read_bytes() for p in root.iterdir() if p.name != "manifest.json"}


def read_everything(path):
    bundle = load_bundle(path)
    for spec in bundle.manifest.models():
        bundle.read_model(spec)
    return bundle


def zip_dir(folder, archive):
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f.name)
    return archive


@contextlib.contextmanager
def memory_peak():
    """A list that holds, after the block, the most bytes Python had allocated in it."""
    peak = []
    tracemalloc.start()
    try:
        yield peak
        peak.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def run_cli(*args):
    from edgeface.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


# ---- item 1: never delete a directory that is not a bundle -------------------------------

def test_write_bundle_refuses_a_users_directory_and_keeps_its_files(tmp_path, parts):
    users = tmp_path / "x"
    users.mkdir()
    (users / "thesis.txt").write_text("keep")
    with pytest.raises(BundleError, match=f"{users}: exists and is not a bundle.*new or empty directory"):
        write_bundle(users, *parts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no staging left behind either
    assert [p.name for p in users.iterdir()] == ["thesis.txt"] and (users / "thesis.txt").read_text() == "keep"


def test_write_bundle_refuses_a_bundle_with_a_users_file_in_it(tmp_path, parts):
    out = write_bundle(tmp_path / "b", *parts)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="exists and is not a bundle"):
        write_bundle(out, *parts)
    assert (out / "notes.txt").read_text() == "mine"


def test_write_bundle_refuses_a_folder_with_another_programs_manifest(tmp_path, parts):
    web = tmp_path / "site"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "my web app", "icons": []}')
    with pytest.raises(BundleError, match="exists and is not a bundle"):
        write_bundle(web, *parts)
    assert json.loads((web / "manifest.json").read_text())["name"] == "my web app"


def test_write_bundle_refuses_a_file_and_a_symlink(tmp_path, parts):
    (tmp_path / "f").write_text("data")
    with pytest.raises(BundleError, match="not a directory"):
        write_bundle(tmp_path / "f", *parts)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(BundleError, match="symbolic link"):
        write_bundle(tmp_path / "link", *parts)
    assert (tmp_path / "f").read_text() == "data" and (tmp_path / "link").is_symlink()


def test_write_bundle_uses_an_empty_directory_and_replaces_its_own_bundle(tmp_path, parts):
    empty = tmp_path / "empty"
    empty.mkdir()
    write_bundle(empty, *parts)
    parts[0]["description"] = "second version"
    write_bundle(empty, *parts)
    assert load_bundle(empty).manifest.description == "second version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


@pytest.fixture
def fetch_without_network(monkeypatch, fixture_bundle):
    """fetch_default with its two downloads replaced by the fixture bundle (it has both a
    detector and an embedder): what is left is the writing of the default bundle."""
    import edgeface.pretrained.default as default
    from edgeface.cards import get_pretrained_card

    monkeypatch.setattr(default, "_pick", lambda float_name, int8_name, progress: fixture_bundle())
    return functools.partial(default.fetch_default, get_pretrained_card("default"))


def test_fetch_default_refuses_to_replace_a_users_directory(tmp_path, fetch_without_network):
    users = tmp_path / "x"
    users.mkdir()
    (users / "thesis.txt").write_text("keep")
    with pytest.raises(BundleError, match="exists and is not a bundle"):
        fetch_without_network(users)
    assert (users / "thesis.txt").read_text() == "keep"


def test_cli_models_fetch_default_out_keeps_a_users_directory(tmp_path, fetch_without_network):
    users = tmp_path / "x"
    users.mkdir()
    (users / "thesis.txt").write_text("keep")
    result = run_cli("models", "fetch", "default", "--out", users)
    assert result.exit_code == 2, result.output
    assert f"error: {users}: exists and is not a bundle" in result.output
    assert [p.name for p in users.iterdir()] == ["thesis.txt"] and (users / "thesis.txt").read_text() == "keep"
    fresh = tmp_path / "fresh"
    result = run_cli("models", "fetch", "default", "--out", fresh)
    assert result.exit_code == 0, result.output
    read_everything(fresh)


# ---- item 9: atomic replacement, serialised writers, no needless rewrite ----------------

def test_fetch_default_leaves_an_up_to_date_bundle_untouched(tmp_path, fetch_without_network):
    out = fetch_without_network(tmp_path / "default")
    before = [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.iterdir())]
    identity = out.stat().st_ino
    assert fetch_without_network(tmp_path / "default") == out
    assert out.stat().st_ino == identity
    assert [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.iterdir())] == before
    (out / "detector.tflite").write_bytes(b"damaged")  # a damaged one is rebuilt
    fetch_without_network(tmp_path / "default")
    read_everything(out)


WRITER = """
import json, sys
from pathlib import Path
from edgeface.bundle import write_bundle

out, source, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
manifest = json.loads((source / "manifest.json").read_text())
files = {p.name: p.read_bytes() for p in source.iterdir() if p.name != "manifest.json"}
for i in range(rounds):  # alternate two bundles whose manifests and files all differ
    manifest["description"] = f"version {i % 2}"
    write_bundle(out, manifest, {name: data + bytes([i % 2]) * (i % 2) for name, data in files.items()})
"""


def start_writer(out, source, rounds):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(source), str(rounds)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_readers_never_fail_while_a_writer_replaces_the_bundle(tmp_path, fixture_bundle, parts):
    out = write_bundle(tmp_path / "b", *parts)
    writer = start_writer(out, fixture_bundle(), 150)
    loads, failures = [0], []

    def reader():
        while writer.poll() is None:
            try:
                read_everything(out)
                loads[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is what this test counts
                failures.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.returncode == 0, writer.stderr.read()
    assert failures == [], f"{len(failures)} of {loads[0] + len(failures)} loads failed: {failures[:3]}"
    assert loads[0] >= 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no staging or old copies left


def test_exchange_paths_swaps_two_directories_in_one_step(tmp_path):
    from edgeface.fsutil import exchange_paths

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from_a").touch()
    (tmp_path / "b").mkdir()
    if not exchange_paths(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this system cannot exchange paths atomically")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["from_a"] and not any((tmp_path / "a").iterdir())


def test_without_an_atomic_exchange_two_renames_replace_the_bundle(tmp_path, parts, monkeypatch):
    import edgeface.bundle

    monkeypatch.setattr(edgeface.bundle, "exchange_paths", lambda a, b: False)
    write_bundle(tmp_path / "b", *parts)
    parts[0]["description"] = "second version"
    write_bundle(tmp_path / "b", *parts)
    assert read_everything(tmp_path / "b").manifest.description == "second version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_concurrent_writers_take_turns(tmp_path, fixture_bundle, parts):
    out = write_bundle(tmp_path / "b", *parts)
    writers = [start_writer(out, fixture_bundle(), 60) for _ in range(3)]
    for w in writers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    read_everything(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


# ---- item 4: bounded, regular-file-only reads -------------------------------------------

def test_a_model_symlinked_outside_the_bundle_is_refused(bundle_copy, tmp_path):
    root = bundle_copy()
    outside = tmp_path / "secret.bin"
    outside.write_bytes((root / "detector.tflite").read_bytes())  # same content: sha would match
    (root / "detector.tflite").unlink()
    (root / "detector.tflite").symlink_to(outside)
    with pytest.raises(BundleError, match="detector.tflite is a symbolic link"):
        read_everything(root)


def test_a_model_symlinked_to_dev_zero_is_refused(bundle_copy):
    root = bundle_copy()
    (root / "detector.tflite").unlink()
    (root / "detector.tflite").symlink_to("/dev/zero")
    with pytest.raises(BundleError, match="symbolic link"):
        read_everything(root)


def test_a_symlinked_folder_on_the_way_to_a_model_is_refused(bundle_copy, tmp_path, fixture_bundle):
    root = bundle_copy()
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["models"]["detector"]["file"] = "sub/detector.tflite"
    (root / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "detector.tflite").write_bytes((root / "detector.tflite").read_bytes())
    (root / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BundleError, match="sub/detector.tflite is a symbolic link"):
        read_everything(root)


def test_a_path_through_a_file_is_a_bundle_error(bundle_copy):
    root = bundle_copy()
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["models"]["detector"]["file"] = "embedder.tflite/detector.tflite"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="embedder.tflite/detector.tflite is under a file, not a folder"):
        read_everything(root)


@pytest.mark.parametrize("member", ["manifest.json", "detector.tflite"])
def test_a_fifo_in_place_of_the_manifest_or_a_model_does_not_hang(bundle_copy, member):
    root = bundle_copy()
    (root / member).unlink()
    os.mkfifo(root / member)
    outcome = []

    def attempt():
        try:
            read_everything(root)
        except BundleError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), f"reading a FIFO {member} hangs"
    assert outcome and f"{member} is a FIFO" in outcome[0]


def test_an_oversized_model_file_is_refused_before_reading(bundle_copy):
    root = bundle_copy()
    with open(root / "detector.tflite", "r+b") as handle:  # sparse: costs no disk
        handle.truncate((1 << 30) + 1)
    with memory_peak() as peak, pytest.raises(BundleError, match="detector.tflite is larger than 1024 MiB"):
        read_everything(root)
    assert peak[0] < 16 << 20


def deflated_zip(path, members):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we write on purpose
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


def test_a_zip_bomb_manifest_is_refused_in_bounded_memory(tmp_path):
    big = b"{" + b" " * (4 * MAX_MANIFEST_BYTES) + b"}"  # 16 MiB that compress to ~16 KiB
    archive = deflated_zip(tmp_path / "bomb.zip", [("manifest.json", big)])
    assert archive.stat().st_size < 100_000
    with memory_peak() as peak, pytest.raises(BundleError, match="manifest.json is larger than 4 MiB"):
        load_bundle(archive)
    assert peak[0] < MAX_MANIFEST_BYTES


def test_a_zip_member_whose_declared_size_lies_is_refused(tmp_path, fixture_bundle):
    archive = zip_dir(fixture_bundle(), tmp_path / "b.zip")
    blob = bytearray(archive.read_bytes())
    for offset, size_at in members_named(blob, "manifest.json"):
        struct.pack_into("<I", blob, offset + size_at, 10)  # uncompressed size: 10 bytes
    archive.write_bytes(bytes(blob))
    with pytest.raises(BundleError, match="manifest.json"):
        load_bundle(archive)


def members_named(blob, name):
    """(header offset, offset of its uncompressed-size field) of each local and central
    zip header for member ``name``."""
    found = []
    for signature, name_length_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        start = 0
        while (offset := blob.find(signature, start)) >= 0:
            length = struct.unpack_from("<H", blob, offset + name_length_at)[0]
            if bytes(blob[offset + name_at:offset + name_at + length]) == name.encode():
                found.append((offset, size_at))
            start = offset + 4
    return found


def patched_zip(tmp_path, fixture_bundle, field, value):
    """The fixture bundle zipped, with manifest.json's general-purpose flags (``flags``) or
    compression method (``method``) set to ``value`` in every header."""
    archive = zip_dir(fixture_bundle(), tmp_path / "b.zip")
    blob = bytearray(archive.read_bytes())
    for offset, size_at in members_named(blob, "manifest.json"):
        flags_at = 6 if size_at == 22 else 8
        at = flags_at + (2 if field == "method" else 0)
        old = struct.unpack_from("<H", blob, offset + at)[0]
        struct.pack_into("<H", blob, offset + at, old | value if field == "flags" else value)
    archive.write_bytes(bytes(blob))
    return archive


def test_an_encrypted_zip_is_a_bundle_error(tmp_path, fixture_bundle):
    archive = patched_zip(tmp_path, fixture_bundle, "flags", 0x1)
    with pytest.raises(BundleError, match="manifest.json is encrypted"):
        load_bundle(archive)


def test_an_unknown_zip_compression_is_a_bundle_error(tmp_path, fixture_bundle):
    archive = patched_zip(tmp_path, fixture_bundle, "method", 99)  # 99: WinZip AES
    with pytest.raises(BundleError, match="compression method 99"):
        load_bundle(archive)


def test_encrypted_zip_exits_2_on_the_command_line(tmp_path, fixture_bundle):
    from PIL import Image

    archive = patched_zip(tmp_path, fixture_bundle, "flags", 0x1)
    Image.fromarray(blob_image()).save(tmp_path / "one.png")
    result = run_cli("detect", tmp_path / "one.png", "--bundle", archive)
    assert result.exit_code == 2, result.output
    assert f"error: {archive}: manifest.json is encrypted" in result.output


def test_duplicate_zip_entries_are_refused(tmp_path, fixture_bundle):
    real = (fixture_bundle() / "manifest.json").read_bytes()
    members = [(p.name, p.read_bytes()) for p in fixture_bundle().iterdir()]
    archive = deflated_zip(tmp_path / "dup.zip", [*members, ("manifest.json", real.replace(b"0.5", b"0.9"))])
    with pytest.raises(BundleError, match="holds manifest.json more than once"):
        load_bundle(archive)


def test_a_4300_digit_integer_is_a_manifest_error(bundle_copy, tmp_path):
    root = bundle_copy()
    text = (root / "manifest.json").read_text().replace('"max_faces": 20', '"max_faces": ' + "9" * 4301)
    (root / "manifest.json").write_text(text)
    with pytest.raises(ManifestError, match="manifest.json: not valid JSON"):
        load_bundle(root)
    from PIL import Image

    Image.fromarray(blob_image()).save(tmp_path / "one.png")
    result = run_cli("detect", tmp_path / "one.png", "--bundle", root)
    assert result.exit_code == 2 and "manifest.json: not valid JSON" in result.output, result.output


def test_an_integer_too_large_for_a_float_is_a_manifest_error(parts):
    manifest, _ = parts
    manifest["models"]["detector"]["score_threshold"] = 10 ** 400
    with pytest.raises(ManifestError, match="score_threshold: expected a finite number"):
        parse_manifest(manifest)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_zips_are_bundle_errors_or_load(fixture_bundle, data):
    with tempfile.TemporaryDirectory() as folder:
        archive = zip_dir(fixture_bundle(), Path(folder) / "b.zip")
        blob = bytearray(archive.read_bytes())
        kind = data.draw(st.sampled_from(["flip", "truncate", "random"]))
        if kind == "flip":
            for _ in range(data.draw(st.integers(1, 8))):
                blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            del blob[data.draw(st.integers(0, len(blob) - 1)):]
        else:
            blob = b"PK\x03\x04" + data.draw(st.binary(max_size=2048))
        archive.write_bytes(bytes(blob))
        try:
            read_everything(archive)
        except BundleError:
            pass


# ---- item 4: manifest values that imply huge allocations or degenerate arithmetic -------

def test_anchors_beyond_the_limit_are_refused_before_allocating(parts):
    manifest, _ = parts
    detector = manifest["models"]["detector"]
    detector["input"].update(height=1024, width=1024)
    detector["decoder"]["anchors"]["strides"] = [1]
    with memory_peak() as peak, pytest.raises(ManifestError, match="decoder.anchors.strides: imply 2097152 anchors"):
        parse_manifest(manifest)
    assert peak[0] < 8 << 20


def test_scrfd_anchors_beyond_the_limit_are_refused(fixture_bundle):
    manifest = json.loads((fixture_bundle("blob_scrfd_onnx") / "manifest.json").read_text())
    detector = manifest["models"]["detector"]
    detector["input"].update(height=2048, width=2048)
    outputs = {kind: refs[:1] * 3 for kind, refs in detector["decoder"]["outputs"].items()}
    detector["decoder"].update(strides=[1, 2, 4], outputs=outputs)
    with pytest.raises(ManifestError, match="decoder.strides: imply"):
        parse_manifest(manifest)


@pytest.mark.parametrize("path, value, message", [
    ("detector.input.height", 8192, "input.height: must be <= 2048"),
    ("detector.input.std", [1e-300, 1, 1], "input.std: every value must be >= 0.001"),
    ("detector.input.mean", [1e300, 0, 0], "input.mean: every value must be <= 10000"),
    ("embedder.alignment.template.left_eye", [38.2946, 51.6963], "template.left_eye: is less than 1.0 pixel "
                                                                  "from right_eye"),
    ("embedder.alignment.template.left_eye", [500, 50], "template.left_eye: .* outside the 112x112 chip"),
    ("embedder.verify_threshold", -1, "verify_threshold: must be > 0.0"),
    ("embedder.verify_threshold", 0, "verify_threshold: must be > 0.0"),
    ("embedder.embedding_size", 10 ** 9, "embedding_size: must be <= 65536"),
    ("detector.score_threshold", 0, "score_threshold: must be > 0.0"),
    ("detector.score_threshold", 1, "score_threshold: must be < 1.0"),
    ("detector.nms_iou", 0, "nms_iou: must be > 0.0"),
    ("detector.max_faces", 10 ** 12, "max_faces: must be <= 10000"),
    ("detector.decoder.box_scale", [1e-12, 1, 1, 1], "box_scale: every value must be >= 0.001"),
    ("detector.decoder.anchors.min_scale", 1e300, "min_scale: must be <= 100.0"),
])
def test_degenerate_manifest_values_name_the_field(parts, path, value, message):
    manifest, _ = parts
    *parents, last = ["models", *path.split(".")]
    node = manifest
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(ManifestError, match=message):
        parse_manifest(manifest)


def test_identical_template_points_are_refused(parts):
    manifest, _ = parts
    manifest["models"]["embedder"]["alignment"]["template"] = {"a": [50, 50], "b": [50, 50]}
    with pytest.raises(ManifestError, match="template.b: is less than 1.0 pixel from a"):
        parse_manifest(manifest)


def test_shipped_fixture_bundles_and_presets_fit_the_ranges(fixture_bundle):
    from edgeface.cards.presets import PRESETS
    from edgeface.cards.pretrained import DLIB_CHIP_TEMPLATE, DLIB_COSINE_THRESHOLD, CHIP_SIZE

    for name in ("blob_blazeface", "blob_blazeface_int8", "blob_detector_only", "blob_scrfd_onnx"):
        read_everything(fixture_bundle(name))
    for preset in PRESETS.values():
        assert 0 < preset["score_threshold"] < 1 and 0 < preset["nms_iou"] <= 1
    manifest = json.loads((fixture_bundle() / "manifest.json").read_text())
    embedder = manifest["models"]["embedder"]
    embedder.update(verify_threshold=DLIB_COSINE_THRESHOLD,
                    alignment={"width": CHIP_SIZE, "height": CHIP_SIZE, "template": DLIB_CHIP_TEMPLATE})
    parse_manifest(manifest)

