"""Dense landmarks: MediaPipe's face mesh fetched from the pinned wheel, its manifest role,
and the SDK's crops and mapping back, checked on real faces (scikit-image's astronaut)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from edgeface.analyzer import FaceAnalyzer
from edgeface.bundle import load_bundle, parse_manifest
from edgeface.cards.pretrained import FACE_MESH_GROUPS, FACE_MESH_SOURCE
from edgeface.errors import BundleError, EdgefaceError, ManifestError, ModelLoadError
from edgeface.landmarks import Landmarks
from edgeface.pretrained import fetch_model

skimage_data = pytest.importorskip("skimage.data")
skimage_transform = pytest.importorskip("skimage.transform")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mesh_bundle(cache):
    return fetch_model("face-mesh")


@pytest.fixture(scope="module")
def analyzer(mesh_bundle) -> FaceAnalyzer:
    return FaceAnalyzer.create_from_bundle(mesh_bundle)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def found(analyzer, astronaut):
    detections = analyzer.detect_arrays(astronaut)
    assert len(detections) == 1
    return detections, analyzer.landmarks_arrays(astronaut, detections)


def _eye_distance(landmarks: Landmarks) -> float:
    return float(np.linalg.norm(landmarks.centre("right_eye")[0, :2] - landmarks.centre("left_eye")[0, :2]))


def _mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a[..., :2] - b[..., :2], axis=-1).mean())


def test_fetch_makes_a_detector_and_landmarks_bundle_from_the_pinned_file(mesh_bundle):
    bundle = load_bundle(mesh_bundle)
    manifest = bundle.manifest
    assert [m.role for m in manifest.models()] == ["detector", "landmarks"]
    assert manifest.landmarks.sha256 == FACE_MESH_SOURCE.member_sha256
    assert manifest.landmarks.points == 468
    assert manifest.extra["source"]["landmarks"]["member"].endswith("face_landmark.tflite")
    assert manifest.extra["source"]["detector"]["member"].endswith("face_detection_short_range.tflite")
    assert fetch_model("face-mesh") == mesh_bundle  # reused, not rebuilt
    assert bundle.read_model(manifest.landmarks)  # the file matches its sha256


def test_landmarks_lie_on_the_astronauts_face(found):
    detections, landmarks = found
    assert landmarks.points.shape == (1, 468, 3) and landmarks.points.dtype == np.float32
    assert landmarks.presence[0] > 0.9
    names = detections.keypoint_names
    eyes = detections.keypoints[0, [names.index("right_eye"), names.index("left_eye")]]
    distance = _eye_distance(landmarks)
    # the mesh's eye contours centre where the detector put the eyes, within 10 % of their distance
    assert np.linalg.norm(landmarks.centre("right_eye")[0, :2] - eyes[0]) < 0.1 * distance
    assert np.linalg.norm(landmarks.centre("left_eye")[0, :2] - eyes[1]) < 0.1 * distance
    nose = detections.keypoints[0, names.index("nose_tip")]
    assert np.linalg.norm(landmarks.centre("nose_tip")[0, :2] - nose) < 0.25 * distance
    # the subject's right eye is on the image's left; the chin below the forehead
    assert landmarks.centre("right_eye")[0, 0] < landmarks.centre("left_eye")[0, 0]
    assert landmarks.centre("chin")[0, 1] > landmarks.centre("mouth_center")[0, 1] > landmarks.centre("forehead")[0, 1]
    # every point near the detected face: within its box grown by half
    x1, y1, x2, y2 = detections.boxes[0]
    grow = 0.5 * max(x2 - x1, y2 - y1)
    xy = landmarks.points[0, :, :2]
    assert (xy[:, 0] > x1 - grow).all() and (xy[:, 0] < x2 + grow).all()
    assert (xy[:, 1] > y1 - grow).all() and (xy[:, 1] < y2 + grow).all()
    # the nose tip is the nearest point to the camera of a face seen from the front
    assert landmarks.points[0, FACE_MESH_GROUPS["nose_tip"][0], 2] < np.median(landmarks.points[0, :, 2])


def test_landmarks_turn_with_a_turned_face(analyzer, astronaut, found):
    """The crop is levelled by the eyes: a face turned by 30 degrees in the image gives the
    same points turned with it (the crop rotation and the mapping back agree)."""
    _, upright = found
    centre = upright.points[0, :, :2].mean(axis=0)
    angle = 30.0
    turned = (skimage_transform.rotate(astronaut, angle, center=tuple(centre), preserve_range=True)).astype(np.uint8)
    landmarks = analyzer.landmarks_arrays(turned)
    assert len(landmarks) == 1 and landmarks.presence[0] > 0.9
    # skimage turns the picture anticlockwise on screen: a point p goes to centre + R (p - centre)
    theta = math.radians(angle)
    rotation = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    expected = (upright.points[0, :, :2] - centre) @ rotation.T + centre
    assert _mean_error(landmarks.points[0], expected) < 0.05 * _eye_distance(upright)


def test_tracking_from_the_previous_points_needs_no_detector(analyzer, astronaut, found):
    """Video mode's step: the next crop comes from the last points. On the same frame it
    finds the same face; on a frame moved by 12 pixels it follows the move."""
    _, landmarks = found
    landmarker = analyzer._engine.landmarker
    again = landmarker.from_points(astronaut, landmarks)
    assert again.presence[0] > 0.9
    assert _mean_error(again.points, landmarks.points) < 0.03 * _eye_distance(landmarks)
    moved = np.zeros_like(astronaut)
    moved[:, 12:] = astronaut[:, :-12]
    followed = landmarker.from_points(moved, landmarks)
    assert _mean_error(followed.points - [12, 0, 0], landmarks.points) < 0.03 * _eye_distance(landmarks)


def test_a_crop_without_a_face_is_not_present(analyzer, astronaut, found):
    """The presence score is what tells video mode that tracking is lost."""
    _, landmarks = found
    elsewhere = Landmarks(landmarks.points + np.array([0, 330, 0], np.float32), landmarks.presence, landmarks.groups)
    lost = analyzer._engine.landmarker.from_points(astronaut, elsewhere)  # the astronaut's suit, below the face
    assert lost.presence[0] < 0.5


def test_no_faces_give_no_landmarks(analyzer):
    landmarks = analyzer.landmarks_arrays(np.zeros((240, 320, 3), np.uint8))
    assert landmarks.points.shape == (0, 468, 3) and landmarks.presence.shape == (0,)


def test_a_bundle_without_a_landmark_model_says_so(fixture_bundle, astronaut):
    analyzer = FaceAnalyzer.create_from_bundle(fixture_bundle())
    assert not analyzer.has_landmarks
    with pytest.raises(BundleError, match="no landmarks.*models.landmarks"):
        analyzer.landmarks_arrays(astronaut)


def test_a_named_output_the_model_lacks_is_a_load_error(mesh_bundle, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(mesh_bundle, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["models"]["landmarks"]["points_output"] = "no_such_tensor"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="no output 'no_such_tensor'.*conv2d_21"):
        FaceAnalyzer.create_from_bundle(broken)
    manifest["models"]["landmarks"].update(points_output="conv2d_21", points=400)
    del manifest["models"]["landmarks"]["point_groups"]  # its indices reach 466
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="1404 values, not the 3 x 400"):
        FaceAnalyzer.create_from_bundle(broken)


def test_the_landmark_entry_round_trips_and_names_its_bad_fields(mesh_bundle):
    data = json.loads((mesh_bundle / "manifest.json").read_text())
    manifest = parse_manifest(data)
    assert parse_manifest(manifest.to_dict()) == manifest
    assert manifest.landmarks.point_groups["right_eye"] == FACE_MESH_GROUPS["right_eye"]
    data["models"]["landmarks"]["roi_keypoints"] = ["right_eye", "left_ear_tip"]
    with pytest.raises(ManifestError, match="models.landmarks.roi_keypoints.*'left_ear_tip' is not one of"):
        parse_manifest(data)


def test_auto_runtime_runs_a_landmark_bundle_in_python(mesh_bundle, astronaut):
    analyzer = FaceAnalyzer.create_from_bundle(mesh_bundle, runtime="auto")
    assert len(analyzer.landmarks_arrays(astronaut)) == 1


def _sliding_frames(astronaut: np.ndarray, count: int, step: int = 2):
    """The astronaut sliding right ``step`` pixels a frame on a wider black frame."""
    for f in range(count):
        frame = np.zeros((512, 512 + step * count, 3), np.uint8)
        frame[:, step * f: step * f + 512] = astronaut
        yield f * 40.0, frame


def test_video_mode_follows_faces_by_their_landmarks(mesh_bundle, astronaut, found):
    """MediaPipe's face mesh in video: the detector runs on the first frame and then only
    every find_faces_every frames; the landmarks follow the face on every frame, and the
    track's box moves with them."""
    from edgeface.video import VideoAnalyzer, VideoOptions

    video = VideoAnalyzer(FaceAnalyzer.create_from_bundle(mesh_bundle, search="whole"),
                          VideoOptions(find_faces_every=30))
    _, still = found
    distance = _eye_distance(still)
    nose = FACE_MESH_GROUPS["nose_tip"][0]
    for t_ms, frame in _sliding_frames(astronaut, 40):
        result = video.process(frame, t_ms)
        (track,) = result.tracks
        assert track.landmarks is not None and track.landmarks.shape == (468, 3)
        shift = 2 * result.frame_index
        # the followed points lag a moving face a little: within 6 % of the eye distance
        assert abs(track.landmarks[nose, 0] - (still.points[0, nose, 0] + shift)) < 0.06 * distance
        assert abs((track.bbox[0] + track.bbox[2]) / 2 - (still.points[0, nose, 0] + shift)) < 0.2 * distance
    assert video.detector_runs == 2  # frames 0 and 30
    assert video.summaries()[0].track_id == 1  # one track throughout


def test_video_mode_detects_again_when_the_landmarks_lose_the_face(mesh_bundle, astronaut):
    from edgeface.video import VideoAnalyzer

    video = VideoAnalyzer(FaceAnalyzer.create_from_bundle(mesh_bundle, search="whole"))
    video.process(astronaut, 0.0)
    video.process(astronaut, 40.0)
    assert video.detector_runs == 1
    gone = video.process(np.zeros_like(astronaut), 80.0)  # the face vanishes: presence falls
    assert gone.tracks == [] and video.detector_runs == 1
    back = video.process(astronaut, 120.0)  # lost on the last frame: the detector runs on this one
    assert back.detected and video.detector_runs == 2 and len(back.tracks) == 1


def test_video_mode_without_landmarks_tracks_by_boxes(mesh_bundle, astronaut):
    from edgeface.video import VideoAnalyzer, VideoOptions

    video = VideoAnalyzer(FaceAnalyzer.create_from_bundle(mesh_bundle, search="whole"),
                          VideoOptions(landmarks=False, detect_every=5))
    for t_ms, frame in _sliding_frames(astronaut, 20):
        result = video.process(frame, t_ms)
        assert all(track.landmarks is None for track in result.tracks)
    assert video.detector_runs == 3 + 3  # three warm-up detections, then every 5th frame


def test_following_landmarks_refuses_points_of_another_model(analyzer, astronaut):
    with pytest.raises(EdgefaceError, match=r"expected \(N, 468, 3\) finite points"):
        analyzer.follow_landmarks(astronaut, Landmarks(np.zeros((1, 68, 3), np.float32), np.ones(1, np.float32)))


def test_a_cached_bundle_with_older_landmark_fields_is_rewritten(mesh_bundle):
    """An edgeface that names more point groups rewrites a bundle an older one made."""
    manifest_path = mesh_bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["models"]["landmarks"]["point_groups"]["rigid_features"]
    manifest_path.write_text(json.dumps(manifest))
    assert fetch_model("face-mesh") == mesh_bundle
    groups = load_bundle(mesh_bundle).manifest.landmarks.point_groups
    assert groups["rigid_features"] == FACE_MESH_GROUPS["rigid_features"]
