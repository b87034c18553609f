"""The active liveness challenge: actions read from re-rendered faces of the astronaut
(blinks, turns, nods) and from moved landmarks (smile), in the order asked and in time;
a still photo and a replay in another order fail."""

from __future__ import annotations

import random

import pytest

from edgeface.challenge import ACTIONS, ActiveChallenge, ChallengeOptions
from edgeface.errors import EdgefaceError
from edgeface.landmarks import Landmarks


pytestmark = pytest.mark.slow
FRAME_MS = 100.0


def _gap(landmarks: Landmarks, side: str) -> float:
    points = landmarks.points[0]
    return float(points[list(landmarks.groups[f"{side}_eye_lids"])][[4, 5], 1].mean()
                 - points[list(landmarks.groups[f"{side}_upper_lid"])][:, 1].mean())


def _frames(mesh_analyzer, mesh_photo, action: str) -> list[Landmarks]:
    """The landmarks of a rendered performance of ``action`` (about 1 s)."""
    _, landmarks, model = mesh_photo
    if action == "blink":
        shut = {f"{side}_upper_lid": (0, 0.9 * _gap(landmarks, side), 0) for side in ("right", "left")}
        renders = [model.render(), model.render(moves=shut), model.render(moves=shut), model.render()]
    elif action in ("turn_left", "turn_right"):
        sign = 1 if action == "turn_left" else -1
        renders = [model.render(yaw=sign * yaw) for yaw in (8, 16, 24, 30, 16, 0)]
    elif action == "nod":
        renders = [model.render(pitch=pitch) for pitch in (-8, -16, -22, -10, 0)]
    else:  # smile: the renderer cannot widen this photo's smile; move the points instead
        points = landmarks.points[0].copy()
        right, left = landmarks.groups["mouth_corners"]
        middle = (points[right] + points[left]) / 2
        points[[right, left]] = middle + 1.15 * (points[[right, left]] - middle)
        return [Landmarks(points[None], landmarks.presence, landmarks.groups)] * 3
    return [mesh_analyzer.landmarks_arrays(image) for image in renders]


def _run(challenge: ActiveChallenge, sequence: list[Landmarks], t_ms: float = 0.0):
    for landmarks in sequence:
        state = challenge.feed(landmarks, t_ms)
        t_ms += FRAME_MS
    return state, t_ms


def _neutral(mesh_photo, frames: int = 6) -> list[Landmarks]:
    return [mesh_photo[1]] * frames


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_seen(mesh_analyzer, mesh_photo, action):
    challenge = ActiveChallenge(actions=(action,))
    state, _ = _run(challenge, _neutral(mesh_photo) + _frames(mesh_analyzer, mesh_photo, action) + _neutral(mesh_photo, 2))
    assert state.status == "passed", state.reason


def test_actions_in_the_order_asked_pass(mesh_analyzer, mesh_photo):
    order = ("turn_right", "blink", "nod")
    sequence = _neutral(mesh_photo) + sum((_frames(mesh_analyzer, mesh_photo, a) for a in order), [])
    state, _ = _run(ActiveChallenge(actions=order), sequence)
    assert state.status == "passed" and state.done == 3


def test_a_still_photo_fails_on_time(mesh_photo):
    challenge = ActiveChallenge(ChallengeOptions(time_limit_ms=2000), actions=("blink", "turn_left"))
    state, _ = _run(challenge, _neutral(mesh_photo, 40))
    assert state.status == "failed" and "blink not seen within 2 s" in state.reason


def test_a_replay_of_another_order_fails(mesh_analyzer, mesh_photo):
    """A recording of a live face doing blink then turn left, replayed to a challenge that
    asks turn left first: the blink comes when a turn is asked, the turn too late."""
    recorded = _neutral(mesh_photo) + _frames(mesh_analyzer, mesh_photo, "blink") + _neutral(mesh_photo, 30) \
        + _frames(mesh_analyzer, mesh_photo, "turn_left")
    challenge = ActiveChallenge(ChallengeOptions(time_limit_ms=3000), actions=("turn_left", "blink"))
    state, _ = _run(challenge, recorded)
    assert state.status == "failed" and "turn left not seen" in state.reason


def test_another_face_fails_the_challenge(mesh_photo):
    challenge = ActiveChallenge(actions=("blink",))
    challenge.feed(mesh_photo[1], 0.0, face_id=1)
    state = challenge.feed(mesh_photo[1], 100.0, face_id=2)
    assert state.status == "failed" and "another face" in state.reason


def test_random_orders_and_option_checks():
    orders = {ActiveChallenge(rng=random.Random(seed)).actions for seed in range(20)}
    assert len(orders) > 10 and all(len(set(o)) == 3 and set(o) <= set(ACTIONS) for o in orders)
    with pytest.raises(EdgefaceError, match="actions=6"):
        ActiveChallenge(ChallengeOptions(actions=6))
    with pytest.raises(EdgefaceError, match="choose from"):
        ActiveChallenge(actions=("wink",))
