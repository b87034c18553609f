"""Video mode: faces tracked across frames, recognised once per track.

``import edgeface.video`` stays light: the tracker is numpy, and PyAV (the ``video``
extra) is imported only when a file or stream is opened or written.

    from edgeface.video import VideoAnalyzer, VideoOptions, open_video

    video = VideoAnalyzer(analyzer, VideoOptions(detect_every=5))
    for timestamp_ms, frame in open_video("clip.mp4"):
        result = video.process(frame, timestamp_ms)
    events = video.finish()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeface.lazy import lazy_attributes

_LAZY = {
    "VideoAnalyzer": "edgeface.video.analyzer",
    "VideoOptions": "edgeface.video.options",
    "FrameResult": "edgeface.video.analyzer",
    "TrackState": "edgeface.video.tracker",
    "TrackEvent": "edgeface.video.tracker",
    "TrackSummary": "edgeface.video.tracker",
    "open_video": "edgeface.video.sources",
    "VideoWriter": "edgeface.video.writer",
}

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.video.analyzer import FrameResult, VideoAnalyzer
    from edgeface.video.options import VideoOptions
    from edgeface.video.sources import open_video
    from edgeface.video.tracker import TrackEvent, TrackState, TrackSummary
    from edgeface.video.writer import VideoWriter

__all__ = list(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
