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
only when the head turned at least ``min_turn_deg`` (yaw or pitch,
``edgeface.face_signals.head_pose``; a tilted print reads as a few degrees), the
residual between the frames of most different pose reaches ``threshold`` of the eye
distance, and the residual grows with the pose difference across all frame pairs.

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
    return float(planar_residuals(np.asarray(first)[None], second)[0])


def planar_residuals(firsts: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``planar_residual`` of each of ``firsts`` (n, K, 2) against ``second`` (K, 2), the n
    fits solved together."""
    firsts = np.asarray(firsts, np.float64)
    second = np.broadcast_to(np.asarray(second, np.float64), firsts.shape)
    a, ta = _normalised(firsts)
    b, tb = _normalised(second)
    x, y, u, v = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows = np.concatenate([np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], axis=-1),
                           np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], axis=-1)], axis=1)
    h = np.linalg.svd(rows)[2][:, -1].reshape(-1, 3, 3)
    h = np.linalg.inv(tb) @ h @ ta
    mapped = np.concatenate([firsts, np.ones((*firsts.shape[:2], 1))], axis=2) @ np.swapaxes(h, 1, 2)
    depth = mapped[..., 2:]
    mapped = mapped[..., :2] / np.where(np.abs(depth) < 1e-12, 1e-12, depth)
    return np.sqrt(np.mean(np.sum((mapped - second) ** 2, axis=2), axis=1))


def _normalised(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (..., K, 2) moved to their centroid and scaled to a mean distance of sqrt(2)
    (Hartley), and the (..., 3, 3) maps that do it."""
    centre = points.mean(axis=-2, keepdims=True)
    spread = np.linalg.norm(points - centre, axis=-1).mean(axis=-1)
    scale = np.sqrt(2) / np.maximum(spread, 1e-12)
    transform = np.zeros((*points.shape[:-2], 3, 3))
    transform[..., 0, 0] = transform[..., 1, 1] = scale
    transform[..., :2, 2] = -scale[..., None] * centre[..., 0, :]
    transform[..., 2, 2] = 1.0
    return (points - centre) * scale[..., None, None], transform


@dataclass(frozen=True)
class LivenessResult:
    decision: str  # "live", "spoof", or "undecided" (not enough turn yet)
    score: float  # the planar residual over the eye distance (0 when undecided)
    turn_deg: float  # the largest yaw or pitch difference between two frames seen (smoothed)
    reason: str
    correlation: float = 0.0  # how the residual grows with the pose difference, over all frame pairs


class PassiveLiveness:
    """Feed one face's landmarks frame by frame (``add``); ``result`` decides once the head
    has turned ``min_turn_deg``.

    Over every pair of kept frames it has the planar residual (over the eye distance) and
    the pose difference (yaw or pitch, each frame's pose the median of it and its
    neighbours, which steadies the model's jitter). A head is live when, between the
    frames whose poses differ most (at least 0.6 of the largest difference), the median
    residual reaches ``threshold``, and the residual grows with the pose difference over
    all pairs (Pearson correlation at least ``min_correlation``): parallax does, while a
    picture's landmark jitter (moiré, blur) leaves residuals that do not follow the pose.
    The defaults were chosen on one part of the evaluation set and measured on another
    (docs/landmarks.md). With timestamps, frames closer than ``frame_interval_ms`` to the
    last one kept are skipped, so that the check sees about the frame spacing it was
    calibrated on (nine frames over a 30-degree turn) whatever the camera's rate."""

    def __init__(self, threshold: float = 0.015, min_turn_deg: float = 9.0, min_correlation: float = 0.85,
                 frame_interval_ms: float = 100.0, max_frames: int = 30):
        self.threshold, self.min_turn_deg, self.min_correlation = threshold, min_turn_deg, min_correlation
        self.frame_interval_ms = frame_interval_ms
        self._points: list[np.ndarray] = []
        self._poses: list[np.ndarray] = []
        self._eyes: list[float] = []
        self._residuals = np.zeros((0, 0))  # pixels, between every two kept frames
        self._last_ms: float | None = None
        self._max = max_frames

    def add(self, landmarks: Landmarks, face: int = 0, t_ms: float | None = None) -> None:
        if t_ms is not None:
            if self._last_ms is not None and t_ms - self._last_ms < self.frame_interval_ms:
                return
            self._last_ms = t_ms
        one = landmarks.take(np.array([face]))
        if len(self._points) == self._max:  # a bounded window: the oldest frame goes
            self._points.pop(0), self._poses.pop(0), self._eyes.pop(0)
            self._residuals = self._residuals[1:, 1:]
        points = rigid_points(one)[0]
        new = planar_residuals(np.array(self._points), points) if self._points else []
        n = len(self._points)
        grown = np.zeros((n + 1, n + 1))
        grown[:n, :n], grown[n, :n], grown[:n, n] = self._residuals, new, new
        self._residuals = grown
        self._points.append(points)
        self._poses.append(head_pose(one)[0])
        self._eyes.append(float(np.linalg.norm(one.centre("right_eye")[0, :2] - one.centre("left_eye")[0, :2])))

    def _pose_gaps(self) -> np.ndarray:
        """(n, n) the yaw or pitch difference between every two frames, each frame's pose
        the median of it and its neighbours."""
        poses = np.array(self._poses)[:, :2]
        steady = poses.copy()
        for k in range(1, len(poses) - 1):
            steady[k] = np.median(poses[k - 1:k + 2], axis=0)
        return np.abs(steady[:, None] - steady[None]).max(axis=2)

    def residual(self) -> float:
        """The median planar residual over the eye distance between the frames whose poses
        differ most (0 before two frames), whatever the turn: the score the threshold
        applies to."""
        if len(self._points) < 2:
            return 0.0
        gaps = self._pose_gaps()
        upper = np.triu_indices(len(gaps), 1)
        far = gaps[upper] >= 0.6 * gaps[upper].max()
        return float(np.median(self._residuals[upper][far])) / max(float(np.mean(self._eyes)), 1e-6)

    def correlation(self) -> float:
        """Pearson correlation between the pose difference and the residual over all pairs
        of frames (0 when either does not vary)."""
        if len(self._points) < 3:
            return 0.0
        gaps = self._pose_gaps()
        upper = np.triu_indices(len(gaps), 1)
        x, y = gaps[upper], self._residuals[upper]
        if np.std(x) == 0 or np.std(y) == 0:
            return 0.0
        return float(np.corrcoef(x, y)[0, 1])

    def result(self) -> LivenessResult:
        if len(self._points) < 3:
            return LivenessResult("undecided", 0.0, 0.0, "fewer than three frames of the face")
        turn = float(self._pose_gaps().max())
        if turn < self.min_turn_deg:
            return LivenessResult("undecided", 0.0, turn, f"the head turned {turn:.0f} degrees, "
                                  f"{self.min_turn_deg:.0f} are needed: ask for a turn")
        score, correlation = self.residual(), self.correlation()
        if score >= self.threshold and correlation >= self.min_correlation:
            return LivenessResult("live", score, turn, f"the face's points moved in depth as it turned (residual "
                                  f"{score:.3f} of the eye distance over a plane's, correlation {correlation:.2f} "
                                  f"with the turn)", correlation)
        why = (f"residual {score:.3f} of the eye distance, under {self.threshold}" if score < self.threshold else
               f"its residual did not follow the turn: correlation {correlation:.2f}, under {self.min_correlation}")
        return LivenessResult("spoof", score, turn, f"the face moved as a flat picture does ({why})", correlation)
