"""Feed readers: one thread per feed pulls frames from its source into its bounded queue,
and reopens the source with back-off when it fails, without touching the other feeds.

A source is a video file, a camera (``/dev/video0``), a stream URL (``rtsp://``,
``http://``...; decoded by ``edgeface.video.open_video``) or ``synthetic:...``
(``edgeface.feeds.synthetic``). Decoding runs in the reader thread; FFmpeg releases the
GIL while it decodes, so it overlaps with the processor.

When a live source (a stream or camera) fails, with an exception or by ending, the
reader waits ``reconnect_delay(attempt)`` and opens it again; the attempt count starts
over after a frame arrives. A file or synthetic feed is read once: its end ends the
feed, an error fails it (reading it again would repeat its frames).

Timestamps stay increasing across reconnects: the new connection's first frame is
stamped the outage's wall time after the last frame before it, so the tracker sees the
gap and ends the tracks it had.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from edgeface.feeds.config import MIN_RECONNECT_S, FeedConfig, ReconnectConfig
from edgeface.feeds.metrics import FeedStats
from edgeface.feeds.queueing import Frame, FrameQueue

Opener = Callable[[], Iterable[tuple[float, np.ndarray]]]


def is_live(source: str) -> bool:
    """A stream or camera: it cannot be paused, and its end is a failure to recover from."""
    return "://" in source or source.startswith("/dev/video")


def paced(feed: FeedConfig) -> bool:
    """Whether frames are delivered at their timestamps (see ``FeedConfig.realtime``)."""
    if feed.realtime is not None:
        return feed.realtime
    return feed.source.startswith("synthetic:") or is_live(feed.source)


def open_source(source: str) -> Iterable[tuple[float, np.ndarray]]:
    """``(timestamp_ms, HxWx3 uint8 RGB)`` frames of a source string."""
    if source.startswith("synthetic:"):
        from edgeface.feeds.synthetic import SyntheticSpec, synthetic_frames

        return synthetic_frames(SyntheticSpec.parse(source))
    from edgeface.video import open_video

    return open_video(source)


def reconnect_delay(cfg: ReconnectConfig, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempt`` (1, 2, ...): exponential, capped, then
    cut by a random fraction of up to ``cfg.jitter``, never below ``MIN_RECONNECT_S``
    (a jitter of 1 could otherwise cut it to nothing)."""
    try:
        delay = min(cfg.max_s, cfg.initial_s * cfg.factor ** (attempt - 1))
    except OverflowError:  # factor ** n beyond a float, after about a thousand attempts: long capped
        delay = cfg.max_s
    return max(MIN_RECONNECT_S, delay * (1.0 - cfg.jitter * rng.random()))


class FeedReader(threading.Thread):
    """Reads one feed into ``queue`` until the source ends (a file), reconnect attempts
    run out, or ``stop`` is set; then closes the queue."""

    def __init__(self, feed: FeedConfig, queue: FrameQueue, stats: FeedStats, reconnect: ReconnectConfig,
                 stop: threading.Event, opener: Opener | None, log: Callable[[str], None]):
        super().__init__(name=f"feed-{feed.id}", daemon=True)
        self.feed = feed
        self.queue = queue
        self.stats = stats
        self.reconnect = reconnect
        self.stop_event = stop
        self.opener = opener or (lambda: open_source(feed.source))
        self.log = log
        self.realtime = paced(feed)
        self.live = is_live(feed.source)
        self._rng = random.Random()
        self._got = 0  # frames from the current connection
        self._last: tuple[float, float] | None = None  # (timestamp_ms, monotonic) of the last frame

    def run(self) -> None:
        attempt = 0
        try:
            while not self.stop_event.is_set():
                self._got, error = 0, None
                try:
                    self._read_once()
                except Exception as exc:  # any failure of one feed is that feed's alone
                    error = f"{type(exc).__name__}: {exc}"
                if self.stop_event.is_set():
                    return
                if not self.live:  # a file ends (or fails) once: reading it again would repeat it
                    self._end(error)
                    return
                error = error or "the stream ended"
                attempt = 1 if self._got else attempt + 1
                self.stats.last_error = error
                if self.reconnect.max_attempts is not None and attempt > self.reconnect.max_attempts:
                    self._end(f"{error}; gave up after {attempt - 1} reconnect attempts")
                    return
                delay = reconnect_delay(self.reconnect, attempt, self._rng)
                self.stats.state = "reconnecting"
                self.stats.reconnects += 1
                self.log(f"feed {self.feed.id}: {error}; reconnecting in {delay:.1f} s (attempt {attempt})")
                self.stop_event.wait(delay)
        finally:
            if self.stats.state not in ("ended", "failed"):
                self.stats.state = "stopped"
            self.queue.close()

    def _end(self, error: str | None) -> None:
        """The feed is over: ``ended`` when its source ran out, else ``failed``."""
        if error is None:
            self.stats.state = "ended"
            return
        self.stats.state, self.stats.last_error = "failed", error
        self.log(f"feed {self.feed.id}: {error}")

    def _read_once(self) -> None:
        """Open the source and queue its frames until it ends (``self._got`` counts them)."""
        frames = self.opener()
        iterator: Iterator = iter(frames)
        offset, pace = None, None
        try:
            while not self.stop_event.is_set():
                cpu = time.thread_time()
                item = next(iterator, None)
                self.stats.decode_cpu_s += time.thread_time() - cpu
                if item is None:
                    break
                raw_ms, image = item
                if offset is None:
                    offset = self._timestamp_offset(raw_ms)
                    pace = (time.monotonic(), raw_ms)
                if self.realtime and not self.live:  # a recording played like a camera
                    delay = pace[0] + (raw_ms - pace[1]) / 1000.0 - time.monotonic()
                    if delay > 0 and self.stop_event.wait(delay):
                        break
                self._queue(Frame(raw_ms + offset, image, time.monotonic()))
                self._got += 1
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def _timestamp_offset(self, first_ms: float) -> float:
        """What to add to this connection's timestamps to continue the feed's clock."""
        if self._last is None:
            return 0.0
        last_ms, last_at = self._last
        return last_ms + max(1.0, (time.monotonic() - last_at) * 1000.0) - first_ms

    def _queue(self, frame: Frame) -> None:
        self._last = (frame.timestamp_ms, frame.arrived)
        self.stats.state = "running"
        self.stats.frames_in += 1
        if self.realtime:
            self.queue.put(frame)
        else:
            self.queue.put_wait(frame, self.stop_event)
