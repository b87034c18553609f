"""Passive liveness: a face moving as a plane (a print tilted in front of the camera) is
not live; a head turning in depth is. Checked on exact geometry, and through the SDK on
the astronaut re-rendered at known turns (live) and warped as a tilted print."""

from __future__ import annotations

import numpy as np
import pytest

from edgeface.eval.liveness_set import tilted_print
from edgeface.landmarks import Landmarks
from edgeface.liveness import PassiveLiveness, planar_residual, rigid_points


pytestmark = pytest.mark.slow


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
        printed.add(mesh_analyzer.landmarks_arrays(tilted_print(image, 35 * step, 10 * step, about, 600.0)))
    verdict = live.result()
    assert verdict.decision == "live" and verdict.turn_deg >= live.min_turn_deg, verdict
    attack = printed.result()
    assert attack.decision != "live", attack
    assert attack.turn_deg < 10


def test_turned_heads_pass_both_tests_and_tilted_prints_fail_one(mesh_analyzer, mesh_photo):
    """Past the turn gate: a head's residual reaches the threshold and grows with the turn;
    a print's does not do both, however it is tilted."""
    image, landmarks, model = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    for yaw, pitch in ((30, 0), (-30, 0), (0, 30), (0, -30)):
        check = PassiveLiveness()
        for step in np.linspace(0, 1, 9):
            check.add(mesh_analyzer.landmarks_arrays(model.render(yaw=yaw * step, pitch=pitch * step)))
        assert check.residual() >= check.threshold and check.correlation() >= check.min_correlation, (yaw, pitch)
    for yaw, pitch in ((35, 0), (-35, 0), (0, 30), (20, 20)):
        check = PassiveLiveness(min_turn_deg=0.0)  # judged whatever turn it reads
        for step in np.linspace(0, 1, 9):
            check.add(mesh_analyzer.landmarks_arrays(tilted_print(image, yaw * step, pitch * step, about, 600.0)))
        verdict = check.result()
        assert verdict.decision == "spoof", (yaw, pitch, verdict)


def test_with_timestamps_frames_come_at_most_every_interval(mesh_photo):
    _, landmarks, _ = mesh_photo
    check = PassiveLiveness(frame_interval_ms=100.0)
    for t_ms in range(0, 1000, 33):  # a 30 fps camera for one second
        check.add(landmarks, t_ms=float(t_ms))
    assert len(check._points) == 8  # 0, 132, 264, ..., 924 ms: one frame in four


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
    assert len(check._points) == 5 and check._residuals.shape == (5, 5)


def test_the_evaluation_set_and_its_rates(mesh_analyzer, mesh_photo):
    from edgeface.eval.liveness_set import error_rates, score, sequences

    image = mesh_photo[0]
    made = sequences({"astronaut": image}, mesh_analyzer, steps=5)
    assert [s.kind for s in made].count("live") == 4 and [s.kind for s in made].count("replay") == 4
    assert all(len(s.frames) == 5 and s.frames[0].shape == image.shape and s.frames[0].dtype == np.uint8 for s in made)
    replay = next(s for s in made if s.kind == "replay")
    printed = next(s for s in made if s.kind == "print" and s.motion == replay.motion)
    assert np.abs(replay.frames[0].astype(int) - printed.frames[0]).mean() > 5  # gamma and moire on top
    live = next(s for s in made if s.kind == "live" and s.motion == "yaw +30")
    decision, residual, turn, correlation = score(live, mesh_analyzer, PassiveLiveness)
    assert decision == "live" and residual > PassiveLiveness().threshold and turn > 9 and correlation > 0.85
    rates = error_rates([("live", "live"), ("live", "undecided"), ("print", "spoof"), ("replay", "live")])
    assert rates == {"BPCER": 0.5, "APCER print": 0.0, "APCER replay": 1.0}
