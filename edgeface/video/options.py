"""``VideoOptions``: every setting of video mode, with the reason for its default."""

from __future__ import annotations

from dataclasses import dataclass

from edgeface.errors import EdgefaceError


@dataclass
class VideoOptions:
    # Run the detector on every Nth frame (and on the next frame whenever a track is
    # lost); in between, tracks move by their motion model only.
    detect_every: int = 5
    # With a landmark model in the bundle (models.landmarks), each face is followed by its
    # landmarks on every frame, the crop taken from the previous frame's points as
    # MediaPipe's face mesh does; the detector then runs only when a face is lost (its
    # presence falls under the manifest's threshold), new, or leaving the frame, and every
    # find_faces_every frames to find faces that came in. landmarks=False tracks by boxes.
    landmarks: bool = True
    find_faces_every: int = 30
    # A detection continues a track when their boxes overlap at least this much.
    min_iou: float = 0.3
    # A track that no detection has matched for this long ends (it is hidden from the
    # frame results from its first miss, and found again if it comes back in time).
    lost_after_ms: float = 700.0
    # Kalman filter noise, in box sizes (see edgeface.video.kalman).
    measurement_std: float = 0.05
    acceleration_std: float = 3.0
    # One-euro smoothing of reported boxes and keypoints (see edgeface.video.smoothing);
    # smooth=False reports the Kalman estimate as it is.
    smooth: bool = True
    min_cutoff_hz: float = 1.0
    beta: float = 1.0
    # Recognise a track once, then again only when its face quality beats the quality it
    # was last recognised at by this fraction (quality is at most 1, so this bounds the
    # embedder runs per track).
    recognize: bool = True
    quality_gain: float = 0.2
    # A track with no identity yet (no match so far: a stranger, or a face first seen cut
    # by the frame edge, turned or blurred) is tried again whenever its quality beats its
    # last try (by any amount), and at the latest every this many detections (1 s with
    # detect_every=5 at 25 fps): it keeps being tried, on detection frames only.
    retry_unknown_every: int = 5
    # Best-crop margin around the face box, in box sizes.
    crop_margin: float = 0.2
    # Summaries of ended tracks kept for summaries(); older ones are dropped so that a
    # live feed runs in bounded memory.
    max_summaries: int = 10_000
    color: str | None = None  # None: the FaceAnalyzer's color option

    def check(self) -> "VideoOptions":
        """Refuse values outside sane ranges: a live feed runs for months, so every count
        and duration is bounded above as well as below (memory and timers stay bounded)."""
        for name in ("detect_every", "retry_unknown_every", "find_faces_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
                raise EdgefaceError(f"VideoOptions.{name}={value!r}: must be an integer >= 1 and <= 10000")
        if not 0.0 < self.min_iou <= 1.0:
            raise EdgefaceError(f"VideoOptions.min_iou={self.min_iou!r}: must be in (0, 1]")
        _check_range("lost_after_ms", self.lost_after_ms, 0.0, 3_600_000.0, open_low=True)
        for name in ("measurement_std", "acceleration_std", "min_cutoff_hz"):
            _check_range(name, getattr(self, name), 0.0, 1_000.0, open_low=True)
        for name in ("beta", "quality_gain", "crop_margin"):
            _check_range(name, getattr(self, name), 0.0, 100.0)
        value = self.max_summaries
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
            raise EdgefaceError(f"VideoOptions.max_summaries={value!r}: must be an integer >= 0 and <= 1000000")
        return self


def _check_range(name: str, value: float, lo: float, hi: float, open_low: bool = False) -> None:
    """``lo < value <= hi`` (``open_low``) or ``lo <= value <= hi``; NaN fails both."""
    ok = (lo < value if open_low else lo <= value) and value <= hi
    if not ok:
        low = f"({lo}" if open_low else f"[{lo}"
        raise EdgefaceError(f"VideoOptions.{name}={value!r}: must be in {low}, {hi}]")
