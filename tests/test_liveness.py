"""Passive liveness: a face moving as a plane (a print tilted in front of the camera) is
not live; a head turning in depth is. The texture fit checked on exact geometry, and the
whole check through the SDK on the astronaut re-rendered at known turns (live) and
warped as a tilted print."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeface.errors import ImageError
from edgeface.eval.liveness_set import tilted_print
from edgeface.landmarks import Landmarks
from edgeface.liveness import RIGID_GROUP, PassiveLiveness
from edgeface.liveness_texture import face_crop, fit_homography, texture_residual


pytestmark = pytest.mark.slow


def _eyes(landmarks: Landmarks) -> float:
    return float(np.linalg.norm(landmarks.centre("right_eye")[0, :2] - landmarks.centre("left_eye")[0, :2]))


def _crop(frame: np.ndarray, landmarks: Landmarks):
    return face_crop(frame, landmarks.points[0], landmarks.group(RIGID_GROUP)[0], _eyes(landmarks))


def test_the_homography_fit_recovers_a_known_one():
    points = np.random.default_rng(0).uniform(-1, 1, (9, 2))
    h = np.array([[0.9, 0.1, 0.2], [-0.05, 1.1, -0.3], [0.08, -0.04, 1.0]])
    mapped = np.c_[points, np.ones(len(points))] @ h.T
    np.testing.assert_allclose(fit_homography(points, mapped[:, :2] / mapped[:, 2:]), h, atol=1e-9)


def test_a_tilted_print_matches_itself_and_a_turned_head_does_not(mesh_analyzer, mesh_photo):
    """The print's face, warped back by the homography the fit finds, matches the
    photograph's even under another exposure; the same face turned 20 degrees leaves
    several times the threshold."""
    image, landmarks, model = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    first = _crop(image, landmarks)
    tilted = tilted_print(image, 30, 10, about, 600.0)
    darker = np.clip(0.8 * tilted.astype(np.float64) + 12, 0, 255).astype(np.uint8)
    for frame in (tilted, darker):
        assert texture_residual(first, _crop(frame, mesh_analyzer.landmarks_arrays(frame))) < 0.5 * PassiveLiveness().threshold
    turned = model.render(yaw=20)
    assert texture_residual(first, _crop(turned, mesh_analyzer.landmarks_arrays(turned))) > 2 * PassiveLiveness().threshold


def test_a_face_without_texture_cannot_be_judged(mesh_photo):
    image, landmarks, _ = mesh_photo
    flat = np.full_like(image, 90)
    assert math.isnan(texture_residual(_crop(flat, landmarks), _crop(flat, landmarks)))


def test_a_face_off_the_frame_cannot_be_judged(mesh_photo):
    image, landmarks, _ = mesh_photo
    gone = Landmarks(landmarks.points + np.array([5000.0, -5000.0, 0.0], np.float32), landmarks.presence,
                     landmarks.groups)
    assert math.isnan(texture_residual(_crop(image, gone), _crop(image, landmarks)))


def test_a_face_crop_refuses_what_is_not_a_colour_frame(mesh_photo):
    image, landmarks, _ = mesh_photo
    with pytest.raises(ImageError, match=r"liveness frame: expected dtype uint8, got float32"):
        _crop(image.astype(np.float32), landmarks)


def test_a_head_turning_is_live_and_a_tilted_print_is_not(mesh_analyzer, mesh_photo):
    image, landmarks, model = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    live, printed = PassiveLiveness(), PassiveLiveness()
    for step in np.linspace(0, 1, 9):
        turned = model.render(yaw=25 * step)
        live.add(turned, mesh_analyzer.landmarks_arrays(turned))
        flat = tilted_print(image, 35 * step, 10 * step, about, 600.0)
        printed.add(flat, mesh_analyzer.landmarks_arrays(flat))
    verdict = live.result()
    assert verdict.decision == "live" and verdict.turn_deg >= live.min_turn_deg, verdict
    assert printed.result().decision != "live", printed.result()


def test_turned_heads_reach_the_threshold_and_tilted_prints_do_not(mesh_analyzer, mesh_photo):
    """Judged whatever turn the landmarks read: a print's face stays a plane however it
    is tilted, where the landmark model reads some tilts as turns."""
    image, landmarks, model = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    for yaw, pitch in ((30, 0), (-30, 0), (0, 30), (0, -30)):
        check = PassiveLiveness(min_turn_deg=0.0)
        for step in np.linspace(0, 1, 9):
            frame = model.render(yaw=yaw * step, pitch=pitch * step)
            check.add(frame, mesh_analyzer.landmarks_arrays(frame))
        assert check.result().decision == "live", (yaw, pitch, check.result())
    for yaw, pitch in ((35, 0), (-35, 0), (0, 30), (20, 20)):
        check = PassiveLiveness(min_turn_deg=0.0, spoof_turn_deg=0.0)
        for step in np.linspace(0, 1, 9):
            frame = tilted_print(image, yaw * step, pitch * step, about, 600.0)
            check.add(frame, mesh_analyzer.landmarks_arrays(frame))
        verdict = check.result()
        assert verdict.decision == "spoof", (yaw, pitch, verdict)


def test_one_frame_whose_landmarks_went_astray_does_not_make_a_print_live(mesh_analyzer, mesh_photo):
    """The last frame's landmarks moved 40 px: its fit starts far off and fails, so its
    residual is large; the confirming pairs without it are not."""
    image, landmarks, _ = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    check = PassiveLiveness(min_turn_deg=0.0, spoof_turn_deg=0.0)
    steps = np.linspace(0, 1, 9)
    for step in steps:
        frame = tilted_print(image, 30 * step, 10 * step, about, 600.0)
        found = mesh_analyzer.landmarks_arrays(frame)
        if step == steps[-1]:
            found = Landmarks(found.points + np.array([40.0, 40.0, 0.0], np.float32), found.presence, found.groups)
        check.add(frame, found)
    gaps = check._pose_gaps()
    far = tuple(sorted(np.unravel_index(int(np.argmax(gaps)), gaps.shape)))
    assert check._pair_residual(*far) > check.threshold  # the pair alone would call the print live
    assert check.result().decision == "spoof", check.result()


def test_a_flat_face_is_spoof_only_past_the_spoof_turn(mesh_analyzer, mesh_photo):
    """Under the threshold, a face that turned less than spoof_turn_deg is asked to turn
    further: a live head may not show its parallax yet."""
    image, landmarks, _ = mesh_photo
    about = tuple(landmarks.centre("nose_tip")[0, :2])
    frames = [tilted_print(image, 30 * step, 10 * step, about, 600.0) for step in np.linspace(0, 1, 9)]
    verdicts = {}
    for spoof_turn in (0.0, 90.0):
        check = PassiveLiveness(min_turn_deg=0.0, spoof_turn_deg=spoof_turn)
        for frame in frames:
            check.add(frame, mesh_analyzer.landmarks_arrays(frame))
        verdicts[spoof_turn] = check.result()
    assert verdicts[0.0].decision == "spoof"
    assert verdicts[90.0].decision == "undecided" and "turn further" in verdicts[90.0].reason
    assert verdicts[90.0].score == verdicts[0.0].score < PassiveLiveness().threshold


def test_with_timestamps_frames_come_at_most_every_interval(mesh_photo):
    image, landmarks, _ = mesh_photo
    check = PassiveLiveness(frame_interval_ms=100.0)
    for t_ms in range(0, 1000, 33):  # a 30 fps camera for one second
        check.add(image, landmarks, t_ms=float(t_ms))
    assert len(check._crops) == 8  # 0, 132, 264, ..., 924 ms: one frame in four


def test_a_still_face_is_undecided_and_says_what_to_do(mesh_analyzer, mesh_photo):
    image, landmarks, _ = mesh_photo
    check = PassiveLiveness()
    assert check.result().decision == "undecided"
    for _ in range(3):
        check.add(image, landmarks)
    verdict = check.result()
    assert verdict.decision == "undecided" and "ask for a turn" in verdict.reason


def test_the_window_of_frames_and_of_residuals_is_bounded(mesh_analyzer, mesh_photo):
    image, landmarks, model = mesh_photo
    turned = model.render(yaw=20)
    frames = [(image, landmarks), (turned, mesh_analyzer.landmarks_arrays(turned))]
    check = PassiveLiveness(max_frames=5)
    for k in range(20):
        check.add(*frames[k % 2])
        check.residual()
    assert len(check._crops) == 5 and len(check._poses) == 5
    assert 1 <= len(check._residuals) and all(min(pair) >= check._serials[0] for pair in check._residuals)


def test_a_glare_is_a_soft_highlight_where_it_is_put():
    from edgeface.eval.liveness_set import glare

    shone = glare(np.full((60, 80, 3), 50, np.uint8), np.array([20.0, 30.0]), 5.0, 100.0)
    assert tuple(np.unravel_index(np.argmax(shone[..., 0]), shone.shape[:2])) == (30, 20)
    assert shone[30, 20, 0] == 150 and shone[30, 30, 0] == int(50 + 100 * np.exp(-2))
    assert shone[0, 79].tolist() == [50, 50, 50]


def test_scoring_follows_one_face_when_a_second_appears(mesh_photo):
    """A false detection, listed first on some frames or alone where the face was missed,
    must not become the face judged."""
    from edgeface.eval.liveness_set import Sequence, score

    _, landmarks, _ = mesh_photo
    real = landmarks.points[0]
    other = real + np.array([150.0, 0.0, 0.0], np.float32)
    orders = [[real], [other, real], [real, other], [other], [other, real]]  # frame 4: the face missed

    class Analyzer:
        def __init__(self):
            self.calls = iter(orders)

        def landmarks_arrays(self, frame):
            faces = np.stack(next(self.calls))
            return Landmarks(faces, np.ones(len(faces), np.float32), landmarks.groups)

    class Recorder:
        def __init__(self):
            self.judged = []

        def add(self, frame, given, face=0):
            self.judged.append(given.points[face])

        def result(self):
            return PassiveLiveness().result()

        def residual(self):
            return 0.0

    recorder = Recorder()
    score(Sequence("print", "x", "still", [None] * len(orders)), Analyzer(), lambda: recorder)
    assert all(np.array_equal(points, real) for points in recorder.judged) and len(recorder.judged) == 4


def test_the_evaluation_set_and_its_rates(mesh_analyzer, mesh_photo):
    from edgeface.eval.liveness_set import error_rates, score, sequences

    image = mesh_photo[0]
    made = sequences({"astronaut": image}, mesh_analyzer, steps=5)
    assert [s.kind for s in made].count("live") == 4 and [s.kind for s in made].count("replay") == 4
    assert [s.kind for s in made].count("glare") == 4
    assert all(len(s.frames) == 5 and s.frames[0].shape == image.shape and s.frames[0].dtype == np.uint8 for s in made)
    replay = next(s for s in made if s.kind == "replay")
    printed = next(s for s in made if s.kind == "print" and s.motion == replay.motion)
    assert np.abs(replay.frames[0].astype(int) - printed.frames[0]).mean() > 5  # gamma and moire on top
    assert any(s.kind == "glare" and s.motion.startswith(replay.motion + ", highlight") for s in made)
    live = next(s for s in made if s.kind == "live" and s.motion == "yaw +30")
    decision, residual, turn = score(live, mesh_analyzer, PassiveLiveness)
    assert decision == "live" and residual > PassiveLiveness().threshold and turn > PassiveLiveness().min_turn_deg
    rates = error_rates([("live", "live"), ("live", "undecided"), ("print", "spoof"), ("replay", "live")])
    assert rates == {"BPCER": 0.5, "APCER print": 0.0, "APCER replay": 1.0}
