"""``LivenessSession``: one person's liveness check over video, frame by frame.

The challenged face is the first track the video analyzer reports with landmarks (a
bundle with ``models.landmarks``); its landmarks feed an ``ActiveChallenge`` and a
``PassiveLiveness``, and a different track fails the challenge. With an embedder in the
bundle, the track is embedded when the challenge starts and when it passes: the two
must match at the bundle's threshold, so the face verified is the face that did the
actions. The check passes when the challenge passed, the passive check did not find a
plane, and (with an embedder) the face stayed the same.

    session = LivenessSession(VideoAnalyzer(FaceAnalyzer.create_from_bundle("bundle/")))
    for timestamp_ms, frame in open_video(0):
        step = session.process(frame, timestamp_ms)
        show(step.prompt)               # "please blink", ...
        if step.verdict: break
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeface.challenge import ActiveChallenge
from edgeface.errors import BundleError
from edgeface.landmarks import Landmarks
from edgeface.liveness import LivenessResult, PassiveLiveness
from edgeface.results import Detections


@dataclass(frozen=True)
class LivenessVerdict:
    live: bool
    reason: str
    actions: tuple[str, ...]
    passive: LivenessResult
    same_face: float | None  # the cosine between the start and end embeddings, None without an embedder

    def to_dict(self) -> dict[str, Any]:
        return {"live": self.live, "reason": self.reason, "actions": list(self.actions),
                "passive": {"decision": self.passive.decision, "score": round(self.passive.score, 4),
                            "turn_deg": round(self.passive.turn_deg, 1), "reason": self.passive.reason},
                "same_face": None if self.same_face is None else round(self.same_face, 4)}


@dataclass
class LivenessStep:
    prompt: str  # what to ask the user now
    events: list[dict] = field(default_factory=list)  # actions done, challenge passed/failed, on this frame
    verdict: LivenessVerdict | None = None  # once the check has ended


class LivenessSession:
    def __init__(self, video, challenge: ActiveChallenge | None = None, passive: PassiveLiveness | None = None):
        if not video.analyzer.has_landmarks or not video.options.landmarks:
            raise BundleError(f"{video.analyzer.bundle.location}: liveness needs a landmark model "
                              f"(models.landmarks) followed in video: use a bundle with one "
                              f"(edgeface models fetch face-mesh) and VideoOptions(landmarks=True)")
        self.video = video
        self.challenge = challenge or ActiveChallenge()
        self.passive = passive or PassiveLiveness()
        self.verdict: LivenessVerdict | None = None
        self._track: int | None = None
        self._first_embedding: np.ndarray | None = None
        self._groups = video.analyzer.bundle.manifest.landmarks.point_groups

    def process(self, frame: np.ndarray, timestamp_ms: float) -> LivenessStep:
        result = self.video.process(frame, timestamp_ms)
        if self.verdict is not None:
            return LivenessStep("done", [], self.verdict)
        tracks = [t for t in result.tracks if t.landmarks is not None]
        mine = [t for t in tracks if t.track_id == self._track] if self._track is not None else tracks[:1]
        if self._track is None and mine:
            self._track = mine[0].track_id
        if not mine and tracks:  # the challenged face is gone and another is there
            mine = tracks[:1]
        face_id = mine[0].track_id if mine else self._track
        landmarks = self._landmarks(mine)
        if mine:
            self.passive.add(frame, landmarks, t_ms=float(timestamp_ms))
        before = self.challenge.state.status
        state = self.challenge.feed(landmarks, float(timestamp_ms), face_id)
        events = [{"kind": event, "timestamp_ms": round(float(timestamp_ms), 3)} for event in state.events]
        if before == "settling" and state.status == "running" and mine:
            self._first_embedding = self._embed(frame, mine[0])
        if state.status in ("passed", "failed"):
            self.verdict = self._verdict(frame, mine[0] if mine else None)
        return LivenessStep(state.reason, events, self.verdict)

    def finish(self) -> LivenessVerdict:
        """The verdict, also when the frames ran out before the challenge ended (not live)."""
        if self.verdict is None:
            state = self.challenge.state
            self.verdict = LivenessVerdict(False, f"the video ended before the challenge did ({state.reason})",
                                           state.actions, self.passive.result(), None)
        return self.verdict

    def _landmarks(self, tracks: list) -> Landmarks:
        points = np.stack([t.landmarks for t in tracks]) if tracks else np.zeros((0, 1, 3), np.float32)
        return Landmarks(points, np.ones(len(tracks), np.float32), self._groups)

    def _embed(self, frame: np.ndarray, track) -> np.ndarray | None:
        analyzer = self.video.analyzer
        if not analyzer.has_embedder:
            return None
        face = Detections(np.array([track.bbox], np.float32), np.array([track.score], np.float32),
                          np.array([track.keypoints], np.float32), analyzer.keypoint_names)
        return analyzer.embed_faces(frame, face, color=self.video.options.color or analyzer.options.color)[0]

    def _verdict(self, frame: np.ndarray, track) -> LivenessVerdict:
        state, passive = self.challenge.state, self.passive.result()
        same = None
        if self._first_embedding is not None and track is not None:
            same = float(np.dot(self._first_embedding, self._embed(frame, track)))
        if state.status != "passed":
            live, reason = False, state.reason
        elif passive.decision == "spoof":
            live, reason = False, passive.reason
        elif same is not None and same < self.video.analyzer.threshold:
            live, reason = False, (f"the face at the end is not the one at the start (similarity {same:.3f} "
                                   f"under {self.video.analyzer.threshold})")
        else:
            live, reason = True, state.reason + ("" if same is None else f"; the same face throughout ({same:.3f})")
        return LivenessVerdict(live, reason, state.actions, passive, same)
