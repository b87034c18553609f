"""Where events go: a JSON-lines file and user callbacks.

An event record is a plain dict, the ``TrackEvent`` fields plus where and when::

    {"feed": "door", "kind": "identity_matched", "track_id": 3, "timestamp_ms": 5120.0,
     "identity": "ada", "similarity": 0.9612, "bbox": [...], "time": 1732370000.123,
     "latency_ms": 14.2}

``timestamp_ms`` is the feed's clock (the frame's presentation time), ``time`` the Unix
time the event was emitted, ``latency_ms`` the time from the frame's arrival to the
event (None for ``track_ended`` events emitted when a feed stops, which no frame causes).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterable

from edgeface.errors import EdgefaceError

EventCallback = Callable[[dict], None]


def event_record(feed_id: str, event, latency_ms: float | None) -> dict:
    """The record of one ``edgeface.video.TrackEvent`` of feed ``feed_id``."""
    return {"feed": feed_id, **event.to_dict(), "time": round(time.time(), 3),
            "latency_ms": None if latency_ms is None else round(latency_ms, 2)}


def event_line(record: dict) -> str:
    """One record as one compact JSON line (with its newline)."""
    return json.dumps(record, separators=(",", ":")) + "\n"


class JsonlSink:
    """Appends one JSON line per event and flushes it at once, so a reader tailing the
    file (or a crash) never loses a written event. Several runs append to one file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise EdgefaceError(f"{self.path}: cannot open the events file for appending "
                                f"({exc.strerror or exc}): choose a writable path") from None

    def __call__(self, record: dict) -> None:
        self._file.write(event_line(record))
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def dispatch(records: Iterable[dict], callbacks: Iterable[EventCallback]) -> None:
    """Hand each record to every callback, in order."""
    callbacks = list(callbacks)
    for record in records:
        for callback in callbacks:
            callback(record)
