"""The bounded frame queue between a feed's reader thread and the processor.

A live feed cannot be slowed down: a camera sends 25 frames a second whether or not
they are processed. So ``put`` never blocks: when the queue is full the **oldest** frame
is dropped (and counted) to make room for the new one, and memory stays at ``maxsize``
frames however far processing falls behind. A recording read as fast as it is processed
uses ``put_wait`` instead, which waits for room and drops nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    timestamp_ms: float  # the feed's own clock (the stream's presentation time)
    image: np.ndarray  # HxWx3 uint8 RGB
    arrived: float  # time.monotonic() when the reader got it: where latency is measured from


class FrameQueue:
    """A bounded FIFO of ``Frame``; ``wake`` (shared by all feeds' queues) is set on every
    put, so one processor thread can sleep until any feed has a frame."""

    def __init__(self, maxsize: int, wake: threading.Event | None = None):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._wake = wake

    def put(self, frame: Frame) -> bool:
        """Add ``frame``, dropping the oldest one when full; True when one was dropped."""
        with self._cond:
            dropped = len(self._items) >= self.maxsize
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(frame)
        self._notify()
        return dropped

    def put_wait(self, frame: Frame, stop: threading.Event, poll_s: float = 0.1) -> bool:
        """Add ``frame`` once there is room; False (frame not added) when ``stop`` is set
        or the queue is closed first."""
        with self._cond:
            while len(self._items) >= self.maxsize:
                if stop.is_set() or self._closed:
                    return False
                self._cond.wait(poll_s)
            self._items.append(frame)
        self._notify()
        return True

    def get_nowait(self) -> Frame | None:
        """The oldest frame, or None when empty."""
        with self._cond:
            if not self._items:
                return None
            frame = self._items.popleft()
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames will come (the reader ended); what is queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._notify()

    @property
    def finished(self) -> bool:
        """Closed and emptied."""
        with self._cond:
            return self._closed and not self._items

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()
