"""``VideoAnalyzer``: a ``FaceAnalyzer`` turned into a face tracker for video.

The detector runs every ``detect_every`` frames, and on the next frame whenever a track
is new (until its speed is known), lost or leaving the frame; in between, each face's
box is predicted by its Kalman filter, which costs microseconds. With a landmark model in
the bundle, each face is instead followed by its landmarks on every frame (their crop
comes from the previous frame's points) and the detector runs only when a face is lost,
new or leaving, and every ``find_faces_every`` frames; ``TrackState.landmarks`` holds
the points. Each track is recognised
when it starts and again only when its face quality improves (a track still unnamed also
every ``retry_unknown_every`` detections), and carries the identity its recognitions
voted for. Detection is the ``FaceAnalyzer``'s, search included: create it with
``search="whole"`` for one pass per detection frame (the default bundle's ``"auto"``
adds tiles whenever no face fills a third of the frame).

    video = VideoAnalyzer(FaceAnalyzer.create_from_bundle("bundle/", gallery="people.efg", search="whole"))
    for timestamp_ms, frame in open_video("clip.mp4"):
        result = video.process(frame, timestamp_ms)
        for track in result.tracks:
            print(track.track_id, track.bbox, track.identity)
    video.finish()
    for summary in video.summaries():
        print(summary.track_id, summary.identity, summary.first_ms, summary.last_ms)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeface.align import similarity_transform
from edgeface.errors import BundleError, EdgefaceError
from edgeface.image import to_rgb
from edgeface.landmarks import Landmarks
from edgeface.results import Detections
from edgeface.video.options import VideoOptions
from edgeface.video.quality import face_crop, face_quality
from edgeface.video.tracker import Track, TrackEvent, Tracker, TrackState, TrackSummary


@dataclass
class FrameResult:
    timestamp_ms: float
    detected: bool  # the detector ran on this frame
    tracks: list[TrackState]  # the faces seen, by track
    events: list[TrackEvent]  # what changed on this frame
    frame_index: int = 0  # frames processed before this one

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp_ms": round(self.timestamp_ms, 3), "frame_index": self.frame_index,
                "detected": self.detected, "tracks": [t.to_dict() for t in self.tracks],
                "events": [e.to_dict() for e in self.events]}


class VideoAnalyzer:
    """Feed frames in time order with ``process``; ``finish`` at the end of the stream.

    ``analyzer`` provides the models, its gallery is the watch-list and its threshold
    decides a match; without a gallery (or an embedder) faces are tracked, not named.
    """

    def __init__(self, analyzer, options: VideoOptions | None = None):
        if not analyzer.has_detector:
            raise BundleError(f"{analyzer.bundle.location}: this bundle has no detector, which video mode "
                              f"needs: use a bundle with models.detector")
        self.analyzer = analyzer
        self.options = (options or VideoOptions()).check()
        self.tracker = Tracker(self.options)
        self.frames = 0
        self.detector_runs = 0
        self.recognitions = 0
        self._since_detection: int | None = None
        self._redetect = False
        self._last_ms: float | None = None
        self._ended: deque[TrackSummary] = deque(maxlen=self.options.max_summaries)
        self._landmarks = self.options.landmarks and analyzer.has_landmarks
        self._every = self.options.find_faces_every if self._landmarks else self.options.detect_every

    @classmethod
    def create_from_options(cls, analyzer_options, options: VideoOptions | None = None) -> "VideoAnalyzer":
        """From ``FaceAnalyzerOptions`` (the bundle, threads, gallery...) in one step."""
        from edgeface.analyzer import FaceAnalyzer

        return cls(FaceAnalyzer.create_from_options(analyzer_options), options)

    def process(self, frame: np.ndarray, timestamp_ms: float) -> FrameResult:
        """Track the faces of ``frame`` (HxWx3 uint8 RGB unless ``VideoOptions.color`` or the
        analyzer's ``color`` option says otherwise), taken at ``timestamp_ms``."""
        rgb = to_rgb(frame, self.options.color or self.analyzer.options.color,
                     self.analyzer.options.max_image_pixels, "frame")
        t_ms = float(timestamp_ms)
        if not math.isfinite(t_ms):
            raise EdgefaceError(f"timestamp_ms={timestamp_ms!r}: must be a finite number of milliseconds")
        self.tracker.advance(t_ms)
        detect = (self._since_detection is None or self._redetect or self._since_detection + 1 >= self._every)
        started, matched = [], []
        if detect:
            continued, started = self._detect(rgb, t_ms)
            self._since_detection = 0
            if self._landmarks:
                self._landmarks_of_detected(rgb, continued + started)
            matched = self._recognize(rgb, continued + started)
        else:
            self._since_detection += 1
            if self._landmarks:
                self._follow(rgb, t_ms)
        ended = self.tracker.expire(t_ms)
        states = [track.report(t_ms) for track in self.tracker.visible()]
        events = ([self._end(track, t_ms) for track in ended]
                  + [track.event("track_started", t_ms) for track in started]
                  + [track.event("identity_matched", t_ms) for track in matched])
        self._redetect = self.tracker.needs_detection(rgb.shape[1], rgb.shape[0], warmup=not self._landmarks)
        self._last_ms = t_ms
        self.frames += 1
        return FrameResult(t_ms, detect, states, events, self.frames - 1)

    def _detect(self, rgb: np.ndarray, t_ms: float) -> tuple[list[Track], list[Track]]:
        found = self.analyzer.detect_arrays(rgb, color="rgb")
        self.detector_runs += 1
        return self.tracker.match(found.boxes, found.scores, found.keypoints, t_ms)

    def _landmarks_of_detected(self, rgb: np.ndarray, tracks: list[Track]) -> None:
        """Each detected track's landmarks, from its detection; the points and the
        detection are kept as the track's anchor, which later frames' points map from."""
        if not tracks:
            return
        faces = Detections(np.stack([t.detected_box for t in tracks]), np.array([t.score for t in tracks], np.float32),
                           np.stack([t.detected_keypoints for t in tracks]), self.analyzer.keypoint_names)
        found = self.analyzer.landmarks_arrays(rgb, faces, color="rgb")
        threshold = self.analyzer.bundle.manifest.landmarks.presence_threshold
        for track, points, presence in zip(tracks, found.points, found.presence):
            track.landmarks = points if presence >= threshold else None
            track.anchor = (points[:, :2].astype(np.float64), track.detected_box, track.detected_keypoints) \
                if presence >= threshold else None

    def _follow(self, rgb: np.ndarray, t_ms: float) -> None:
        """A frame without detection: each face with landmarks is found again from its
        previous points. Its box and keypoints move as its points moved since its
        detection (the similarity transform between the two point sets), so they stay
        in the detector's terms; a face whose presence falls under the threshold is lost,
        and the detector runs on the next frame."""
        tracks = [t for t in self.tracker.visible() if t.landmarks is not None and t.anchor is not None]
        if not tracks:
            return
        previous = Landmarks(np.stack([t.landmarks for t in tracks]), np.ones(len(tracks), np.float32))
        found = self.analyzer.follow_landmarks(rgb, previous, color="rgb")
        threshold = self.analyzer.bundle.manifest.landmarks.presence_threshold
        for track, points, presence in zip(tracks, found.points, found.presence):
            if presence < threshold:
                track.landmarks = None
                track.misses += 1
                continue
            anchor_points, box, keypoints = track.anchor
            moved = similarity_transform(anchor_points, points[:, :2])
            scale = math.sqrt(abs(np.linalg.det(moved[:, :2])))
            centre = moved[:, :2] @ ((box[:2] + box[2:]) / 2) + moved[:, 2]
            half = scale * (box[2:] - box[:2]) / 2
            track.follow(np.concatenate([centre - half, centre + half]), keypoints @ moved[:, :2].T + moved[:, 2],
                         points, t_ms)

    def _gallery(self):
        """The watch-list to recognise against, or None when faces cannot be named."""
        if not self.options.recognize or not self.analyzer.has_embedder:
            return None
        try:
            return self.analyzer.gallery
        except EdgefaceError:  # no gallery open
            return None

    def _recognize(self, rgb: np.ndarray, tracks: list[Track]) -> list[Track]:
        """Score each detected face, keep each track's best crop, and recognise the tracks
        that are due (``_due``); returns those whose identity changed."""
        names = self.analyzer.keypoint_names
        frame_size = (rgb.shape[1], rgb.shape[0])
        gallery = self._gallery()
        chosen: list[tuple[Track, float]] = []
        for track in tracks:
            crop = face_crop(rgb, track.detected_box, self.options.crop_margin)
            quality = face_quality(crop, track.detected_box, track.detected_keypoints, names, frame_size)
            if track.best_crop is None or quality > track.best_quality:
                track.best_crop, track.best_quality = crop, quality
            if gallery is not None and self._due(track, quality):
                chosen.append((track, quality))
        if not chosen or not len(gallery):  # sized only when a track is due: a database counts per call
            return []
        faces = Detections(np.stack([track.detected_box for track, _ in chosen]),
                           np.array([track.score for track, _ in chosen], np.float32),
                           np.stack([track.detected_keypoints for track, _ in chosen]), names)
        embeddings = self.analyzer.embed_faces(rgb, faces, color="rgb")
        matches = gallery.search(embeddings, top_k=1, threshold=self.analyzer.threshold)
        changed = []
        for (track, quality), found in zip(chosen, matches):
            before = track.vote.identity
            track.vote.add(found[0].identity if found else None, found[0].similarity if found else None, quality)
            track.recognitions += 1
            track.recognized_quality = quality
            track.recognized_detection = track.detections
            self.recognitions += 1
            if track.vote.identity is not None and track.vote.identity != before:
                changed.append(track)
        return changed

    def _due(self, track: Track, quality: float) -> bool:
        """Whether to recognise ``track`` on this detection: first when it starts; a named
        track again when its quality gained ``quality_gain``; a track no match has named
        yet when its quality beats its last try at all, or ``retry_unknown_every``
        detections after it."""
        last = track.recognized_quality
        if last is None:
            return True
        if track.vote.identity is not None:
            return quality > last * (1 + self.options.quality_gain)
        waited = track.detections - track.recognized_detection
        return quality > last or waited >= self.options.retry_unknown_every

    def _end(self, track: Track, t_ms: float) -> TrackEvent:
        self._ended.append(track.summary())
        return track.event("track_ended", t_ms)

    def finish(self, timestamp_ms: float | None = None) -> list[TrackEvent]:
        """End every open track (at ``timestamp_ms``, default the last frame's time), e.g.
        at the end of a file; the analyzer can go on with later frames afterwards."""
        t_ms = float(timestamp_ms) if timestamp_ms is not None else (self._last_ms or 0.0)
        return [self._end(track, t_ms) for track in self.tracker.end_all()]

    def summaries(self) -> list[TrackSummary]:
        """Every track so far (the last ``max_summaries`` ended ones and the open ones),
        by track id."""
        return sorted([*self._ended, *(t.summary() for t in self.tracker.tracks)], key=lambda s: s.track_id)
