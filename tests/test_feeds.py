"""The multi-feed processor (edgeface.feeds): bounded queues that drop under overload,
reconnects with back-off, watch-list events, the JSON-lines sink, config validation, the
CLI, and the same processor on two Ray actors of a local cluster.

Overload and reconnects use the fixture blob bundle and scripted sources (fast, exact);
identities use the default bundle (BlazeFace + dlib ResNet) on the real-face videos of
tests/video_fixtures.py and on ``synthetic:`` photo feeds.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgeface import FaceAnalyzer, Gallery
from edgeface.feeds.config import (MIN_RECONNECT_S, FeedConfig, FeedsConfigError, ReconnectConfig, load_config,
                                   parse_config)
from edgeface.feeds.events import JsonlSink
from edgeface.feeds.metrics import merge_snapshots
from edgeface.feeds.processor import FeedProcessor, load_analyzer, serve_feeds
from edgeface.feeds.queueing import Frame, FrameQueue
from edgeface.feeds.ray_scale import split_feeds
from edgeface.feeds.sources import reconnect_delay
from edgeface.feeds.synthetic import SyntheticSpec, face_still, synthetic_frames
from tests import video_fixtures as vf
from tests.conftest import FIXTURES
from tests.milvus_server import milvus_server
from tests.strategies import yaml_scalars

BLOB = FIXTURES / "blob_blazeface"
FAST_RECONNECT = ReconnectConfig(initial_s=0.02, max_s=0.1, factor=2.0, jitter=0.5)


def _config(feeds, **fields):
    """A validated config over ``feeds`` (FeedConfig objects) with the blob bundle."""
    base = parse_config({"feeds": [{"id": "placeholder", "source": "synthetic:faces=1"}], "bundle": str(BLOB),
                         **fields})
    return replace(base, feeds=tuple(feeds), reconnect=FAST_RECONNECT)


def _blob_analyzer():
    return FaceAnalyzer.create_from_bundle(BLOB)


def _run(processor, **kwargs) -> tuple[list[dict], dict]:
    records, final = [], None
    for batch in processor.run(**kwargs):
        records += batch.records
        final = batch.snapshot if batch.final else final
    return records, final


# ----------------------------------------------------------------- queue and overload

def test_queue_keeps_the_newest_frames_and_counts_drops():
    wake = threading.Event()
    queue = FrameQueue(3, wake)
    for i in range(100):
        queue.put(Frame(float(i), np.zeros((1, 1, 3), np.uint8), 0.0))
    assert len(queue) == 3 and queue.dropped == 97 and wake.is_set()
    assert [queue.get_nowait().timestamp_ms for _ in range(3)] == [97.0, 98.0, 99.0]
    assert queue.get_nowait() is None and not queue.finished
    queue.close()
    assert queue.finished


def test_put_wait_blocks_for_room_and_gives_up_on_stop():
    queue, stop = FrameQueue(1), threading.Event()
    frame = Frame(0.0, np.zeros((1, 1, 3), np.uint8), 0.0)
    assert queue.put_wait(frame, stop)
    threading.Timer(0.05, queue.get_nowait).start()
    assert queue.put_wait(frame, stop, poll_s=0.01) and queue.dropped == 0  # waited for the get
    stop.set()
    assert not queue.put_wait(frame, stop, poll_s=0.01)


def test_overload_drops_frames_instead_of_growing_memory(monkeypatch):
    """A feed producing far faster than the processor can go: the queue never holds more
    than queue_size frames, every frame is either processed or counted as dropped, and
    the newest frame is never the one dropped."""
    image = face_still("blob", "blob1", size=80)
    n = 400
    longest = []
    put = FrameQueue.put

    def watched_put(self, frame):
        dropped = put(self, frame)
        longest.append(len(self))
        return dropped

    monkeypatch.setattr(FrameQueue, "put", watched_put)
    feed = FeedConfig("flood", "synthetic:faces=1", realtime=True)
    stamps = [0.01 * i for i in range(n)]  # 100 000 fps: the reader never waits
    processed = []
    processor = FeedProcessor(_blob_analyzer(), [feed], _config([feed], queue_size=4, detect_every=1),
                              openers={"flood": lambda: ((t, image) for t in stamps)})
    original = processor._process
    processor._process = lambda f, frame: processed.append(frame.timestamp_ms) or original(f, frame)
    _, final = _run(processor)
    row = final["feeds"]["flood"]
    assert row["frames_in"] == n and row["dropped"] > n // 2
    assert row["frames_out"] + row["dropped"] == n and row["frames_out"] == len(processed)
    assert max(longest) == 4
    assert processed[-1] == pytest.approx(stamps[-1]) and processed == sorted(processed)


# --------------------------------------------------------------------------- reconnects

def test_reconnect_delay_is_exponential_capped_and_jittered():
    cfg = ReconnectConfig(initial_s=0.5, max_s=4.0, factor=2.0, jitter=0.25)
    rng = random.Random(0)
    for attempt, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [reconnect_delay(cfg, attempt, rng) for _ in range(50)]
        assert all(0.75 * full <= d <= full for d in delays) and len(set(delays)) > 1
    assert reconnect_delay(replace(cfg, jitter=0.0), 3, rng) == 2.0


def test_dead_feed_is_reconnected_while_the_other_keeps_running():
    """'flaky' raises after 8 frames on every connection; 'steady' must not notice."""
    image = face_still("blob", "blob1", size=80)
    opens = []

    def flaky():
        opens.append(time.monotonic())
        for i in range(8):
            yield 40.0 * i, image  # each connection restarts its clock at 0
        raise ConnectionError("camera went away")

    feeds = [FeedConfig("flaky", "rtsp://camera.invalid/stream"), FeedConfig("steady", "synthetic:faces=1,style=blob")]
    logs = []
    processor = FeedProcessor(_blob_analyzer(), feeds, _config(feeds), openers={"flaky": flaky}, log=logs.append)
    stamps = []
    original = processor._process
    processor._process = lambda f, frame: (f.config.id == "flaky" and stamps.append(frame.timestamp_ms)) or original(f, frame)
    _, final = _run(processor, duration_s=2.0)
    flaky_row, steady = final["feeds"]["flaky"], final["feeds"]["steady"]
    assert len(opens) >= 3 and len(opens) - 1 <= flaky_row["reconnects"] <= len(opens)  # maybe one pending
    assert 8 * (len(opens) - 1) <= flaky_row["frames_in"] <= 8 * len(opens)
    assert "camera went away" in flaky_row["last_error"]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))  # the feed's clock goes on across reconnects
    assert any("flaky: ConnectionError: camera went away; reconnecting in" in line for line in logs)
    assert steady["reconnects"] == 0 and steady["dropped"] == 0 and steady["frames_out"] >= 40
    assert steady["state"] == "stopped"


def test_stream_that_never_opens_gives_up_and_a_broken_file_is_not_replayed():
    image = face_still("blob", "blob1", size=80)

    def refused():
        raise OSError("connection refused")

    def corrupt():
        for i in range(3):
            yield 40.0 * i, image
        raise ValueError("invalid data in packet")

    feeds = [FeedConfig("camera", "rtsp://camera.invalid/stream"),
             FeedConfig("corrupt", "synthetic:faces=1", realtime=False),
             FeedConfig("short", "synthetic:faces=1,seconds=0.4,style=blob", realtime=False)]
    config = replace(_config(feeds), reconnect=replace(FAST_RECONNECT, max_attempts=3))
    logs = []
    processor = FeedProcessor(_blob_analyzer(), feeds, config, openers={"camera": refused, "corrupt": corrupt},
                              log=logs.append)
    _, final = _run(processor, duration_s=30.0)  # ends long before: every feed is over
    rows = final["feeds"]
    assert final["wall_s"] < 10
    assert rows["camera"]["state"] == "failed" and rows["camera"]["reconnects"] == 3
    assert rows["camera"]["last_error"] == "OSError: connection refused; gave up after 3 reconnect attempts"
    assert rows["corrupt"]["state"] == "failed" and rows["corrupt"]["reconnects"] == 0
    assert rows["corrupt"]["frames_out"] == 3 and "invalid data" in rows["corrupt"]["last_error"]
    assert rows["short"] == {**rows["short"], "state": "ended", "frames_out": 10, "dropped": 0}
    assert "feed corrupt: ValueError: invalid data in packet" in logs


# ------------------------------------------------------------------ identities and sink

@pytest.fixture(scope="module")
def watch_list(default_bundle, tmp_path_factory):
    """The two faces of the video fixtures, and the three of the synthetic photo feeds."""
    path = tmp_path_factory.mktemp("feeds-gallery") / "watch.efg"
    return vf.enrolled_gallery(default_bundle, path, {"lfw18": [face_still("photo", "lfw18")]})


def test_identity_events_for_a_video_file_with_enrolled_faces(tmp_path, default_bundle, watch_list):
    """The crossing video (astronaut above, LFW 20 below) as an .mp4 file feed, read in
    full: each face gets one track, started, matched to its name, and ended at the end."""
    vf.write_mp4(vf.crossing_video(), tmp_path / "crossing.mp4")
    config = load_config(_write_yaml(tmp_path / "feeds.yaml", {
        "bundle": str(default_bundle), "gallery": str(watch_list), "events": "out/events.jsonl",
        "metrics": "out/metrics.json", "feeds": [{"id": "door", "source": "crossing.mp4"}]}))
    seen = []
    final = serve_feeds(config, callbacks=[seen.append], log=lambda _: None)
    records = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert records == seen
    by_kind = {kind: [r for r in records if r["kind"] == kind] for kind in ("track_started", "identity_matched", "track_ended")}
    assert len(by_kind["track_started"]) == len(by_kind["track_ended"]) == 2
    matched = {r["identity"]: r for r in by_kind["identity_matched"]}
    assert sorted(matched) == ["astronaut", "lfw20"] and len(by_kind["identity_matched"]) == 2
    centre_y = {name: (r["bbox"][1] + r["bbox"][3]) / 2 for name, r in matched.items()}
    assert centre_y["astronaut"] < 235 < centre_y["lfw20"]  # each name on the right face
    assert all(r["similarity"] >= 0.905 and r["latency_ms"] >= 0 for r in matched.values())
    assert {r["track_id"] for r in by_kind["track_ended"]} == {r["track_id"] for r in matched.values()}
    assert all(r["timestamp_ms"] == pytest.approx(1960.0) and r["latency_ms"] is None for r in by_kind["track_ended"])
    assert final["feeds"]["door"]["frames_out"] == 50 and final["feeds"]["door"]["dropped"] == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == final


def test_watch_list_object_goes_through_use_gallery():
    """load_analyzer gives a Gallery object (as Ray ships it) to the analyzer with
    FaceAnalyzer.use_gallery, which refuses one of another embedding size, or anything
    but a Gallery, with a one-line error."""
    from edgeface.errors import BundleError, EdgefaceError

    config = _config([FeedConfig("a", "synthetic:faces=1")])
    watch = Gallery(128)  # the blob bundle's embedding size
    analyzer = load_analyzer(config, watch)
    assert analyzer.gallery is watch
    with pytest.raises(EdgefaceError, match=r"^the gallery holds 64-d templates but this model embeds 128-d: "
                                            r"use a gallery made with the same model$"):
        load_analyzer(config, Gallery(64))
    with pytest.raises(EdgefaceError, match=r"expected an edgeface.Gallery, got PosixPath: for a gallery file "
                                            r"or URI use open_gallery\(PATH\)"):
        analyzer.use_gallery(Path("watch.efg"))
    assert analyzer.gallery is watch
    with pytest.raises(BundleError, match="this bundle has no embedder"):
        FaceAnalyzer.create_from_bundle(BLOB.parent / "blob_detector_only").use_gallery(watch)


def test_jsonl_sink_flushes_each_event_and_appends(tmp_path):
    path = tmp_path / "deep" / "events.jsonl"
    with JsonlSink(path) as sink:
        sink({"feed": "a", "kind": "track_started"})
        assert json.loads(path.read_text()) == {"feed": "a", "kind": "track_started"}  # before close
    with JsonlSink(path) as sink:
        sink({"feed": "b", "kind": "track_ended"})
    assert [json.loads(line)["feed"] for line in path.read_text().splitlines()] == ["a", "b"]


def test_synthetic_source_spec_and_frames():
    spec = SyntheticSpec.parse("synthetic:faces=3,seconds=0.2,fps=10,size=320x240,style=blob,seed=7")
    frames = list(synthetic_frames(spec))
    assert [t for t, _ in frames] == [0.0, 100.0] and frames[0][1].shape == (240, 320, 3)
    assert spec.names == ("blob1", "blob2", "blob3") and spec.sprite_size == 72  # 240 / 3 lanes - 8
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        SyntheticSpec.parse("synthetic:colour=red")
    with pytest.raises(ValueError, match="faces must be 1..3 for style=photo"):
        SyntheticSpec.parse("synthetic:faces=4")


# --------------------------------------------------------------------------- the config

def _write_yaml(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


GOOD_FEED = {"id": "a", "source": "synthetic:faces=1"}


@pytest.mark.parametrize("data, field, message", [
    ("feeds: [", "", "not valid YAML at line 1, column 9: expected the node content"),
    ({"bundle": "b"}, "feeds", "expected a non-empty list of feeds"),
    ({"feeds": [GOOD_FEED, {"id": "b"}]}, "feeds[1].source", "is required but missing"),
    ({"feeds": [GOOD_FEED, {"id": "b", "source": 3}]}, "feeds[1].source", "expected a string, got 3"),
    ({"feeds": [GOOD_FEED, dict(GOOD_FEED)]}, "feeds[1].id", "used by an earlier feed"),
    ({"feeds": [{"id": "a b", "source": "x"}]}, "feeds[0].id", "not a usable id"),
    ({"feeds": [{"id": "a", "source": "missing.mp4"}]}, "feeds[0].source", "is not a video file"),
    ({"feeds": [{"id": "a", "source": "synthetic:faces=many"}]}, "feeds[0].source", "cannot read 'faces=many'"),
    ({"feeds": [{**GOOD_FEED, "realtime": "yes"}]}, "feeds[0].realtime", "expected true or false"),
    ({"feeds": [GOOD_FEED], "queue_size": 0}, "queue_size", "must be >= 1"),
    ({"feeds": [GOOD_FEED], "queue_sise": 4}, "queue_sise", "unknown field: use one of feeds, bundle"),
    ({"feeds": [GOOD_FEED], "detect_every": 2.5}, "detect_every", "expected an integer"),
    ({"feeds": [GOOD_FEED], "duration_s": -1}, "duration_s", "must be >= 0"),
    ({"feeds": [GOOD_FEED], "reconnect": {"initial_s": 5, "max_s": 1}}, "reconnect.max_s", "must be >= initial_s"),
    ({"feeds": [GOOD_FEED], "reconnect": {"jitter": 2}}, "reconnect.jitter", "must be <= 1.0"),
    ({"feeds": [GOOD_FEED], "ray": {"actors": 0}}, "ray.actors", "must be >= 1"),
    ({"feeds": [GOOD_FEED], "ray": {"address": "auto", "num_cpus": 2}}, "ray.num_cpus", "sizes a local cluster"),
    ({"feeds": [GOOD_FEED], "ray": {"adress": "auto"}}, "ray.adress", "unknown field"),
    ({"feeds": [GOOD_FEED], "video": {"min_iou": 2.0}}, "video", "VideoOptions.min_iou=2.0"),
    ({"feeds": [GOOD_FEED], "video": {"min_io": 0.5}}, "video.min_io", "unknown field"),
])
def test_config_errors_name_the_field(tmp_path, data, field, message):
    path = _write_yaml(tmp_path / "feeds.yaml", data)
    with pytest.raises(FeedsConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {field}{': ' if field else ''}"), text
    assert message in text and "\n" not in text


@pytest.mark.parametrize("data, field, message", [
    ({"reconnect": {"initial_s": 0, "max_s": 0}}, "reconnect.initial_s", "must be >= 0.05"),
    ({"reconnect": {"max_s": 0.01}}, "reconnect.max_s", "must be >= 0.05"),
    ({"reconnect": {"factor": 1e300}}, "reconnect.factor", "must be <= 10.0"),
    ({"reconnect": {"initial_s": float("nan")}}, "reconnect.initial_s", "expected a finite number, got nan"),
    ({"ray": {"actors": 10**9}}, "ray.actors", "must be <= 1024"),
    ({"ray": {"num_cpus": 10**9}}, "ray.num_cpus", "must be <= 4096"),
    ({"ray": {"cpus_per_actor": 1e9}}, "ray.cpus_per_actor", "must be <= 256.0"),
    ({"video": {"min_iou": "abc"}}, "video.min_iou", "expected a finite number, got 'abc'"),
    ({"video": {"smooth": "no"}}, "video.smooth", "expected true or false, got 'no'"),
    ({"video": {"max_summaries": 1.5}}, "video.max_summaries", "expected an integer, got 1.5"),
    ({"video": {"color": 5}}, "video.color", "expected a string, got 5"),
    ({"video": {"lost_after_ms": float("inf")}}, "video.lost_after_ms", "expected a finite number"),
    ({"video": {"lost_after_ms": 1e300}}, "video", "lost_after_ms=1e+300: must be in (0.0, 3600000.0]"),
    ({"video": {"max_summaries": 10**12}}, "video", "max_summaries=1000000000000: must be an integer >= 0 and <= 1000000"),
    ({"detect_every": 10**12}, "detect_every", "must be <= 1000"),
    ({1: 2, "b": 3}, "1", "unknown field"),
    ({"feeds": [{"id": "x" * 100_000, "source": "synthetic:faces=1"}]}, "feeds[0].id", "'xxxx"),
    ({"feeds": [{"id": "a", "source": "synthetic:" + "y" * 100_000}]}, "feeds[0].source", "cannot read"),
    ({"bundle": "x" * 1000, "b" * 1000: 1}, "'bbbb", "...: unknown field"),
    ({"events": "runs/a\0b.jsonl"}, "events", "cannot contain a NUL character"),
])
def test_config_sizes_delays_and_video_types_are_checked_by_name(data, field, message):
    data = {"feeds": [GOOD_FEED], **data}
    with pytest.raises(FeedsConfigError) as info:
        parse_config(data, "feeds.yaml")
    text = str(info.value)
    assert text.startswith(f"feeds.yaml: {field}") and message in text, text
    assert "\n" not in text and len(text) < 300, text


def test_every_user_field_is_documented_and_the_source_is_not_one():
    """The config is the shared documented-field kind (edgeface.configfields): each field a
    user may set carries its help; ``source`` is set by the reader, never by the file."""
    import dataclasses

    from edgeface.configfields import render
    from edgeface.feeds.config import FeedsConfig, RayConfig

    for cls in (FeedsConfig, FeedConfig, ReconnectConfig, RayConfig):
        assert all(f.metadata.get("doc") for f in dataclasses.fields(cls) if f.name != "source" or cls is FeedConfig)
    assert "  jitter: 0.3  # " in "\n".join(render(FeedsConfig()))
    with pytest.raises(FeedsConfigError, match="feeds.yaml: source: unknown field"):
        parse_config({"feeds": [GOOD_FEED], "source": "elsewhere"}, "feeds.yaml")


def test_too_many_feeds_are_refused():
    feeds = [{"id": f"cam{i}", "source": "synthetic:faces=1"} for i in range(2000)]
    with pytest.raises(FeedsConfigError, match="feeds: 2000 feeds: at most 1024"):
        parse_config({"feeds": feeds}, "feeds.yaml")


def test_reconnect_delay_has_a_floor_and_survives_a_day_of_attempts():
    rng = random.Random(1)
    cfg = ReconnectConfig(initial_s=0.05, max_s=0.05, factor=1.0, jitter=1.0)
    assert min(reconnect_delay(cfg, 1, rng) for _ in range(1000)) >= MIN_RECONNECT_S
    # a camera down for hours: factor ** attempt passes a float's range, the cap holds
    assert reconnect_delay(ReconnectConfig(jitter=0.0), 5000, rng) == 30.0


# (field, lowest accepted, highest accepted); max_s is bounded below by initial_s (default 0.5)
NUMERIC = [("threads", 1, 64), ("detect_every", 1, 1000), ("queue_size", 1, 10_000),
           ("metrics_every_s", 0.0, 86_400.0), ("duration_s", 0.0, 366 * 86_400.0),
           ("reconnect.initial_s", 0.05, 3600.0), ("reconnect.max_s", 0.5, 86_400.0),
           ("reconnect.factor", 1.0, 10.0), ("reconnect.jitter", 0.0, 1.0), ("reconnect.max_attempts", 1, 10**6),
           ("ray.actors", 1, 1024), ("ray.cpus_per_actor", 0.0, 256.0), ("ray.num_cpus", 1, 4096),
           ("video.min_iou", math.ulp(0.0), 1.0), ("video.lost_after_ms", math.ulp(0.0), 3_600_000.0),
           ("video.max_summaries", 0, 1_000_000), ("video.retry_unknown_every", 1, 10_000)]


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(NUMERIC), value=yaml_scalars)
def test_random_values_in_numeric_fields_are_accepted_in_range_or_refused_by_name(field, value):
    name, lo, hi = field
    section, _, key = name.rpartition(".")
    data = {"feeds": [GOOD_FEED], **({section: {key: value}} if section else {key: value})}
    try:
        config = parse_config(data, "feeds.yaml")
    except FeedsConfigError as exc:
        text = str(exc)
        assert text.startswith(f"feeds.yaml: {section or name}"), text  # a section's rule may name a sibling
        assert "\n" not in text and len(text) < 300, text
        return
    got = config.video.get(key) if section == "video" else getattr(getattr(config, section) if section else config, key)
    assert value is None or (got == value and lo <= got <= hi and not isinstance(value, bool))


def test_config_defaults_and_relative_paths(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"")
    config = load_config(_write_yaml(tmp_path / "feeds.yaml", {
        "gallery": "people.efg", "events": "out/e.jsonl",
        "feeds": [{"id": "door", "source": "clip.mp4"}, {"id": "cam", "source": "rtsp://10.0.0.7/s1"}]}))
    assert config.gallery == str(tmp_path / "people.efg") and config.events == tmp_path / "out" / "e.jsonl"
    assert [f.source for f in config.feeds] == [str(tmp_path / "clip.mp4"), "rtsp://10.0.0.7/s1"]
    uri = "milvus://10.0.0.5:19530?collection=watch"  # a watch list in Milvus is not a relative path
    assert parse_config({"gallery": uri, "feeds": [{"id": "cam", "source": "rtsp://10.0.0.7/s1"}]},
                        base=tmp_path).gallery == uri
    assert (config.bundle, config.detect_every, config.queue_size, config.duration_s) == (None, 5, 4, None)
    assert not config.ray.enabled and config.ray.address is None and config.reconnect.max_attempts is None


def test_cli_runs_a_config_and_bad_input_is_one_line(tmp_path):
    from edgeface.cli.app import app

    path = _write_yaml(tmp_path / "feeds.yaml", {
        "bundle": str(BLOB), "metrics_every_s": 0,
        "feeds": [{"id": "a", "source": "synthetic:faces=2,seconds=0.8,style=blob", "realtime": False}]})
    result = CliRunner().invoke(app, ["serve-feeds", str(path), "--json"])
    assert result.exit_code == 0, result.output
    stdout = result.stdout.splitlines()
    events = [json.loads(line) for line in stdout if line.startswith('{"feed"')]  # no events file: stdout
    assert {e["kind"] for e in events} == {"track_started", "track_ended"}
    metrics = json.loads("\n".join(line for line in stdout if not line.startswith('{"feed"')))
    assert metrics["feeds"]["a"]["frames_out"] == 20 and "fps in" in result.stderr

    _write_yaml(path, {"feeds": [{"id": "a", "source": "synthetic:faces=1"}], "queue_size": -1})
    bad = CliRunner().invoke(app, ["serve-feeds", str(path)])
    assert bad.exit_code == 2 and bad.stderr.strip() == f"error: {path}: queue_size: must be >= 1, got -1"


def test_cli_exits_with_a_user_error_when_every_feed_failed(tmp_path):
    from edgeface.cli.app import app

    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    feeds = [{"id": "door", "source": "broken.mp4"}, {"id": "lobby", "source": "broken.mp4"}]
    path = _write_yaml(tmp_path / "feeds.yaml", {"bundle": str(BLOB), "metrics_every_s": 0, "feeds": feeds,
                                                 "reconnect": {"max_attempts": 1, "initial_s": 0.05, "max_s": 0.05}})
    result = CliRunner().invoke(app, ["serve-feeds", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1].startswith("error: every feed failed (door: "), result.stderr

    good = {"id": "synthetic", "source": "synthetic:faces=1,seconds=0.2,style=blob", "realtime": False}
    _write_yaml(path, {"bundle": str(BLOB), "metrics_every_s": 0, "feeds": [*feeds, good],
                       "reconnect": {"max_attempts": 1, "initial_s": 0.05, "max_s": 0.05}})
    assert CliRunner().invoke(app, ["serve-feeds", str(path)]).exit_code == 0, "one working feed is a run"


def test_import_stays_light():
    code = ("import sys, edgeface.feeds.processor, edgeface.feeds.ray_scale, edgeface.cli.feeds; "
            "print(sorted(m for m in ('av', 'ray', 'cv2', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------------- Ray

def test_split_feeds_and_merge_snapshots():
    assert split_feeds(["a", "b", "c"], 2) == [["a", "c"], ["b"]]
    assert split_feeds(["a"], 4) == [["a"]]
    row = {"frames_in": 10, "frames_out": 8, "dropped": 2, "reconnects": 0, "events": 1, "decode_cpu_s": 0.5,
           "process_cpu_s": 1.0}
    merged = merge_snapshots([{"wall_s": 2.0, "cpu_s": 1.0, "processes": 1, "feeds": {"a": row}},
                              {"wall_s": 4.0, "cpu_s": 3.0, "processes": 1, "feeds": {"b": row}}])
    assert (merged["wall_s"], merged["cpu_s"], merged["cpu_cores"], merged["processes"]) == (4.0, 4.0, 1.0, 2)
    assert merged["totals"]["frames_out"] == 16 and merged["totals"]["fps_out"] == 4.0


@pytest.mark.slow
@pytest.mark.parametrize("store", ["file", "milvus"])
def test_two_ray_actors_on_a_local_cluster(tmp_path, default_bundle, watch_list, store):
    """Three synthetic photo feeds on 2 actors: every feed runs, the watch-list (shipped
    once through the object store: a copy of a file, or the address of a Milvus
    collection that every actor connects to) names the faces, events reach the driver's
    sink."""
    with contextlib.ExitStack() as stack:
        gallery = str(watch_list)
        if store == "milvus":
            gallery = stack.enter_context(milvus_server(tmp_path / "milvus")) + "?collection=watch"
            source = Gallery.open(watch_list)
            target = Gallery.open(gallery, source.dim, embedder=source.embedder)
            for name, _ in source.identities():
                target.enroll(name, source.templates(name))
        _run_two_ray_actors(tmp_path, default_bundle, gallery)


def _run_two_ray_actors(tmp_path, default_bundle, gallery):
    config = load_config(_write_yaml(tmp_path / "feeds.yaml", {
        "bundle": str(default_bundle), "gallery": gallery, "events": "events.jsonl",
        "metrics": "metrics.json", "metrics_every_s": 1.0,
        # seeds with every face in full view from the first frame, so each is named at once
        "feeds": [{"id": f"cam{i}", "source": f"synthetic:faces={i},seconds=3,seed={seed}"}
                  for i, seed in ((1, 0), (2, 5), (3, 12))],
        "ray": {"enabled": True, "actors": 2, "num_cpus": 2}}))
    logs = []
    final = serve_feeds(config, log=logs.append)
    assert any(line.startswith("ray: 2 actors: cam1, cam3; cam2") for line in logs)
    assert final["processes"] == 2 and set(final["feeds"]) == {"cam1", "cam2", "cam3"}
    for i in (1, 2, 3):
        row = final["feeds"][f"cam{i}"]
        assert row["state"] == "ended" and row["frames_in"] == 75 and row["frames_out"] + row["dropped"] == 75
    records = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    named = {(r["feed"], r["identity"]) for r in records if r["kind"] == "identity_matched"}
    expected = {("cam1", "astronaut"), ("cam2", "astronaut"), ("cam2", "lfw20"),
                ("cam3", "astronaut"), ("cam3", "lfw20"), ("cam3", "lfw18")}
    assert named == expected
    started = [r for r in records if r["kind"] == "track_started"]
    assert len(started) == sum(r["kind"] == "track_ended" for r in records)
    assert json.loads((tmp_path / "metrics.json").read_text()) == final


def test_bundle_shipped_to_ray_actors_holds_only_the_checked_bundle_files(bundle_copy, tmp_path):
    """The object-store copy of a directory bundle is built from the manifest through the
    bundle's own checks: a link to a file outside the bundle, or a stray file, never travels."""
    import io
    import zipfile

    from edgeface.bundle import load_bundle
    from edgeface.feeds.ray_scale import bundle_bytes
    from edgeface.signing import SigningKey, sign_bundle

    folder = bundle_copy()
    key = SigningKey.generate()
    sign_bundle(folder, key)
    (tmp_path / "secret.txt").write_text("outside the bundle")
    (folder / "stray.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "notes.txt").write_text("not named by the manifest")
    data = bundle_bytes(folder)
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert names == {"manifest.json", "manifest.json.sig", *(s.file for s in load_bundle(folder).specs())}
    (tmp_path / "shipped.zip").write_bytes(data)
    assert load_bundle(tmp_path / "shipped.zip", trusted_keys=[key.public_key()]).signed_by == key.public_key()
