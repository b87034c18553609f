"""MediaPipe's attention mesh (478 points with irises): fetched from the pinned wheel, its
custom ops made builtin, and read by the SDK through the manifest's ``refinements``;
checked on the astronaut against the 468-point mesh, and converted as a user would."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgeface.analyzer import FaceAnalyzer
from edgeface.bundle import load_bundle, parse_manifest
from edgeface.cards.pretrained import FACE_MESH_ATTENTION_ENTRY, FACE_MESH_ATTENTION_SOURCE
from edgeface.errors import ModelLoadError
from edgeface.pretrained import fetch_model
from edgeface.pretrained.fetch import model_file_bytes

pytest.importorskip("tensorflow")
skimage_data = pytest.importorskip("skimage.data")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def iris_bundle(cache):
    return fetch_model("face-mesh-iris")


@pytest.fixture(scope="module")
def both(iris_bundle):
    """The astronaut's landmarks from the attention mesh and from the 468-point mesh, on
    the same detection."""
    astronaut = skimage_data.astronaut()
    iris = FaceAnalyzer.create_from_bundle(iris_bundle)
    detections = iris.detect_arrays(astronaut)
    assert len(detections) == 1
    plain = FaceAnalyzer.create_from_bundle(fetch_model("face-mesh"))
    return iris.landmarks_arrays(astronaut, detections), plain.landmarks_arrays(astronaut, detections)


def _eye_distance(landmarks) -> float:
    return float(np.linalg.norm(landmarks.centre("right_eye")[0, :2] - landmarks.centre("left_eye")[0, :2]))


def test_the_card_refines_the_points_the_model_crops_its_regions_around():
    """The model's own crop ops name the lips and eye points it refines: the card's maps
    (MediaPipe's graph config) are those, in that order."""
    from edgeface.converters.mediapipe_ops import custom_options
    from edgeface.converters.tflite_graph import TFLiteGraph

    graph = TFLiteGraph(model_file_bytes(FACE_MESH_ATTENTION_SOURCE), "face_landmark_with_attention.tflite")
    subsets = [custom_options(graph, op)["subset_idxs"] for op in graph.graph.operators
               if graph.op_name(op) == "Landmarks2TransformMatrix"]
    refined = [r["points"] for r in FACE_MESH_ATTENTION_ENTRY["refinements"][:3]]
    assert subsets == refined


def test_the_bundle_holds_a_builtin_only_model_with_478_points(iris_bundle):
    from edgeface.converters.mediapipe_ops import MEDIAPIPE_OPS
    from edgeface.converters.tflite_graph import TFLiteGraph

    bundle = load_bundle(iris_bundle)
    spec = bundle.manifest.landmarks
    assert spec.points == 478 and len(spec.refinements) == 5
    ops = {TFLiteGraph(bundle.read_model(spec), spec.file).op_name(op)
           for op in TFLiteGraph(bundle.read_model(spec), spec.file).graph.operators}
    assert not ops & set(MEDIAPIPE_OPS) and "CUSTOM" not in ops
    assert parse_manifest(bundle.manifest.to_dict()) == bundle.manifest


def test_irises_sit_inside_their_eyes(both):
    iris, _ = both
    assert iris.points.shape == (1, 478, 3)
    for side in ("right", "left"):
        eye = iris.group(f"{side}_eye")[0, :, :2]
        ring = iris.group(f"{side}_iris")[0]
        centre, edges = ring[0, :2], ring[1:, :2]
        assert np.all(centre > eye.min(axis=0)) and np.all(centre < eye.max(axis=0))
        radius = np.linalg.norm(edges - centre, axis=1)
        # an iris is about a fifth of the eye distance across
        assert 0.05 < radius.mean() / _eye_distance(iris) < 0.15
        assert np.linalg.norm(edges.mean(axis=0) - centre) < 0.25 * radius.mean()
        # depth: the mean of the eye contour's, as MediaPipe assigns it
        np.testing.assert_allclose(ring[:, 2], iris.group(f"{side}_eye")[0, :, 2].mean(), rtol=1e-4, atol=1e-3)


def test_the_468_shared_points_agree_with_the_plain_mesh(both):
    iris, plain = both
    moved = np.linalg.norm(iris.points[0, :468, :2] - plain.points[0, :, :2], axis=1) / _eye_distance(plain)
    # two different models on the same crop: a few per cent of the eye distance, no outliers
    assert moved.mean() < 0.03 and moved.max() < 0.12


def test_a_refinement_the_model_lacks_or_a_point_left_unset_is_a_load_error(iris_bundle, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(iris_bundle, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    entry = manifest["models"]["landmarks"]
    entry["refinements"][0]["output"] = "output_nose"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"no output 'output_nose' \(models.landmarks.refinements\[0\]"):
        FaceAnalyzer.create_from_bundle(broken)
    entry["refinements"][0]["output"] = "output_lips"
    entry["refinements"] = entry["refinements"][:4]  # the left iris (473-477) from no output
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="no output gives point 473 of the 478"):
        FaceAnalyzer.create_from_bundle(broken)
    del entry["refinements"][3]["depth_from"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"output_left_iris gives points .*no depth.*refinements\[3\].depth_from"):
        FaceAnalyzer.create_from_bundle(broken)


def test_convert_makes_fp16_and_refuses_int8_naming_the_ops(tmp_path, cache):
    from edgeface.converters.job import ConvertRequest, convert

    source = tmp_path / "face_landmark_with_attention.tflite"
    source.write_bytes(model_file_bytes(FACE_MESH_ATTENTION_SOURCE))
    result = convert(ConvertRequest(source=source, out=tmp_path / "out", precisions=["fp16", "int8"],
                                    role="landmarks", family="face-mesh-iris"))
    by_precision = {a.precision: a for a in result.artifacts}
    fp16 = by_precision["fp16"]
    assert not fp16.failures and fp16.fidelity.landmarks.points == 478
    assert fp16.fidelity.landmarks.error_max < 0.001
    int8 = by_precision["int8"]
    said = " ".join([int8.error or "", *int8.failures])
    assert int8.fidelity is None and "int8 cannot hold the coordinates" in said and "TransformTensorBilinear" in said


def test_onnx_export_for_hexagon_gets_the_builtin_replay(tmp_path):
    """``edgeface compile`` goes through tf2onnx, which knows no MediaPipe op: it is handed
    the replay, and the ONNX graph gives the source's points."""
    onnx = pytest.importorskip("onnx")
    from edgeface.converters.onnx_export import export_onnx
    from edgeface.converters.sources import load_source, onnx_session
    from edgeface.quantization.calibration import landmark_crops

    path = tmp_path / "face_landmark_with_attention.tflite"
    path.write_bytes(model_file_bytes(FACE_MESH_ATTENTION_SOURCE))
    source = load_source(path)
    exported = export_onnx(source, tmp_path / "mesh.onnx")
    assert not {node.domain for node in onnx.load(str(exported)).graph.node} - {"", "ai.onnx"}
    crop = landmark_crops(192)[:1].astype(np.float32) / 255.0
    session = onnx_session(exported)
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {session.get_inputs()[0].name: crop})))
    want = dict(zip(source.output_names, source.run(crop)))
    np.testing.assert_allclose(got["output_left_iris"].ravel(), want["output_left_iris"].ravel(), atol=0.05)
