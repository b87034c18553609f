"""Frames from video files, cameras and network streams, decoded by PyAV (FFmpeg).

``open_video`` yields ``(timestamp_ms, frame)`` with the stream's own presentation time,
so a variable frame rate or frames the network dropped show up as longer gaps that the
tracker's motion model steps over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from edgeface.errors import EdgefaceError

INSTALL_HINT = "pip install 'edgeface[video]'"
# Network streams: give up on a dead server instead of hanging (seconds: open, read).
STREAM_TIMEOUT_S = (10.0, 10.0)


class VideoError(EdgefaceError):
    """A video file or stream cannot be opened, decoded or written."""


def require_av():
    """The ``av`` module, or a clear error saying how to install it."""
    try:
        import av
    except ImportError:
        raise VideoError(f"video files and streams need PyAV: {INSTALL_HINT}") from None
    return av


def is_stream_url(source: str) -> bool:
    return "://" in source


class VideoSource:
    """An open video: iterate for ``(timestamp_ms, HxWx3 uint8 RGB frame)``.

    Use as a context manager (or call ``close``) to release the file or connection early;
    iterating to the end closes it too.
    """

    def __init__(self, source: str | Path):
        av = require_av()
        self.name = str(source)
        options, kwargs = {}, {}
        if is_stream_url(self.name):
            kwargs["timeout"] = STREAM_TIMEOUT_S
            if self.name.startswith("rtsp"):
                options["rtsp_transport"] = "tcp"  # UDP loses packets, and so whole frames
        elif self.name.startswith("/dev/video"):
            kwargs["format"] = "v4l2"
        elif not Path(self.name).is_file():
            raise VideoError(f"{self.name}: no such video file: pass a video file path, a camera "
                             f"device (/dev/video0) or a stream URL (rtsp://...)")
        try:
            self._container = av.open(self.name, options=options, **kwargs)
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoError(f"{self.name}: cannot open as a video ({_reason(exc)}): pass a video "
                             f"file FFmpeg can read (mp4, mkv, avi, ...) or a reachable stream URL") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.name}: has no video stream: pass a video file, not audio or an image")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.frames = self._stream.frames or None  # as the container declares it; None for a stream
        self.width = self._stream.codec_context.width
        self.height = self._stream.codec_context.height
        self.skipped_packets = 0  # packets that failed to decode (corrupt or lost data)
        self._closed = False

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        av = require_av()
        if self._closed:
            raise VideoError(f"{self.name}: this video was read to the end or closed: open it again "
                             f"with open_video")
        index = 0
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    self.skipped_packets += 1
                    continue
                for frame in frames:
                    yield self._timestamp_ms(frame, index), frame.to_ndarray(format="rgb24")
                    index += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"{self.name}: decoding failed after {index} frames ({_reason(exc)})") from None
        finally:
            self.close()

    def _timestamp_ms(self, frame, index: int) -> float:
        """The frame's presentation time in ms from its pts; the frame count over the
        nominal rate when the container gives none."""
        if frame.pts is not None and frame.time_base is not None:
            return float(frame.pts * frame.time_base * 1000)
        return 1000.0 * index / (self.fps or 30.0)

    def close(self) -> None:
        self._container.close()
        self._closed = True

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(source: str | Path) -> VideoSource:
    """Open a video file, a camera device (``/dev/video0``) or a stream URL
    (``rtsp://``, ``http://``, ...); iterate for ``(timestamp_ms, rgb_frame)``."""
    return VideoSource(source)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


