"""Writing frames to a video file with PyAV: H.264 when FFmpeg has it, MPEG-4 Part 2
otherwise, each frame stamped with its own timestamp (variable frame rate)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from edgeface.video.sources import VideoError, require_av

CODECS = ("libx264", "h264", "mpeg4")
TIME_BASE = Fraction(1, 1000)  # pts in milliseconds


def pick_codec() -> str:
    av = require_av()
    for name in CODECS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # PyAV raises UnknownCodecError, older versions ValueError
            continue
    raise VideoError(f"this FFmpeg (PyAV {av.__version__}) has none of the encoders {', '.join(CODECS)}: "
                     f"reinstall PyAV from its wheels (pip install --force-reinstall av)")


class VideoWriter:
    """``write(frame, timestamp_ms)`` HxWx3 uint8 RGB frames; the size is fixed by the
    first frame (odd sides are padded by one pixel: yuv420p needs even ones)."""

    def __init__(self, path: str | Path, fps: float = 25.0):
        av = require_av()
        self.path = Path(path)
        self.fps = fps
        self._stream = None
        self._last_pts = -1
        self._count = 0
        if not self.path.parent.is_dir():
            raise VideoError(f"{self.path}: the folder {self.path.parent} does not exist: create it first")
        try:
            self._container = av.open(str(self.path), mode="w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(f"{self.path}: cannot write a video here ({exc}): use a writable path "
                             f"ending in .mp4, .mkv or .avi") from None

    def _add_stream(self, height: int, width: int) -> None:
        stream = self._container.add_stream(pick_codec(), rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        self._stream = stream

    def write(self, frame: np.ndarray, timestamp_ms: float | None = None) -> None:
        av = require_av()
        if self._container is None:
            raise VideoError(f"{self.path}: the video is closed: open a new VideoWriter")
        if self._stream is None:
            self._add_stream(*frame.shape[:2])
        stream = self._stream
        if frame.shape[:2] != (stream.height, stream.width):
            pad = ((0, stream.height - frame.shape[0]), (0, stream.width - frame.shape[1]), (0, 0))
            if min(pad[0][1], pad[1][1]) < 0:
                raise VideoError(f"{self.path}: frame {self._count} is {frame.shape[1]}x{frame.shape[0]}, "
                                 f"the video is {stream.width}x{stream.height}: write frames of one size")
            frame = np.pad(frame, pad, mode="edge")
        if timestamp_ms is None:
            timestamp_ms = 1000.0 * self._count / self.fps
        # Containers need strictly increasing pts; equal stamps (ms rounding) move up one.
        pts = max(int(round(timestamp_ms)), self._last_pts + 1)
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts, video_frame.time_base = pts, TIME_BASE
        self._container.mux(stream.encode(video_frame))
        self._last_pts = pts
        self._count += 1

    def close(self) -> None:
        if self._container is not None:
            if self._stream is not None:
                self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
