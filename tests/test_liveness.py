"""Passive liveness: a face moving as a plane (a print tilted in front of the camera) is
not live; a head turning in depth is. Checked on exact geometry, and through the SDK on
the astronaut re-rendered at known turns (live) and warped as a tilted print."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeface.landmarks import Landmarks
from edgeface.liveness import PassiveLiveness, planar_residual, rigid_points

cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.slow


def tilted_print(image: np.ndarray, yaw: float, pitch: float, about: tuple[float, float],
                 focal: float = 600.0) -> np.ndarray:
    """``image`` as a flat print facing the camera at ``focal`` pixels, turned by yaw and
    pitch degrees about the image point ``about``, seen through a pinhole camera."""
    y, p = math.radians(yaw), math.radians(pitch)
    turn = (np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
            @ np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]]))
    camera = np.array([[focal, 0, about[0]], [0, focal, about[1]], [0, 0, 1]])
    on_plane = np.array([[1, 0, -about[0]], [0, 1, -about[1]], [0, 0, focal]], float)  # pixel -> 3-D point
    centre = np.array([0.0, 0.0, focal])
    moved = turn @ on_plane
    moved[:, 2] += centre - turn @ centre  # turned about the plane's point on the optical axis
    return cv2.warpPerspective(image, camera @ moved, (image.shape[1], image.shape[0]))


def _eyes(landmarks: Landmarks) -> float:
    return float(np.linalg.norm(landmarks.centre("right_eye")[0, :2] - landmarks.centre("left_eye")[0, :2]))


def test_a_homography_leaves_no_residual_and_a_turned_head_does(mesh_photo):
    _, landmarks, model = mesh_photo
    points = rigid_points(landmarks)[0]
    h = np.array([[0.9, 0.1, 12.0], [-0.05, 1.1, -7.0], [2e-4, -1e-4, 1.0]])
    mapped = np.c_[points, np.ones(len(points))] @ h.T
    assert planar_residual(points, mapped[:, :2] / mapped[:, 2:]) < 1e-6
    turned = Landmarks(model.posed(yaw=20)[None].astype(np.float32), np.ones(1, np.float32), landmarks.groups)
    assert planar_residual(points, rigid_points(turned)[0]) > 0.02 * _eyes(landmarks)


def test_a_head_turning_is_live_and_a_tilted_print_is_not(mesh_analyzer, mesh_photo):
    image, landmarks, model = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    live, printed = PassiveLiveness(), PassiveLiveness()
    for step in np.linspace(0, 1, 9):
        live.add(mesh_analyzer.landmarks_arrays(model.render(yaw=25 * step)))
        printed.add(mesh_analyzer.landmarks_arrays(tilted_print(image, 35 * step, 10 * step, about)))
    verdict = live.result()
    assert verdict.decision == "live" and verdict.turn_deg >= 15, verdict
    attack = printed.result()
    assert attack.decision != "live", attack  # the print never reads as a 15-degree turn
    assert attack.turn_deg < 10


def test_the_residual_separates_turned_heads_from_tilted_prints(mesh_analyzer, mesh_photo):
    """Past the turn gate: the planar residual alone, at the default threshold."""
    image, landmarks, model = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    threshold = PassiveLiveness().threshold
    start = rigid_points(landmarks)[0]
    for yaw, pitch in ((15, 0), (-15, 0), (0, 15), (0, -15)):
        turned = mesh_analyzer.landmarks_arrays(model.render(yaw=yaw, pitch=pitch))
        assert planar_residual(start, rigid_points(turned)[0]) / _eyes(landmarks) > threshold, (yaw, pitch)
    for yaw, pitch in ((35, 0), (-35, 0), (0, 30), (20, 20)):
        tilted = mesh_analyzer.landmarks_arrays(tilted_print(image, yaw, pitch, about))
        assert planar_residual(start, rigid_points(tilted)[0]) / _eyes(landmarks) < threshold, (yaw, pitch)


def test_a_still_face_is_undecided_and_says_what_to_do(mesh_analyzer, mesh_photo):
    image, landmarks, _ = mesh_photo
    check = PassiveLiveness()
    assert check.result().decision == "undecided"
    for _ in range(3):
        check.add(landmarks)
    verdict = check.result()
    assert verdict.decision == "undecided" and "ask for a turn" in verdict.reason


def test_the_window_of_frames_is_bounded(mesh_photo):
    _, landmarks, _ = mesh_photo
    check = PassiveLiveness(max_frames=5)
    for _ in range(20):
        check.add(landmarks)
    assert len(check._points) == 5
