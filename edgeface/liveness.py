"""Passive liveness from landmarks across frames: a photograph or a screen held to the
camera moves as a plane, a head does not.

Every image of a plane is the same plane seen through a homography (a 3x3 projective
map), so the landmarks of a printed or replayed face on any frame are those of another
frame mapped by one homography, up to the landmark model's noise. A real head turning
shows parallax: the nose tip moves across the cheeks and the sides of the face, which no
homography reproduces. ``planar_residual`` fits the best homography between two frames'
``rigid_features`` (eye corners, nose tip, nostril wings, inner brow ends: points the
model sees in the texture, not the outline it guesses, and that no expression moves)
and returns what it leaves. ``PassiveLiveness`` keeps a track's points and decides live
only when both hold between the two frames of most different pose: the head turned at
least ``min_turn_deg`` (yaw or pitch, ``edgeface.face_signals.head_pose``; a tilted
print reads as a few degrees at most) and the residual reaches ``threshold`` of the eye
distance.

What it does not cover: a 3-D mask (it has parallax), a deepfake or any video injected
past the camera (it shows a real head's motion), a curved print (a bent photo is not a
plane: partly covered, as its parallax is small), and a face that does not move (no
decision without ``min_turn_deg`` of turn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeface.face_signals import head_pose
from edgeface.landmarks import Landmarks

RIGID_GROUP = "rigid_features"


def rigid_points(landmarks: Landmarks) -> np.ndarray:
    """(N, K, 2) the points that move only with the head."""
    return landmarks.group(RIGID_GROUP)[..., :2].astype(np.float64)


def planar_residual(first: np.ndarray, second: np.ndarray) -> float:
    """RMS distance (pixels) between ``second`` (K, 2) and ``first`` mapped by the
    homography that fits them best (normalised direct linear transform)."""
    a, ta = _normalised(first)
    b, tb = _normalised(second)
    rows = []
    for (x, y), (u, v) in zip(a, b):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    h = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 3)
    h = np.linalg.inv(tb) @ h @ ta
    mapped = np.c_[first, np.ones(len(first))] @ h.T
    mapped = mapped[:, :2] / np.where(np.abs(mapped[:, 2:]) < 1e-12, 1e-12, mapped[:, 2:])
    return float(np.sqrt(np.mean(np.sum((mapped - second) ** 2, axis=1))))


def _normalised(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points moved to their centroid and scaled to a mean distance of sqrt(2) (Hartley),
    and the 3x3 map that does it."""
    centre = points.mean(axis=0)
    scale = np.sqrt(2) / max(np.linalg.norm(points - centre, axis=1).mean(), 1e-12)
    transform = np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])
    return (points - centre) * scale, transform


@dataclass(frozen=True)
class LivenessResult:
    decision: str  # "live", "spoof", or "undecided" (not enough turn yet)
    score: float  # the planar residual over the eye distance (0 when undecided)
    turn_deg: float  # the largest yaw or pitch difference between two frames seen
    reason: str


class PassiveLiveness:
    """Feed one face's landmarks frame by frame (``add``); ``result`` decides once the head
    has turned ``min_turn_deg``. ``threshold``: the residual over the eye distance from
    which a face is live. 0.016 lies between what re-rendered turns of 15 degrees gave
    (0.017-0.027) and what a print tilted by up to 35 degrees gave (0.003-0.015, the
    most under a wide-angle camera); a calibrated threshold (APCER and BPCER on an
    evaluation set) is still to come (docs/landmarks.md)."""

    def __init__(self, threshold: float = 0.016, min_turn_deg: float = 15.0, max_frames: int = 300):
        self.threshold, self.min_turn_deg = threshold, min_turn_deg
        self._points: list[np.ndarray] = []
        self._poses: list[np.ndarray] = []
        self._eyes: list[float] = []
        self._max = max_frames

    def add(self, landmarks: Landmarks, face: int = 0) -> None:
        one = landmarks.take(np.array([face]))
        if len(self._points) == self._max:  # a bounded window: the oldest frame goes
            self._points.pop(0), self._poses.pop(0), self._eyes.pop(0)
        self._points.append(rigid_points(one)[0])
        self._poses.append(head_pose(one)[0])
        self._eyes.append(float(np.linalg.norm(one.centre("right_eye")[0, :2] - one.centre("left_eye")[0, :2])))

    def _most_different(self) -> tuple[int, int, float]:
        """The two frames whose yaw or pitch differ most, and by how much (degrees)."""
        poses = np.array(self._poses)[:, :2]
        gaps = np.abs(poses[:, None] - poses[None]).max(axis=2)
        i, j = np.unravel_index(np.argmax(gaps), gaps.shape)
        return int(i), int(j), float(gaps[i, j])

    def residual(self) -> float:
        """The planar residual over the eye distance between the two most different frames
        (0 before two frames), whatever the turn: the score the threshold applies to."""
        if len(self._points) < 2:
            return 0.0
        i, j, _ = self._most_different()
        return planar_residual(self._points[i], self._points[j]) / max(float(np.mean(self._eyes)), 1e-6)

    def result(self) -> LivenessResult:
        if len(self._points) < 2:
            return LivenessResult("undecided", 0.0, 0.0, "fewer than two frames of the face")
        turn = self._most_different()[2]
        if turn < self.min_turn_deg:
            return LivenessResult("undecided", 0.0, turn, f"the head turned {turn:.0f} degrees, "
                                  f"{self.min_turn_deg:.0f} are needed: ask for a turn")
        score = self.residual()
        if score >= self.threshold:
            return LivenessResult("live", score, turn, f"the face's points moved in depth (residual {score:.3f} "
                                  f"of the eye distance over a plane's)")
        return LivenessResult("spoof", score, turn, f"the face moved as a flat picture does (residual {score:.3f} "
                              f"of the eye distance, under {self.threshold})")
