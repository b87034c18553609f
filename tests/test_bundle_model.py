"""The typed bundle model written back: every spec's ``to_dict`` is the inverse of parsing,
unknown keys survive a rewrite, and the one writer (``write_bundle``, ``Bundle.files``,
``combine``) keeps models, files and accelerator builds as they are."""

import copy
import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeface.bundle import combine, load_bundle, parse_manifest, write_bundle
from edgeface.errors import BundleError, EdgefaceError, ManifestError

FIXTURES = ["blob_blazeface", "blob_blazeface_int8", "blob_detector_only", "blob_scrfd_onnx"]


def read_manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


@pytest.mark.parametrize("name", FIXTURES)
def test_to_dict_is_the_inverse_of_parsing_every_fixture(fixture_bundle, name):
    parsed = parse_manifest(read_manifest(fixture_bundle(name)))
    again = parse_manifest(json.loads(json.dumps(parsed.to_dict())))
    assert again == parsed
    assert again.to_dict() == parsed.to_dict()


def test_to_dict_keeps_the_source_of_a_fixture(fixture_bundle):
    data = read_manifest(fixture_bundle("blob_scrfd_onnx"))
    assert parse_manifest(data).to_dict()["source"] == data["source"]


# Unknown keys a newer writer might add, at each level of the manifest.
LEVELS = ["", "models.detector.", "models.detector.input.", "models.detector.decoder.",
          "models.embedder.", "models.embedder.alignment.", "models.embedder.input."]
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)


def put(data, path, value):
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(level=st.sampled_from(LEVELS), key=st.text(alphabet="abcxyz_", min_size=1, max_size=8).map(lambda k: f"new_{k}"),
       value=json_values, threshold=st.floats(0.01, 0.99), mean=st.floats(-1e4, 1e4), std=st.floats(1e-3, 1e4),
       far=st.none() | st.floats(0.0, 1.0), nms=st.sampled_from(["hard", "weighted"]))
def test_round_trip_keeps_every_field_and_unknown_keys(fixture_bundle, level, key, value, threshold, mean, std, far,
                                                      nms):
    data = read_manifest(fixture_bundle())
    put(data, "models.detector.score_threshold", threshold)
    put(data, "models.detector.nms", nms)
    put(data, "models.embedder.input.mean", [mean, 0.0, 1.0])
    put(data, "models.detector.input.std", [std, std, 1.0])
    put(data, "models.embedder.verify_far", far)
    put(data, level + key, value)
    parsed = parse_manifest(data)
    written = json.loads(json.dumps(parsed.to_dict()))
    assert parse_manifest(written) == parsed
    node = written
    for part in (level + key).split(".")[:-1]:
        node = node[part]
    assert node[key] == value


def test_specs_with_different_unknown_keys_differ(fixture_bundle):
    data = read_manifest(fixture_bundle())
    edited = copy.deepcopy(data)
    edited["models"]["embedder"]["input"]["new_field"] = 1
    assert parse_manifest(edited) != parse_manifest(data)


def test_a_rewritten_bundle_keeps_targets_and_unknown_keys(tmp_path, fixture_bundle):
    data = read_manifest(fixture_bundle())
    files = {name: (fixture_bundle() / name).read_bytes() for name in ("detector.tflite", "embedder.tflite")}
    files["qnn/SM8650/embedder.onnx"] = b"a compiled context"
    data["models"]["embedder"]["targets"] = {"SM8650": {
        "file": "qnn/SM8650/embedder.onnx", "format": "onnx", "accelerator": "qnn-htp", "precision": "w8a8",
        "htp_arch": 75, "soc_model": 57, "compiled_with": "qnn 2.30"}}
    data["training"] = {"embedder": {"epochs": 3}}
    first = load_bundle(write_bundle(tmp_path / "a", data, files))
    embedder = first.manifest.embedder
    edited = first.manifest.with_model(dataclasses.replace(embedder, verify_threshold=0.42))
    second = load_bundle(write_bundle(tmp_path / "b", edited, first.files()))
    assert second.manifest.embedder.targets == embedder.targets
    assert second.manifest.embedder.targets["SM8650"].extra == {"compiled_with": "qnn 2.30"}
    assert second.manifest.extra["training"] == {"embedder": {"epochs": 3}}
    assert second.manifest.embedder.verify_threshold == 0.42
    assert second.read_model(second.manifest.embedder.targets["SM8650"]) == b"a compiled context"


def test_files_without_targets_leaves_the_builds_out(tmp_path, fixture_bundle):
    bundle = load_bundle(fixture_bundle())
    assert set(bundle.files(include_targets=False)) == {"detector.tflite", "embedder.tflite"}
    assert set(bundle.files(roles=("embedder",))) == {"embedder.tflite"}


def test_combine_takes_each_role_from_its_bundle(tmp_path, fixture_bundle):
    detector, embedder = load_bundle(fixture_bundle("blob_detector_only")), load_bundle(fixture_bundle())
    out = combine(detector, embedder, tmp_path / "both", extra={"source": {"detector": "d", "embedder": "e"}})
    both = load_bundle(out)
    assert both.manifest.detector == detector.manifest.detector
    assert both.manifest.embedder == embedder.manifest.embedder
    assert both.manifest.extra == {"source": {"detector": "d", "embedder": "e"}}
    assert both.manifest.name == f"{detector.manifest.name}+{embedder.manifest.name}"


def test_combine_refuses_a_bundle_without_the_role(tmp_path, fixture_bundle):
    detector_only = load_bundle(fixture_bundle("blob_detector_only"))
    with pytest.raises(BundleError, match="has no embedder"):
        combine(detector_only, detector_only, tmp_path / "both")


def test_detectors_of_one_spec_bind_their_own_copies_of_the_parsed_decoder(fixture_bundle):
    from edgeface.decoders import OutputInfo

    spec = load_bundle(fixture_bundle("blob_scrfd_onnx")).manifest.detector
    refs = spec.decoder.settings["outputs"]
    names = [name for kind in ("scores", "boxes", "keypoints") for name in refs[kind]]
    widths = [1] * 3 + [4] * 3 + [10] * 3
    counts = [(160 // s) ** 2 * 2 for s in (8, 16, 32)] * 3
    outputs = [OutputInfo(n, (1, c, w)) for n, c, w in zip(names, counts, widths)]
    first = spec.decoder.bound(outputs)
    second = spec.decoder.bound(list(reversed(outputs)))
    assert first is not second and first._index != second._index
    assert spec.decoder.decoder._index == {}


def test_the_preset_name_is_recorded_and_checked(fixture_bundle):
    data = read_manifest(fixture_bundle())
    data["models"]["detector"]["decoder"]["preset"] = "blazeface-short"
    assert parse_manifest(data).detector.decoder.preset == "blazeface-short"
    data["models"]["detector"]["decoder"]["preset"] = 3
    with pytest.raises(ManifestError, match="models.detector.decoder.preset"):
        parse_manifest(data)


def test_files_the_manifest_does_not_name_are_not_written(tmp_path, fixture_bundle):
    """A bundle holds only what its manifest names: else it could not be replaced later."""
    bundle = load_bundle(fixture_bundle())
    out = write_bundle(tmp_path / "b", bundle.manifest, {**bundle.files(), "qnn/old/stale.onnx": b"old"})
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["detector.tflite", "embedder.tflite",
                                                                       "manifest.json"]
    write_bundle(out, bundle.manifest, bundle.files())  # and it can be replaced


def test_compile_bundle_keeps_the_targets_the_bundle_already_has(tmp_path, fixture_bundle, monkeypatch):
    """Compiling a bundle for one more SoC keeps its builds for the others (a rewrite used
    to drop them); the compile itself is stood in for (tests/test_hexagon.py runs it)."""
    import types

    from edgeface.converters import hexagon

    data = read_manifest(fixture_bundle())
    del data["models"]["detector"]
    data["models"]["embedder"]["targets"] = {"SM8650": {
        "file": "qnn/SM8650/embedder.onnx", "format": "onnx", "accelerator": "qnn-htp", "precision": "w8a8",
        "htp_arch": 75, "soc_model": 57}}
    source = write_bundle(tmp_path / "source", data, {"embedder.tflite": (fixture_bundle() / "embedder.tflite").read_bytes(),
                                                      "qnn/SM8650/embedder.onnx": b"SM8650 context"})
    built = tmp_path / "embedder_SM8750.onnx"
    built.write_bytes(b"SM8750 context")

    def compile_hexagon(request, progress):
        context = types.SimpleNamespace(soc="SM8750", onnx_path=built, precision="fp16", htp_arch=79, soc_model=69)
        return hexagon.CompileResult([hexagon.CompiledArtifact(context, None)], [], [], None, None)

    monkeypatch.setattr(hexagon, "compile_hexagon", compile_hexagon)
    out, _ = hexagon.compile_bundle(source, tmp_path / "c", ["SM8750"], ["fp16"])
    compiled = load_bundle(out)
    targets = compiled.manifest.embedder.targets
    assert set(targets) == {"SM8650", "SM8750"}
    assert compiled.read_model(targets["SM8650"]) == b"SM8650 context"
    assert compiled.read_model(targets["SM8750"]) == b"SM8750 context"
    assert targets["SM8750"].precision == "fp16" and targets["SM8750"].htp_arch == 79


def test_the_converter_writes_the_callers_name_training_and_alignment_in_one_bundle(tmp_path):
    """What export and the dlib importer used to patch in by rewriting the converter's
    bundle is now part of the request (the converter's manifest is not edited afterwards)."""
    import numpy as np

    from edgeface.bundle import AlignmentSpec, InputSpec
    from edgeface.converters.job import ConvertRequest, bundle_manifest

    spec = InputSpec(height=64, width=64, layout="NHWC", dtype="float32", channel_order="RGB", mean=(127.5,) * 3,
                     std=(127.5,) * 3, resize="stretch", pad="center")
    alignment = AlignmentSpec(width=64, height=64, template={"right_eye": (20.0, 25.0), "left_eye": (44.0, 25.0)})
    request = ConvertRequest(source=tmp_path / "arc.keras", out=tmp_path, role="embedder", name="run7",
                             description="arc trained by edgeface", training={"epochs": 3}, alignment=alignment,
                             verify_threshold=0.3)
    manifest = bundle_manifest(request, spec, tmp_path / "arc_int8.tflite", ["embedding"],
                               [np.zeros((1, 32), np.float32)], "int8", "int8")
    parsed = load_bundle(write_bundle(tmp_path / "b", manifest, {"arc_int8.tflite": b"model"})).manifest
    assert parsed.name == "run7-int8" and parsed.description == "arc trained by edgeface, int8"
    assert parsed.extra["training"] == {"epochs": 3}
    assert parsed.embedder.alignment == alignment and parsed.embedder.input.dtype == "int8"
    assert parsed.embedder.embedding_size == 32 and parsed.embedder.verify_threshold == 0.3


def test_a_converted_detector_records_its_preset(tmp_path):
    from edgeface.cards.presets import detector_entry

    entry = detector_entry("scrfd", [(f"o{i}", (1, n, w)) for i, (n, w) in enumerate(
        [(800, 1), (200, 1), (50, 1), (800, 4), (200, 4), (50, 4), (800, 10), (200, 10), (50, 10)])], 160, 160)
    assert entry["decoder"]["preset"] == "scrfd"


def test_calibrating_a_bundle_changes_only_the_threshold(tmp_path, fixture_bundle):
    from edgeface.eval import calibrate_bundle

    data = read_manifest(fixture_bundle())
    data["models"]["embedder"]["targets"] = {"SM8650": {
        "file": "qnn/SM8650/embedder.onnx", "format": "onnx", "accelerator": "qnn-htp", "precision": "w8a8",
        "htp_arch": 75, "soc_model": 57}}
    data["release"] = {"version": 4}
    files = {name: (fixture_bundle() / name).read_bytes() for name in ("detector.tflite", "embedder.tflite")}
    before = load_bundle(write_bundle(tmp_path / "b", data, {**files, "qnn/SM8650/embedder.onnx": b"context"}))
    after = load_bundle(calibrate_bundle(tmp_path / "b", 0.37, 1e-3))
    assert after.manifest.embedder == dataclasses.replace(before.manifest.embedder, verify_threshold=0.37,
                                                          verify_far=1e-3)
    assert after.manifest.detector == before.manifest.detector
    assert after.manifest.extra == {"release": {"version": 4}, "source": data["source"]}
    assert after.read_model(after.manifest.embedder.targets["SM8650"]) == b"context"


def test_compile_bundle_goes_on_when_one_model_is_refused_at_every_precision(tmp_path, fixture_bundle, monkeypatch):
    """A detector the HTP refuses at every precision used to stop the whole bundle compile
    before its embedder was tried; now the embedder's build lands, the detector keeps what
    it had, and its reason is in its result and report. Only a bundle of which nothing
    compiles is an error (the compile itself is stood in for: tests/test_hexagon.py runs it)."""
    import types

    from edgeface.converters import hexagon

    built = tmp_path / "embedder_SM8750.onnx"
    built.write_bytes(b"SM8750 context")

    def compile_hexagon(request, progress):
        if request.role == "detector":
            raise EdgefaceError("nothing to compile: w8a8: ops the HTP cannot run: NonMaxSuppressionV5")
        context = types.SimpleNamespace(soc="SM8750", onnx_path=built, precision="fp16", htp_arch=79, soc_model=69)
        return hexagon.CompileResult([hexagon.CompiledArtifact(context, None)], [], [], None, None)

    data = read_manifest(fixture_bundle())
    data["models"]["detector"]["decoder"]["preset"] = "blazeface-short"  # a family the gate can check
    bundle = fixture_bundle()
    source = write_bundle(tmp_path / "source", data, {name: (bundle / name).read_bytes()
                                                      for name in ("detector.tflite", "embedder.tflite")})
    monkeypatch.setattr(hexagon, "compile_hexagon", compile_hexagon)
    out, (detector, embedder) = hexagon.compile_bundle(source, tmp_path / "c", ["SM8750"], ["w8a8", "fp16"])
    compiled = load_bundle(out)
    assert set(compiled.manifest.embedder.targets) == {"SM8750"}
    assert compiled.manifest.detector.targets == {}
    assert detector.artifacts == [] and "NonMaxSuppressionV5" in detector.refused[0]
    assert "NonMaxSuppressionV5" in detector.report_md.read_text()
    assert embedder.refused == []

    def refuse_all(request, progress):
        raise EdgefaceError(f"{request.role} refused")

    monkeypatch.setattr(hexagon, "compile_hexagon", refuse_all)
    with pytest.raises(EdgefaceError, match="nothing to compile: detector: detector refused; embedder: embedder refused"):
        hexagon.compile_bundle(source, tmp_path / "d", ["SM8750"], ["w8a8"])
