"""Active liveness: a challenge of randomly ordered actions, each within a time limit.

A printed photo cannot blink, and a replayed recording of a live face performs the
actions it was recorded doing, in its order and at its times: asking for a random order
of actions (blink, smile, turn left, turn right, nod), each within ``time_limit_ms``, is
what a replay fails. The actions are read from the landmarks' signals
(``edgeface.face_signals``) against the same face's neutral values, taken over the first
``settle_ms`` (the user looking at the camera):

- ``blink``: both eyes' aspect ratio under ``blink_drop`` of neutral, then back over
  ``blink_open`` of it (a whole blink, not eyes kept shut);
- ``smile``: the mouth's width (over the eye distance) over ``smile_gain`` of neutral;
- ``turn_left`` / ``turn_right``: yaw ``turn_deg`` past neutral, towards the subject's
  left (the image's right: yaw > 0) or right;
- ``nod``: the chin ``nod_deg`` down (pitch) from neutral, then back within half of it.

``ActiveChallenge.feed(landmarks, t_ms, face_id)`` takes one face per frame; the face
must stay the same (``face_id``: the video track's id) from the first frame to the last,
or the challenge fails. Binding it to an identity (the face verified at the start is
the one that ends it, by its embedding at both ends) is the caller's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.face_signals import eye_openness, head_pose, smile
from edgeface.landmarks import Landmarks

ACTIONS = ("blink", "smile", "turn_left", "turn_right", "nod")


@dataclass(frozen=True)
class ChallengeOptions:
    actions: int = 3  # how many of ACTIONS, in random order, none twice
    time_limit_ms: float = 5000.0  # per action, from the end of the previous one
    settle_ms: float = 500.0  # neutral values are taken over this long first
    # a blink must take both eyes' aspect ratio under this share of neutral: a real blink
    # takes it to about a third (about 0.3 open, under 0.1 shut), the renders of
    # edgeface.eval.render_face (the lid's texture drawn over the eye) to 0.82-0.84;
    # a print's ratio moves by the model's jitter only, a few percent
    blink_drop: float = 0.86
    blink_open: float = 0.93
    smile_gain: float = 1.08
    # a turn must move yaw this far past neutral; the renders' 30-degree turns, followed
    # frame to frame in video, read as 11-12 (docs/landmarks.md: renders under-read yaw)
    turn_deg: float = 10.0
    nod_deg: float = 8.0

    def check(self) -> "ChallengeOptions":
        if not 1 <= self.actions <= len(ACTIONS):
            raise EdgefaceError(f"ChallengeOptions.actions={self.actions!r}: choose 1 to {len(ACTIONS)}")
        for name in ("time_limit_ms", "settle_ms", "turn_deg", "nod_deg"):
            if not 0 < getattr(self, name) <= 600_000:
                raise EdgefaceError(f"ChallengeOptions.{name}={getattr(self, name)!r}: must be in (0, 600000]")
        if not 0 < self.blink_drop < self.blink_open <= 1 or not 1 < self.smile_gain < 3:
            raise EdgefaceError("ChallengeOptions: need 0 < blink_drop < blink_open <= 1 and 1 < smile_gain < 3")
        return self


@dataclass
class ChallengeState:
    status: str  # "settling", "running", "passed" or "failed"
    actions: tuple[str, ...]  # the order asked
    done: int  # actions completed
    current: str | None  # the action asked now
    reason: str  # why it passed or failed, or what is asked
    events: list[str] = field(default_factory=list)  # what happened on this frame


@dataclass
class _Neutral:
    eyes: float
    smile: float
    yaw: float
    pitch: float


class ActiveChallenge:
    def __init__(self, options: ChallengeOptions | None = None, rng: random.Random | None = None,
                 actions: tuple[str, ...] | None = None):
        self.options = (options or ChallengeOptions()).check()
        if actions is not None and (not actions or any(a not in ACTIONS for a in actions)):
            raise EdgefaceError(f"actions={actions!r}: choose from {', '.join(ACTIONS)}")
        self.actions = tuple(actions) if actions else tuple((rng or random.SystemRandom()).sample(
            ACTIONS, self.options.actions))
        self._samples: list[tuple[float, float, float, float]] = []
        self._neutral: _Neutral | None = None
        self._face_id: object = None
        self._start_ms: float | None = None
        self._action_from: float | None = None
        self._phase = 0  # within a two-part action (blink, nod): 1 once its first part happened
        self.state = ChallengeState("settling", self.actions, 0, None, "look at the camera")

    def feed(self, landmarks: Landmarks, t_ms: float, face_id: object = 0) -> ChallengeState:
        """One frame's landmarks of the challenged face (the first face in ``landmarks``;
        none: the face is missing on this frame)."""
        if self.state.status in ("passed", "failed"):
            return self.state
        self.state.events = []
        if self._start_ms is None:
            self._start_ms, self._face_id = t_ms, face_id
        if len(landmarks) == 0:
            return self._check_time(t_ms)
        if face_id != self._face_id:
            return self._end("failed", "another face took the place of the one challenged")
        one = landmarks.take(np.array([0]))
        signals = (float(eye_openness(one)[0].mean()), float(smile(one)[0]), *head_pose(one)[0, :2])
        if self._neutral is None:
            return self._settle(signals, t_ms)
        self._observe(signals, t_ms)
        return self._check_time(t_ms)

    def _settle(self, signals: tuple, t_ms: float) -> ChallengeState:
        self._samples.append(signals)
        if t_ms - self._start_ms >= self.options.settle_ms:
            self._neutral = _Neutral(*np.median(np.array(self._samples), axis=0))
            self._next(t_ms)
        return self.state

    def _next(self, t_ms: float) -> None:
        done = self.state.done
        if done == len(self.actions):
            self._end("passed", f"every action done in order: {', '.join(self.actions)}")
            return
        self._action_from, self._phase = t_ms, 0
        self.state.status, self.state.current = "running", self.actions[done]
        self.state.reason = f"please {self.actions[done].replace('_', ' ')}"

    def _observe(self, signals: tuple, t_ms: float) -> None:
        eyes, width, yaw, pitch = signals
        n, o = self._neutral, self.options
        action = self.state.current
        if action == "blink":
            if self._phase == 0 and eyes < o.blink_drop * n.eyes:
                self._phase = 1
            elif self._phase == 1 and eyes > o.blink_open * n.eyes:
                self._complete(t_ms)
        elif action == "smile" and width > o.smile_gain * n.smile:
            self._complete(t_ms)
        elif action == "turn_left" and yaw - n.yaw > o.turn_deg:
            self._complete(t_ms)
        elif action == "turn_right" and n.yaw - yaw > o.turn_deg:
            self._complete(t_ms)
        elif action == "nod":
            if self._phase == 0 and n.pitch - pitch > o.nod_deg:
                self._phase = 1
            elif self._phase == 1 and abs(pitch - n.pitch) < o.nod_deg / 2:
                self._complete(t_ms)

    def _complete(self, t_ms: float) -> None:
        self.state.events.append(f"{self.state.current}_done")
        self.state.done += 1
        self._next(t_ms)

    def _check_time(self, t_ms: float) -> ChallengeState:
        if self.state.status == "running" and t_ms - self._action_from > self.options.time_limit_ms:
            return self._end("failed", f"{self.state.current.replace('_', ' ')} not seen within "
                                       f"{self.options.time_limit_ms / 1000:g} s")
        return self.state

    def _end(self, status: str, reason: str) -> ChallengeState:
        self.state.status, self.state.current, self.state.reason = status, None, reason
        self.state.events.append(f"challenge_{status}")
        return self.state
