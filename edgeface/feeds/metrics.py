"""Per-feed counters and latencies, and the JSON snapshot they are reported as.

A snapshot is a plain dict (so Ray actors can send theirs to the driver, where
``merge_snapshots`` joins them): per feed the frames in (arrived from the source) and out
(processed), drops, reconnects, events, the CPU time spent decoding (or generating)
frames on the reader thread and processing them on the processor thread, and two latencies measured from each frame's arrival: until it was processed
(``frame_latency_ms``) and until an event from it was emitted (``event_latency_ms``).
``cpu_cores`` is process CPU time over wall time: 1.0 is one core kept busy. (FFmpeg's
own decoding threads count in the process's CPU time but not in ``decode_cpu_s``, which
is the reader threads' own.)
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_RECENT = 4096  # latency samples kept for the percentiles


class Latency:
    """Count, mean and max of every sample; p50/p95 of the latest ``_RECENT``."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.recent: deque[float] = deque(maxlen=_RECENT)

    def add(self, ms: float) -> None:
        self.count += 1
        self.total += ms
        self.max = max(self.max, ms)
        self.recent.append(ms)

    def summary(self) -> dict | None:
        if not self.count:
            return None
        p50, p95 = np.percentile(np.fromiter(self.recent, float), [50, 95])
        return {"count": self.count, "mean": round(self.total / self.count, 2), "p50": round(float(p50), 2),
                "p95": round(float(p95), 2), "max": round(self.max, 2)}


@dataclass
class FeedStats:
    """Written by one feed's reader thread (frames_in, decode, reconnects, state) and by
    the processor (frames_out, process CPU, events, latencies): each field has one writer."""

    frames_in: int = 0
    frames_out: int = 0
    reconnects: int = 0
    events: int = 0
    decode_cpu_s: float = 0.0
    process_cpu_s: float = 0.0
    state: str = "starting"  # running, reconnecting, ended, failed, stopped
    last_error: str | None = None
    frame_latency: Latency = field(default_factory=Latency)
    event_latency: Latency = field(default_factory=Latency)


class Metrics:
    """The stats of the feeds one process runs, and the process's CPU clock. Snapshots
    are taken on the processor's thread, the only one that adds latency samples."""

    def __init__(self, feed_ids: list[str]):
        self.feeds = {fid: FeedStats() for fid in feed_ids}
        self._wall0 = time.monotonic()
        self._cpu0 = time.process_time()

    def snapshot(self, dropped: dict[str, int]) -> dict:
        wall = max(time.monotonic() - self._wall0, 1e-9)
        cpu = time.process_time() - self._cpu0
        feeds = {}
        for fid, s in self.feeds.items():
            feeds[fid] = {
                "state": s.state, "frames_in": s.frames_in, "frames_out": s.frames_out,
                "dropped": dropped.get(fid, 0), "fps_in": round(s.frames_in / wall, 2),
                "fps_out": round(s.frames_out / wall, 2), "reconnects": s.reconnects, "events": s.events,
                "decode_cpu_s": round(s.decode_cpu_s, 3), "process_cpu_s": round(s.process_cpu_s, 3),
                "last_error": s.last_error,
                "frame_latency_ms": s.frame_latency.summary(), "event_latency_ms": s.event_latency.summary()}
        return _with_totals({"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "processes": 1, "feeds": feeds})


def merge_snapshots(snapshots: list[dict]) -> dict:
    """One snapshot from those of several processes running disjoint feeds: CPU adds up,
    wall time is the longest."""
    feeds = {fid: row for snap in snapshots for fid, row in snap["feeds"].items()}
    return _with_totals({"wall_s": max(s["wall_s"] for s in snapshots), "cpu_s": round(sum(s["cpu_s"] for s in snapshots), 3),
                         "processes": sum(s["processes"] for s in snapshots), "feeds": feeds})


def _with_totals(snap: dict) -> dict:
    rows = snap["feeds"].values()
    total = {key: sum(r[key] for r in rows) for key in ("frames_in", "frames_out", "dropped", "reconnects", "events")}
    wall = max(snap["wall_s"], 1e-9)
    total["fps_in"] = round(total["frames_in"] / wall, 2)
    total["fps_out"] = round(total["frames_out"] / wall, 2)
    for key in ("decode_cpu_s", "process_cpu_s"):
        total[key] = round(sum(r[key] for r in rows), 3)
    return {**snap, "cpu_cores": round(snap["cpu_s"] / wall, 3), "totals": total}


def format_snapshot(snap: dict) -> str:
    """A small fixed-width table, one line per feed, then the totals and CPU use."""
    def ms(lat: dict | None) -> str:
        return "-" if lat is None else f"{lat['p50']:.0f}/{lat['p95']:.0f}"

    lines = [f"{'feed':<16} {'state':<12} {'fps in':>7} {'fps out':>7} {'dropped':>8} {'reconn':>6} "
             f"{'events':>6} {'event ms p50/p95':>16}"]
    for fid, r in snap["feeds"].items():
        lines.append(f"{fid[:16]:<16} {r['state']:<12} {r['fps_in']:>7.1f} {r['fps_out']:>7.1f} {r['dropped']:>8} "
                     f"{r['reconnects']:>6} {r['events']:>6} {ms(r['event_latency_ms']):>16}")
    t = snap["totals"]
    lines.append(f"{'all':<16} {'':<12} {t['fps_in']:>7.1f} {t['fps_out']:>7.1f} {t['dropped']:>8} "
                 f"{t['reconnects']:>6} {t['events']:>6}")
    lines.append(f"wall {snap['wall_s']:.1f} s, CPU {snap['cpu_s']:.1f} s = {snap['cpu_cores']:.2f} cores over "
                 f"{snap['processes']} process(es), of which decoding {t['decode_cpu_s']:.1f} s, "
                 f"processing {t['process_cpu_s']:.1f} s")
    return "\n".join(lines)


def write_snapshot(path: Path, snap: dict) -> None:
    from edgeface.fsutil import write_json

    write_json(path, snap)
