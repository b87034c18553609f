"""The multi-feed processor: N feeds in one process, one frame at a time per feed.

Each feed has a reader thread (``edgeface.feeds.sources``) filling a bounded queue
(``edgeface.feeds.queueing``) and its own ``edgeface.video.VideoAnalyzer`` (its tracks);
all feeds share one ``FaceAnalyzer`` (the models and the watch-list gallery), used by a
single processing thread that takes frames round-robin, one per feed per round, so a busy
feed cannot starve the others.

Frames are not batched across feeds: ``VideoAnalyzer.process`` takes one frame, and the
shipped detectors have a fixed batch of 1 (BlazeFace, SCRFD exports). Within a frame the
embedder gets every face to recognise as one batch. With detect_every=N the detector
runs on about one frame in N, so detection, the cost a cross-feed batch would spread, is
already a small share of the work (scripts/bench_feeds.py measures it).

    processor = FeedProcessor(analyzer, config.feeds, config)
    for batch in processor.run(duration_s=60):
        for record in batch.records: ...
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from edgeface.feeds.config import FeedConfig, FeedsConfig, FeedsConfigError
from edgeface.feeds.events import EventCallback, JsonlSink, dispatch, event_record
from edgeface.feeds.metrics import FeedStats, Metrics, format_snapshot, write_snapshot
from edgeface.feeds.queueing import Frame, FrameQueue
from edgeface.feeds.sources import FeedReader, Opener

_POLL_S = 0.1  # longest sleep while every queue is empty: how soon stop() and reports are seen


def log_to_stderr(line: str) -> None:
    """The default log: stderr, so that stdout can carry events."""
    print(line, file=sys.stderr, flush=True)


@dataclass
class Batch:
    """What one round of the processor produced."""

    records: list[dict]
    snapshot: dict | None = None  # the metrics, when a report is due (and on the final batch)
    final: bool = False


@dataclass
class _Feed:
    config: FeedConfig
    queue: FrameQueue
    stats: FeedStats
    reader: FeedReader
    video: object  # edgeface.video.VideoAnalyzer
    finished: bool = False
    last_ms: float | None = None  # the last processed frame's timestamp


class FeedProcessor:
    """Runs ``feeds`` with ``analyzer``; ``openers`` (feed id -> callable returning an
    iterable of ``(timestamp_ms, frame)``) replaces how a source is opened, for tests."""

    def __init__(self, analyzer, feeds: Sequence[FeedConfig], config: FeedsConfig,
                 openers: dict[str, Opener] | None = None, log: Callable[[str], None] = log_to_stderr):
        from edgeface.video import VideoAnalyzer, VideoOptions

        self.log = log
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self.metrics = Metrics([f.id for f in feeds])
        options = VideoOptions(detect_every=config.detect_every, **config.video)
        openers = openers or {}
        self.feeds: list[_Feed] = []
        for feed in feeds:
            queue = FrameQueue(config.queue_size, self._wake)
            stats = self.metrics.feeds[feed.id]
            reader = FeedReader(feed, queue, stats, config.reconnect, self.stop_event, openers.get(feed.id), log)
            self.feeds.append(_Feed(feed, queue, stats, reader, VideoAnalyzer(analyzer, options)))

    def run(self, duration_s: float | None = None, report_every_s: float = 0.0) -> Iterator[Batch]:
        """Start the readers and process until every feed has ended, ``duration_s`` has
        passed, ``stop()`` is called or Ctrl-C; yields each round's events (and a metrics
        snapshot every ``report_every_s``), then a final batch with the tracks still open
        ended and the final metrics."""
        for feed in self.feeds:
            feed.reader.start()
        now = time.monotonic()
        deadline = now + duration_s if duration_s else math.inf
        next_report = now + report_every_s if report_every_s else math.inf
        try:
            try:
                while not self.stop_event.is_set() and not self.done and time.monotonic() < deadline:
                    records = self.poll()
                    snapshot = None
                    if time.monotonic() >= next_report:
                        snapshot, next_report = self.snapshot(), next_report + report_every_s
                    if records or snapshot:
                        yield Batch(records, snapshot)
            except KeyboardInterrupt:
                self.log("interrupted: ending the open tracks and writing the metrics")
            self._stop_readers()
            records = [r for feed in self.feeds if not feed.finished for r in self._finish(feed)]
            yield Batch(records, self.snapshot(), final=True)
        finally:
            self._stop_readers()

    def stop(self) -> None:
        """Ask ``run`` to end (from another thread)."""
        self.stop_event.set()
        self._wake.set()

    @property
    def done(self) -> bool:
        """Every feed's source has ended and its frames are processed."""
        return all(feed.finished for feed in self.feeds)

    def poll(self, timeout_s: float = _POLL_S) -> list[dict]:
        """One round: the oldest queued frame of each feed, processed; waits up to
        ``timeout_s`` for a frame when no queue has one."""
        self._wake.clear()
        records: list[dict] = []
        busy = False
        for feed in self.feeds:
            if feed.finished:
                continue
            frame = feed.queue.get_nowait()
            if frame is not None:
                busy = True
                records += self._process(feed, frame)
            elif feed.queue.finished:
                records += self._finish(feed)
        if not busy and not records:
            self._wake.wait(timeout_s)
        return records

    def snapshot(self) -> dict:
        return self.metrics.snapshot({feed.config.id: feed.queue.dropped for feed in self.feeds})

    def _process(self, feed: _Feed, frame: Frame) -> list[dict]:
        cpu = time.thread_time()
        result = feed.video.process(frame.image, frame.timestamp_ms)
        latency_ms = (time.monotonic() - frame.arrived) * 1000.0
        feed.last_ms = frame.timestamp_ms
        stats = feed.stats
        stats.process_cpu_s += time.thread_time() - cpu
        stats.frames_out += 1
        stats.frame_latency.add(latency_ms)
        for _ in result.events:
            stats.event_latency.add(latency_ms)
        stats.events += len(result.events)
        return [event_record(feed.config.id, event, latency_ms) for event in result.events]

    def _finish(self, feed: _Feed) -> list[dict]:
        """End the feed's open tracks (its source ended, or the processor stops)."""
        feed.finished = True
        events = feed.video.finish(feed.last_ms)
        feed.stats.events += len(events)
        return [event_record(feed.config.id, event, None) for event in events]

    def _stop_readers(self) -> None:
        self.stop_event.set()
        for feed in self.feeds:
            if feed.reader.is_alive():
                feed.reader.join(timeout=5.0)


def load_analyzer(config: FeedsConfig, gallery=None):
    """The ``FaceAnalyzer`` for ``config``: its bundle and threads, and the watch-list
    (``gallery``, an ``edgeface.Gallery``; else the config's gallery file, if any)."""
    from edgeface.analyzer import FaceAnalyzer

    if config.bundle is None:
        raise FeedsConfigError(f"{config.source}: bundle: missing: give a bundle path (the edgeface CLI "
                               f"uses the cached default bundle when there is none)")
    # one pass per detection frame: a tiled search (FaceAnalyzerOptions.search) costs about
    # a hundred passes on a 1280x960 frame with no large face in it
    analyzer = FaceAnalyzer.create_from_bundle(config.bundle, num_threads=config.threads, search="whole")
    if gallery is None and config.gallery is not None:
        gallery = open_watch_list(config.gallery)
    if gallery is not None:
        analyzer.use_gallery(gallery)
    return analyzer


def open_watch_list(location: str | Path):
    """The gallery file or Milvus URI ``location``, which must exist (an empty watch-list
    is a mistake). A Milvus gallery reaches Ray actors as its URI, so every node searches
    the one watch list, enrolments made while the feeds run included."""
    from edgeface.errors import GalleryError
    from edgeface.gallery import Gallery
    from edgeface.gallery.service_uri import is_service_uri

    if not is_service_uri(location) and not Path(location).is_file():
        raise GalleryError(f"{location}: no such gallery (the config's 'gallery'): enroll the watch-list first "
                           f"(edgeface enroll NAME IMAGE... --gallery {location})")
    return Gallery.open(location)


def serve_feeds(config: FeedsConfig, callbacks: Iterable[EventCallback] = (),
                log: Callable[[str], None] = log_to_stderr) -> dict:
    """Run every feed of ``config`` to the end (or ``duration_s``, or Ctrl-C): here, or
    on Ray actors when ``ray.enabled``. Events go to the JSON-lines file ``events`` and to
    each callback; metrics are logged every ``metrics_every_s`` and at the end, and
    written to ``metrics``. Returns the final metrics snapshot."""
    sink = JsonlSink(config.events) if config.events is not None else None
    handlers = [*([sink] if sink else []), *callbacks]  # the file first: a failing callback loses nothing
    try:
        if config.ray.enabled:
            from edgeface.feeds.ray_scale import run_on_ray

            batches = run_on_ray(config, log)
        else:
            processor = FeedProcessor(load_analyzer(config), config.feeds, config, log=log)
            batches = processor.run(config.duration_s, config.metrics_every_s)
        final = None
        for batch in batches:
            dispatch(batch.records, handlers)
            if batch.snapshot is not None:
                log(format_snapshot(batch.snapshot))
            if batch.final:
                final = batch.snapshot
    finally:
        if sink is not None:
            sink.close()
    if config.metrics is not None:
        write_snapshot(config.metrics, final)
    return final
