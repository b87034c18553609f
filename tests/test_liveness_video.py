"""Liveness over video (edgeface.video.liveness and ``edgeface liveness``): a rendered
performance of the actions asked passes, in another order or from a still photo it
fails, and with an embedder the face must stay the same from start to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeface.analyzer import FaceAnalyzer
from edgeface.bundle import combine, load_bundle
from edgeface.challenge import ActiveChallenge, ChallengeOptions
from edgeface.errors import BundleError
from edgeface.video import VideoAnalyzer
from edgeface.video.liveness import LivenessSession

pytestmark = pytest.mark.slow
FRAME_MS = 100.0


def _performance(mesh_photo, actions: tuple[str, ...]) -> list[np.ndarray]:
    """Frames of the astronaut looking at the camera, then doing ``actions`` in order."""
    _, landmarks, model = mesh_photo
    points = landmarks.points[0]
    gap = {side: points[list(landmarks.groups[f"{side}_eye_lids"])][[4, 5], 1].mean()
           - points[list(landmarks.groups[f"{side}_upper_lid"])][:, 1].mean() for side in ("right", "left")}
    shut = {f"{side}_upper_lid": (0, 0.9 * gap[side], 0) for side in ("right", "left")}
    frames = [model.render()] * 6
    for action in actions:
        if action == "blink":
            frames += [model.render(moves=shut)] * 2 + [model.render()] * 2
        elif action in ("turn_left", "turn_right"):
            sign = 1 if action == "turn_left" else -1
            frames += [model.render(yaw=sign * yaw) for yaw in (5, 10, 15, 20, 25, 30, 20, 10, 0)]
        elif action == "nod":
            frames += [model.render(pitch=pitch) for pitch in (-10, -20, -10, 0)]
    return frames + [model.render()] * 2


def _session(bundle, actions, time_limit_ms=3000.0) -> LivenessSession:
    analyzer = FaceAnalyzer.create_from_bundle(bundle, search="whole")
    return LivenessSession(VideoAnalyzer(analyzer),
                           ActiveChallenge(ChallengeOptions(time_limit_ms=time_limit_ms), actions=actions))


def _run(session: LivenessSession, frames) -> tuple:
    events = []
    for i, frame in enumerate(frames):
        step = session.process(frame, i * FRAME_MS)
        events += step.events
        if step.verdict:
            break
    return session.finish(), events


@pytest.fixture(scope="module")
def full_bundle(tmp_path_factory, mesh_analyzer, default_bundle):
    """Detector, landmarks and embedder: face-mesh's first two with the default embedder."""
    out = tmp_path_factory.mktemp("full") / "bundle"
    return combine(mesh_analyzer.bundle, load_bundle(default_bundle), out)


def test_the_actions_asked_done_in_order_are_live(mesh_analyzer, mesh_photo):
    actions = ("turn_left", "blink", "nod")
    verdict, events = _run(_session(mesh_analyzer.bundle.location, actions), _performance(mesh_photo, actions))
    assert verdict.live, verdict.reason
    assert [e["kind"] for e in events] == ["turn_left_done", "blink_done", "nod_done", "challenge_passed"]
    assert verdict.passive.decision == "live" and verdict.same_face is None  # no embedder in face-mesh


def test_a_recording_in_another_order_and_a_still_photo_are_not_live(mesh_analyzer, mesh_photo):
    recorded = _performance(mesh_photo, ("blink", "turn_left")) + [mesh_photo[0]] * 20
    verdict, _ = _run(_session(mesh_analyzer.bundle.location, ("turn_left", "blink"), 1500.0), recorded)
    assert not verdict.live and "blink not seen within 1.5 s" in verdict.reason  # the blink came too early
    still = [mesh_photo[0]] * 30
    verdict, _ = _run(_session(mesh_analyzer.bundle.location, ("blink",), 1500.0), still)
    assert not verdict.live and "blink not seen" in verdict.reason


def test_with_an_embedder_the_face_is_checked_at_both_ends(full_bundle, mesh_photo, monkeypatch):
    actions = ("turn_right", "blink")
    frames = _performance(mesh_photo, actions)
    verdict, _ = _run(_session(full_bundle, actions), frames)
    assert verdict.live and verdict.same_face > 0.95 and "the same face throughout" in verdict.reason
    # another face's embedding at the end (a swap the track did not see) is not live
    session = _session(full_bundle, actions)
    ends = iter([np.eye(128, dtype=np.float32)[0], np.eye(128, dtype=np.float32)[1]])
    monkeypatch.setattr(session, "_embed", lambda frame, track: next(ends))
    verdict, _ = _run(session, frames)
    assert not verdict.live and "not the one at the start" in verdict.reason


def test_liveness_needs_a_landmark_model(fixture_bundle):
    analyzer = FaceAnalyzer.create_from_bundle(fixture_bundle())
    with pytest.raises(BundleError, match="face-mesh"):
        LivenessSession(VideoAnalyzer(analyzer))


def test_the_liveness_command(tmp_path, mesh_analyzer, mesh_photo, fixture_bundle):
    import tests.video_fixtures as vf
    from edgeface.cli.app import app

    actions = ("turn_left", "blink")
    frames = _performance(mesh_photo, actions)
    clip = vf.write_mp4(vf.SyntheticVideo(frames, [i * FRAME_MS for i in range(len(frames))], [{}] * len(frames),
                                          fps=10.0), tmp_path / "live.mp4")
    bundle = str(mesh_analyzer.bundle.location)
    ran = CliRunner().invoke(app, ["liveness", str(clip), "--bundle", bundle, "--actions", "turn_left,blink", "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert report["live"] and report["actions"] == list(actions) and report["passive"]["decision"] == "live"
    wrong = CliRunner().invoke(app, ["liveness", str(clip), "--bundle", bundle, "--actions", "blink,turn_left",
                                     "--time-limit", "1"])
    assert wrong.exit_code == 1 and "NOT LIVE" in wrong.stdout
    bad = CliRunner().invoke(app, ["liveness", str(clip), "--bundle", bundle, "--actions", "wink"])
    assert bad.exit_code == 2 and "choose from blink" in bad.output
    no_mesh = CliRunner().invoke(app, ["liveness", str(clip), "--bundle", str(fixture_bundle())])
    assert no_mesh.exit_code == 2 and "face-mesh" in no_mesh.output
