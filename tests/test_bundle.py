"""The bundle contract: manifest validation, checksums, zip and directory forms, and
fuzzing of the manifest and model loaders (every bad input is an EdgefaceError)."""

import copy
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeface.bundle import load_bundle, parse_manifest, write_bundle
from edgeface.errors import BundleError, ChecksumError, EdgefaceError, ManifestError, ModelLoadError
from edgeface.runtime import open_backend
from edgeface.runtime.model import Model


@pytest.fixture
def manifest(fixture_bundle):
    return json.loads((fixture_bundle() / "manifest.json").read_text())


def test_fixture_manifest_parses(manifest):
    m = parse_manifest(manifest)
    assert m.detector.input.width == 128 and m.embedder.embedding_size == 128
    assert m.detector.keypoint_names[0] == "right_eye"


def mutate(manifest, path, value):
    data = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize("path, value, field", [
    ("schema_version", 99, "schema_version"),
    ("models.detector.file", "../escape.tflite", "models.detector.file"),
    ("models.detector.sha256", "xyz", "models.detector.sha256"),
    ("models.detector.format", "caffe", "models.detector.format"),
    ("models.detector.input.mean", [1, 2], "models.detector.input.mean"),
    ("models.detector.input.std", [1, 0, 1], "models.detector.input.std"),
    ("models.detector.input.height", 0, "models.detector.input.height"),
    ("models.detector.input.layout", "HWC", "models.detector.input.layout"),
    ("models.detector.score_threshold", 1.5, "models.detector.score_threshold"),
    ("models.detector.nms_iou", KeyError, "models.detector.nms_iou"),
    ("models.detector.decoder.family", "yolo", "models.detector.decoder.family"),
    ("models.detector.decoder.anchors", KeyError, "models.detector.decoder.anchors"),
    ("models.detector.decoder.box_scale", [1, 2, 3], "models.detector.decoder.box_scale"),
    ("models.detector.keypoint_names", ["a"], "models.detector.keypoint_names"),
    ("models.embedder.embedding_size", "128", "models.embedder.embedding_size"),
    ("models.embedder.alignment.template", {"a": [1, 2]}, "models.embedder.alignment.template"),
    ("models.embedder.verify_threshold", float("nan"), "models.embedder.verify_threshold"),
    ("models.tracker", {}, "models.tracker"),
])
def test_schema_violations_name_the_field(manifest, path, value, field):
    with pytest.raises(ManifestError, match=field.replace(".", r"\.")):
        parse_manifest(mutate(manifest, path, value))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_is_a_manifest_error(data):
    with pytest.raises(ManifestError):
        parse_manifest(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_real_manifest_is_valid_or_manifest_error(manifest, data):
    """Replace one random leaf of a real manifest with a random JSON value."""
    leaves = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in items:
            leaves.append(path + [key])
            walk(value, path + [key])

    walk(manifest, [])
    path = data.draw(st.sampled_from(leaves))
    damaged = copy.deepcopy(manifest)
    node = damaged
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(json_values)
    try:
        parse_manifest(damaged)
    except ManifestError:
        pass


def test_load_directory_and_zip(tmp_path, fixture_bundle):
    folder = load_bundle(fixture_bundle())
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in fixture_bundle().iterdir():
            z.write(f, f.name)
    zipped = load_bundle(archive)
    spec = folder.manifest.detector
    assert zipped.read_model(spec) == folder.read_model(spec)


def test_missing_and_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BundleError, match="not a bundle"):
        load_bundle(tmp_path / "file.txt")
    with pytest.raises(BundleError, match="manifest.json is named in|missing"):
        load_bundle(tmp_path)


def test_bad_manifest_json(bundle_copy):
    root = bundle_copy()
    (root / "manifest.json").write_bytes(b"{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_bundle(root)
    (root / "manifest.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ManifestError):
        load_bundle(root)


def test_checksum_mismatch_and_truncation(bundle_copy):
    root = bundle_copy()
    bundle = load_bundle(root)
    model = root / bundle.manifest.detector.file
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    with pytest.raises(ChecksumError, match="does not match its sha256"):
        bundle.read_model(bundle.manifest.detector)
    model.unlink()
    with pytest.raises(BundleError, match="missing"):
        bundle.read_model(bundle.manifest.detector)


def test_corrupt_model_with_matching_checksum_is_a_load_error(tmp_path, manifest):
    files = {manifest["models"]["detector"]["file"]: b"\x00" * 64,
             manifest["models"]["embedder"]["file"]: b"TFL3" * 8}
    root = write_bundle(tmp_path / "corrupt", manifest, files)
    bundle = load_bundle(root)
    for spec in bundle.manifest.models():
        with pytest.raises(ModelLoadError, match=spec.file):
            Model.from_bundle(bundle, spec)


def test_write_bundle_replaces_whole_and_fills_checksums(tmp_path, fixture_bundle, manifest):
    files = {p.name: p.read_bytes() for p in fixture_bundle().iterdir() if p.name != "manifest.json"}
    out = write_bundle(tmp_path / "b", manifest, files)
    out = write_bundle(tmp_path / "b", manifest, files)  # over an existing one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    bundle = load_bundle(out)
    for spec in bundle.manifest.models():
        bundle.read_model(spec)


def test_manifest_dtype_must_match_model(tmp_path, fixture_bundle, manifest):
    files = {p.name: p.read_bytes() for p in fixture_bundle().iterdir() if p.name != "manifest.json"}
    manifest["models"]["detector"]["input"]["dtype"] = "uint8"
    bundle = load_bundle(write_bundle(tmp_path / "b", manifest, files))
    with pytest.raises(ModelLoadError, match="input.dtype"):
        Model.from_bundle(bundle, bundle.manifest.detector)


@pytest.fixture(scope="module")
def tflite_bytes():
    from pathlib import Path

    bundles = Path(__file__).parent / "fixtures" / "bundles" / "blob_blazeface"
    spec = load_bundle(bundles).manifest.embedder
    return (bundles / spec.file).read_bytes()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_model_loader_fuzz_truncated_flipped_random(tflite_bytes, data):
    kind = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if kind == "truncate":
        blob = tflite_bytes[: data.draw(st.integers(0, len(tflite_bytes) - 1))]
    elif kind == "flip":
        blob = bytearray(tflite_bytes)
        for _ in range(data.draw(st.integers(1, 4))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
        blob = bytes(blob)
    else:
        blob = data.draw(st.binary(max_size=4096))
    try:
        backend = open_backend("tflite", blob, "fuzz.tflite")
        info = backend.inputs[0]
        backend.run([np.zeros([abs(d) for d in info.shape], info.dtype)])
    except EdgefaceError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_onnx_loader_random_bytes(blob):
    pytest.importorskip("onnxruntime")
    try:
        open_backend("onnx", blob, "fuzz.onnx")
    except ModelLoadError:
        pass
