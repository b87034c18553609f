"""The recognizer's chip aligned from a landmark model's points: the manifest's
``alignment.landmark_template``, the SDK using it when the bundle has a landmark model with
those groups (and the detector's keypoints otherwise, or where the landmark model finds no
face), and the dlib card's measured template."""

import numpy as np
import pytest

from edgeface.align import landmark_aligner
from edgeface.bundle import AlignmentSpec, combine, load_bundle, parse_manifest
from edgeface.cards.pretrained import DLIB_MESH_TEMPLATE, FACE_MESH_GROUPS
from edgeface.errors import ManifestError
from edgeface.results import Detections


def _manifest(alignment: dict) -> dict:
    return {"schema_version": 1, "name": "t", "models": {"embedder": {
        "file": "e.tflite", "format": "tflite", "sha256": "0" * 64, "input": {"height": 112, "width": 112, "mean": [127.5] * 3, "std": [128] * 3},
        "embedding_size": 8, "verify_threshold": 0.5,
        "alignment": {"width": 112, "height": 112, "template": {"right_eye": [38, 51], "left_eye": [73, 51]},
                      **alignment}}}}


def test_a_landmark_template_is_read_kept_and_checked_like_the_keypoint_one():
    manifest = parse_manifest(_manifest({"landmark_template": {"right_eye": [40, 50], "left_eye": [72, 50]}}))
    alignment = manifest.embedder.alignment
    assert alignment.landmark_template == {"right_eye": (40, 50), "left_eye": (72, 50)}
    assert parse_manifest(manifest.to_dict()) == manifest
    assert "landmark_template" not in parse_manifest(_manifest({})).embedder.alignment.to_dict()
    with pytest.raises(ManifestError, match="landmark_template.*outside the 112x112 chip"):
        parse_manifest(_manifest({"landmark_template": {"right_eye": [40, 50], "left_eye": [200, 50]}}))
    with pytest.raises(ManifestError, match="landmark_template.*needs 2"):
        parse_manifest(_manifest({"landmark_template": {"right_eye": [40, 50]}}))


def test_faces_align_from_landmarks_only_when_the_model_has_every_group_named():
    spec = AlignmentSpec(width=150, height=150, template={"right_eye": (47, 44), "left_eye": (103, 45)},
                         landmark_template=DLIB_MESH_TEMPLATE)
    aligner = landmark_aligner(spec, FACE_MESH_GROUPS)
    assert aligner is not None and aligner.names == tuple(DLIB_MESH_TEMPLATE)
    assert landmark_aligner(spec, {"right_eye": (1,), "left_eye": (2,)}) is None  # no nose tip, no mouth
    assert landmark_aligner(AlignmentSpec(width=150, height=150, template=spec.template), FACE_MESH_GROUPS) is None


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, mesh_analyzer, default_bundle):
    """The default embedder with the face mesh (aligns from landmarks) and as it is."""
    out = tmp_path_factory.mktemp("aligned") / "mesh"
    return combine(mesh_analyzer.bundle, load_bundle(default_bundle), out), default_bundle


def test_the_chip_puts_the_mesh_group_centres_on_the_template(bundles, mesh_analyzer):
    from PIL import Image
    from skimage import data

    from edgeface import FaceAnalyzer

    with_mesh, plain = bundles
    analyzer = FaceAnalyzer.create_from_bundle(with_mesh, search="whole")
    assert analyzer.aligns_from == "landmarks"
    assert FaceAnalyzer.create_from_bundle(plain).aligns_from == "keypoints"
    image = np.asarray(Image.fromarray(data.astronaut()).rotate(12))
    detections = analyzer.detect_arrays(image)
    landmarks = analyzer.landmarks_arrays(image, detections)
    engine = analyzer._engine
    centres = np.array([landmarks.centre(name)[0, :2] for name in engine.landmark_aligner.names])
    matrix = engine.landmark_aligner.matrix(centres)
    in_chip = centres @ matrix[:, :2].T + matrix[:, 2]
    template = np.array(list(DLIB_MESH_TEMPLATE.values()))
    assert np.abs(in_chip - template).max() < 4.0  # a similarity fit of 4 points: small residuals
    by_landmarks = analyzer.embed_faces(image, detections)
    by_keypoints = engine.embedder.embed_chips(engine.aligner.chips(image, detections.keypoints))
    chips = engine.landmark_aligner.chips(image, centres[None])
    assert np.allclose(by_landmarks, engine.embedder.embed_chips(chips), atol=1e-6)
    assert not np.allclose(by_landmarks, by_keypoints, atol=1e-3)


def test_where_the_landmark_model_finds_no_face_the_keypoints_align_it(bundles):
    from edgeface import FaceAnalyzer

    with_mesh, _ = bundles
    analyzer = FaceAnalyzer.create_from_bundle(with_mesh, search="whole")
    engine = analyzer._engine
    flat = np.full((300, 300, 3), 128, np.uint8)  # nothing to find: presence is low
    keypoints = np.array([[[120, 130], [180, 130], [150, 160], [150, 190], [100, 140], [200, 140]]], np.float32)
    detections = Detections(np.array([[90, 90, 210, 220]], np.float32), np.ones(1, np.float32), keypoints,
                            analyzer.keypoint_names)
    assert analyzer.landmarks_arrays(flat, detections).presence[0] < engine.landmarker.spec.presence_threshold
    expected = engine.embedder.embed_chips(engine.aligner.chips(flat, keypoints))
    assert np.allclose(analyzer.embed_faces(flat, detections), expected, atol=1e-6)
