"""Tracks: faces followed from frame to frame by a Kalman filter on the box, continued by
IoU matching whenever the detector runs (or, with a landmark model, by each face's own
landmarks in between: ``Track.follow``), with stable ids, smoothed output and a carried
identity vote. No models here: the tracker takes detections as arrays, so it is tested
with plain numbers (edgeface.video.analyzer feeds it the models' output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.video.association import greedy_match, iou_matrix
from edgeface.video.identity import IdentityVote
from edgeface.video.kalman import BoxKalman
from edgeface.video.options import VideoOptions
from edgeface.video.quality import inside_fraction
from edgeface.video.smoothing import OneEuroFilter

EVENT_KINDS = ("track_started", "identity_matched", "track_ended")
# A track whose predicted box has less than this fraction inside the frame is leaving:
# the detector runs on the next frame to confirm it.
MIN_INSIDE_FRACTION = 0.5
# A new track is detected again on the next frames until it has this many detections:
# its speed is unknown at first, and without it the prediction over detect_every frames
# could drift off a fast face.
WARMUP_DETECTIONS = 3


def _box_list(box) -> list[float]:
    return [round(float(v), 2) for v in box]


def _similarity(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass
class TrackState:
    """A track as reported on one frame (box and keypoints smoothed, in frame pixels)."""

    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray  # (K, 2), the detector's keypoint order
    score: float  # the detector's score at the last detection
    identity: str | None
    similarity: float | None
    detected: bool  # the detector found this face on this frame (else the box is predicted or followed)
    # (P, 3) dense landmarks in frame pixels when the bundle has a landmark model and it
    # found the face on this frame, raw (not smoothed); not written by to_dict (468 points)
    landmarks: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "bbox": _box_list(self.bbox), "score": round(self.score, 4),
                "identity": self.identity, "similarity": _similarity(self.similarity),
                "detected": self.detected, "keypoints": np.round(self.keypoints, 2).tolist()}


@dataclass
class TrackEvent:
    kind: str  # one of EVENT_KINDS
    track_id: int
    timestamp_ms: float
    identity: str | None
    similarity: float | None
    bbox: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "track_id": self.track_id, "timestamp_ms": round(self.timestamp_ms, 3),
                "identity": self.identity, "similarity": _similarity(self.similarity),
                "bbox": _box_list(self.bbox)}


@dataclass
class TrackSummary:
    track_id: int
    first_ms: float  # first and last frames the track was reported on
    last_ms: float
    frames: int  # frames it was reported on
    identity: str | None
    similarity: float | None
    best_crop: np.ndarray | None = field(repr=False)  # the best-quality face seen, with a margin
    best_quality: float = 0.0
    detections: int = 0  # frames the detector found it on
    recognitions: int = 0  # times the embedder ran on it

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "first_ms": round(self.first_ms, 3), "last_ms": round(self.last_ms, 3),
                "frames": self.frames, "identity": self.identity, "similarity": _similarity(self.similarity),
                "best_quality": round(self.best_quality, 4), "detections": self.detections,
                "recognitions": self.recognitions}


class Track:
    def __init__(self, track_id: int, box, score: float, keypoints: np.ndarray, t_ms: float,
                 options: VideoOptions):
        self.track_id = track_id
        self.kalman = BoxKalman(box, options.measurement_std, options.acceleration_std)
        self.filter = OneEuroFilter(options.min_cutoff_hz, options.beta) if options.smooth else None
        self.first_ms = self.last_ms = self.last_seen_ms = t_ms
        self.frames = 0
        self.detections = 0
        self.follows = 0  # frames its landmarks found it on, between detections
        self.misses = 0  # detector runs in a row that did not find it (or its landmarks lost it)
        self.landmarks: np.ndarray | None = None  # (P, 3) on the last frame they found it
        # (points, box, keypoints) at the last detection with landmarks: what follow maps from
        self.anchor: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.detected = False
        self.vote = IdentityVote()
        self.recognitions = 0
        self.recognized_quality: float | None = None  # at the last recognition
        self.recognized_detection = 0  # the detection count at the last recognition
        self.best_crop: np.ndarray | None = None
        self.best_quality = 0.0
        self.state: TrackState | None = None
        self._observe(box, score, keypoints, t_ms)

    def _observe(self, box, score: float, keypoints: np.ndarray, t_ms: float) -> None:
        """Remember the detection, and its keypoints relative to its box: they move and
        scale with the predicted box until the next detection."""
        self._seen(box, keypoints, t_ms)
        self.detected_box = np.asarray(box, np.float64).copy()  # the last detection as it came
        self.detected_keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
        self.score = float(score)
        self.detections += 1
        self.detected = True

    def _seen(self, box, keypoints: np.ndarray, t_ms: float) -> None:
        x0, y0, x1, y1 = (float(v) for v in box)
        size = np.array([max(x1 - x0, 1.0), max(y1 - y0, 1.0)])
        self._offsets = (np.asarray(keypoints, np.float64).reshape(-1, 2) - [(x0 + x1) / 2, (y0 + y1) / 2]) / size
        self.last_seen_ms = t_ms
        self.misses = 0

    def update(self, box, score: float, keypoints: np.ndarray, t_ms: float) -> None:
        self.kalman.update(box)
        self._observe(box, score, keypoints, t_ms)

    def follow(self, box, keypoints: np.ndarray, landmarks: np.ndarray, t_ms: float) -> None:
        """A frame without detection on which the face's landmarks found it again: ``box``
        and ``keypoints`` in the detector's terms, derived from them."""
        self.kalman.update(box)
        self._seen(box, keypoints, t_ms)
        self.landmarks = landmarks
        self.follows += 1

    def _box_and_keypoints(self) -> tuple[np.ndarray, np.ndarray]:
        """The Kalman box and keypoints as one vector (x0, y0, x1, y1, kx, ky, ...), and
        its rate of change per second."""
        cx, cy, w, h, vx, vy, vw, vh = self.kalman.x
        points = np.array([cx, cy]) + self._offsets * [w, h]
        point_rates = np.array([vx, vy]) + self._offsets * [vw, vh]
        box_rates = [vx - vw / 2, vy - vh / 2, vx + vw / 2, vy + vh / 2]
        return (np.concatenate([self.kalman.box, points.ravel()]),
                np.concatenate([box_rates, point_rates.ravel()]))

    def report(self, t_ms: float) -> TrackState:
        """This frame's state (smoothed), counted as a frame the track was seen on."""
        raw, rates = self._box_and_keypoints()
        out = raw if self.filter is None else self.filter(raw, t_ms / 1000.0, self.kalman.size, rates)
        self.frames += 1
        self.last_ms = t_ms
        found_now = self.last_seen_ms == t_ms
        self.state = TrackState(self.track_id, tuple(float(v) for v in out[:4]), out[4:].reshape(-1, 2),
                                self.score, self.vote.identity, self.vote.similarity, self.detected,
                                self.landmarks if found_now else None)
        return self.state

    def event(self, kind: str, t_ms: float) -> TrackEvent:
        box = self.state.bbox if self.state is not None else tuple(float(v) for v in self.kalman.box)
        return TrackEvent(kind, self.track_id, t_ms, self.vote.identity, self.vote.similarity, box)

    def summary(self) -> TrackSummary:
        return TrackSummary(self.track_id, self.first_ms, self.last_ms, self.frames, self.vote.identity,
                            self.vote.similarity, self.best_crop, self.best_quality, self.detections,
                            self.recognitions)


class Tracker:
    """Open tracks and their lifecycle: ``advance`` to each frame's time, ``match`` the
    detections when the detector ran, ``expire`` tracks lost for too long."""

    def __init__(self, options: VideoOptions):
        self.options = options
        self.tracks: list[Track] = []
        self._next_id = 1
        self._t_ms: float | None = None

    def advance(self, t_ms: float) -> None:
        """Predict every track forward to ``t_ms`` (the real gap since the last frame)."""
        if self._t_ms is not None and t_ms < self._t_ms:
            raise EdgefaceError(f"timestamp_ms={t_ms} is earlier than the previous frame's {self._t_ms}: "
                                f"pass frames in order with increasing timestamps (a new stream needs a "
                                f"new VideoAnalyzer)")
        dt_s = 0.0 if self._t_ms is None else (t_ms - self._t_ms) / 1000.0
        self._t_ms = t_ms
        for track in self.tracks:
            track.detected = False
            track.kalman.predict(dt_s)

    def match(self, boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray,
              t_ms: float) -> tuple[list[Track], list[Track]]:
        """Continue tracks with the detections that overlap their predicted boxes and
        start a track for each detection left over: returns (continued, started)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        predicted = np.array([t.kalman.box for t in self.tracks]).reshape(-1, 4)
        pairs, missed, fresh = greedy_match(iou_matrix(predicted, boxes), self.options.min_iou)
        continued = []
        for i, j in pairs:
            self.tracks[i].update(boxes[j], scores[j], keypoints[j], t_ms)
            continued.append(self.tracks[i])
        for i in missed:
            self.tracks[i].misses += 1
        started = [Track(self._next_id + n, boxes[j], scores[j], keypoints[j], t_ms, self.options)
                   for n, j in enumerate(fresh)]
        self._next_id += len(started)
        self.tracks.extend(started)
        return continued, started

    def expire(self, t_ms: float) -> list[Track]:
        """Remove and return the tracks the detector has missed for ``lost_after_ms``."""
        ended = [t for t in self.tracks if t.misses and t_ms - t.last_seen_ms > self.options.lost_after_ms]
        self.tracks = [t for t in self.tracks if t not in ended]
        return ended

    def end_all(self) -> list[Track]:
        ended, self.tracks = self.tracks, []
        return ended

    def visible(self) -> list[Track]:
        """Tracks found by the detector at its last run (the others may be occluded)."""
        return [t for t in self.tracks if not t.misses]

    def needs_detection(self, width: int, height: int, warmup: bool = True) -> bool:
        """True when a track is new (with ``warmup``: tracks followed by their landmarks
        on every frame need no speed), was missed or is leaving the frame: the detector
        should run on the next frame."""
        for track in self.tracks:
            if track.misses or (warmup and track.detections < WARMUP_DETECTIONS):
                return True
            if inside_fraction(track.kalman.box, width, height) < MIN_INSIDE_FRACTION:
                return True
        return False
