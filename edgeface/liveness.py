"""Passive liveness across frames: a photograph or a screen held to the camera moves as a
plane, a head does not.

Every image of a plane is the same plane seen through a homography (a 3x3 projective
map). ``PassiveLiveness`` keeps a track's frames, reduced to face crops
(``edgeface.liveness_texture``), with the head pose the landmarks give
(``edgeface.face_signals.head_pose``). Once the head has turned ``min_turn_deg`` (yaw or
pitch), it warps the face of the two frames whose poses differ most onto each other by
the best homography: a picture's face matches itself, a head's does not (the nose moves
across the cheeks, one side hides), and the residual reaching ``threshold`` calls it
live; under it, a turn of ``spoof_turn_deg`` calls it a flat picture. The landmarks
choose the frames and start the fit; the decision is read from the pixels, because the
landmark model's 3-D prior reads a tilted photograph as a turning head
(docs/landmarks.md has the measurements).

What it does not cover: a 3-D mask (it has parallax), a deepfake or any video injected
past the camera (it shows a real head's motion), a replayed recording of a real head
turning (the active challenge's random order is what defeats that), a print bent or a
glare sliding across a glossy screen as it moves (both add residual a plane has not:
the evaluation set measures the glare), and a face that does not move (no decision
without ``min_turn_deg`` of turn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeface.face_signals import head_pose
from edgeface.landmarks import Landmarks
from edgeface.liveness_texture import FaceCrop, face_crop, texture_residual

RIGID_GROUP = "rigid_features"


@dataclass(frozen=True)
class LivenessResult:
    decision: str  # "live", "spoof", or "undecided" (not enough turn yet, or nothing to judge)
    score: float  # the texture residual (0 before it is computed)
    turn_deg: float  # the largest yaw or pitch difference between two frames seen (smoothed)
    reason: str


class PassiveLiveness:
    """Feed one face frame by frame (``add``); ``result`` decides once the head has turned
    ``min_turn_deg``.

    Each frame's pose is the median of it and its neighbours' (which steadies the landmark
    model's jitter); between the two frames whose poses differ most, each also against a
    second partner, the least texture residual
    (``edgeface.liveness_texture.texture_residual``) reaching ``threshold`` is live. Under
    it, the face is called a flat picture only once the head has turned
    ``spoof_turn_deg``: a head that turned less may not show enough parallax yet, so it is
    asked to turn further. The defaults were chosen on one part of the evaluation set and
    measured on another (docs/landmarks.md). With timestamps, frames closer than
    ``frame_interval_ms`` to the last one kept are skipped, so that a fast camera does not
    fill the ``max_frames`` window with a fraction of a turn."""

    def __init__(self, threshold: float = 0.105, min_turn_deg: float = 5.0, spoof_turn_deg: float = 9.0,
                 frame_interval_ms: float = 100.0, max_frames: int = 30):
        self.threshold, self.min_turn_deg, self.spoof_turn_deg = threshold, min_turn_deg, spoof_turn_deg
        self.frame_interval_ms = frame_interval_ms
        self._crops: list[FaceCrop] = []
        self._poses: list[np.ndarray] = []
        self._serials: list[int] = []  # each kept frame's number, so a pair's residual is computed once
        self._residuals: dict[tuple[int, int], float] = {}
        self._last_ms: float | None = None
        self._max = max_frames

    def add(self, frame: np.ndarray, landmarks: Landmarks, face: int = 0, t_ms: float | None = None) -> None:
        """``frame`` (H, W, 3) uint8 and its ``landmarks``; ``face`` picks the face followed."""
        if t_ms is not None:
            if self._last_ms is not None and t_ms - self._last_ms < self.frame_interval_ms:
                return
            self._last_ms = t_ms
        one = landmarks.take(np.array([face]))
        eyes = float(np.linalg.norm(one.centre("right_eye")[0, :2] - one.centre("left_eye")[0, :2]))
        crop = face_crop(frame, one.points[0], one.group(RIGID_GROUP)[0], eyes)
        if len(self._crops) == self._max:  # a bounded window: the oldest frame goes
            self._crops.pop(0), self._poses.pop(0), self._serials.pop(0)
            self._residuals = {pair: r for pair, r in self._residuals.items() if pair[0] >= self._serials[0]}
        self._serials.append(self._serials[-1] + 1 if self._serials else 0)
        self._crops.append(crop)
        self._poses.append(head_pose(one)[0])

    def _pose_gaps(self) -> np.ndarray:
        """(n, n) the yaw or pitch difference between every two frames, each frame's pose
        the median of it and its neighbours."""
        poses = np.array(self._poses)[:, :2]
        steady = poses.copy()
        for k in range(1, len(poses) - 1):
            steady[k] = np.median(poses[k - 1:k + 2], axis=0)
        return np.abs(steady[:, None] - steady[None]).max(axis=2)

    def residual(self) -> float:
        """The texture residual between the two frames whose poses differ most, confirmed
        against a second partner for each (the frame of most different pose from it among
        the rest): the least of the three, so that one frame whose landmarks went astray
        (its fit starts far off and fails) cannot make a picture live. 0 before two
        frames; NaN when none of the pairs can be judged. The score the threshold
        applies to."""
        if len(self._crops) < 2:
            return 0.0
        gaps = self._pose_gaps()
        i, j = sorted(np.unravel_index(int(np.argmax(gaps)), gaps.shape))
        pairs = [(i, j)]
        rest = [k for k in range(len(gaps)) if k not in (i, j)]
        if rest:
            pairs += [(i, max(rest, key=lambda k: gaps[i, k])), (max(rest, key=lambda k: gaps[k, j]), j)]
        judged = [r for r in (self._pair_residual(a, b) for a, b in pairs) if not math.isnan(r)]
        return min(judged) if judged else float("nan")

    def _pair_residual(self, a: int, b: int) -> float:
        pair = (self._serials[min(a, b)], self._serials[max(a, b)])
        if pair not in self._residuals:
            self._residuals[pair] = texture_residual(self._crops[min(a, b)], self._crops[max(a, b)])
        return self._residuals[pair]

    def result(self) -> LivenessResult:
        if len(self._crops) < 3:
            return LivenessResult("undecided", 0.0, 0.0, "fewer than three frames of the face")
        turn = float(self._pose_gaps().max())
        if turn < self.min_turn_deg:
            return LivenessResult("undecided", 0.0, turn, f"the head turned {turn:.0f} degrees, "
                                  f"{self.min_turn_deg:.0f} are needed: ask for a turn")
        score = self.residual()
        if math.isnan(score):
            return LivenessResult("undecided", 0.0, turn, "the face cannot be compared across the turn (too "
                                  "little texture, or it left the frame): light the face and keep it in view")
        if score >= self.threshold:
            return LivenessResult("live", score, turn, f"the face's image moved in depth as it turned (residual "
                                  f"{score:.3f} of its contrast over a plane's)")
        if turn < self.spoof_turn_deg:
            return LivenessResult("undecided", score, turn, f"the face has moved as a flat picture so far, over "
                                  f"{turn:.0f} degrees of turn: ask it to turn further ({self.spoof_turn_deg:.0f})")
        return LivenessResult("spoof", score, turn, f"the face's image moved as a flat picture does (residual "
                              f"{score:.3f} of its contrast, under {self.threshold})")
