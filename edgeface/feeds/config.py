"""The ``edgeface serve-feeds`` YAML config, validated field by field.

Every mistake becomes one ``FeedsConfigError`` naming the file and the field, e.g.
``feeds.yaml: feeds[1].source: expected a string, got 3``. Relative paths are taken
relative to the config file, so a config runs the same from any working directory.

    bundle: bundles/default          # optional: else the cached default bundle
    gallery: people.efg              # the watch-list (optional: tracks without names)
    detect_every: 5
    queue_size: 4
    events: runs/events.jsonl
    metrics: runs/metrics.json
    feeds:
      - {id: door, source: "rtsp://10.0.0.7/stream1"}
      - {id: demo, source: "synthetic:faces=2,seconds=20"}
    ray: {enabled: true, actors: 2}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeface.configfields import MISSING, Checker, Range, build, check_value, doc, section
from edgeface.errors import EdgefaceError, clip, show, show_name
from edgeface.gallery.service_uri import is_service_uri

FEED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_FEEDS = 1024  # one reader thread and one frame queue each
MIN_RECONNECT_S = 0.05  # the shortest wait before reopening a feed: a dead source is not hammered


class FeedsConfigError(EdgefaceError):
    """The feeds config file is missing, not YAML, or has a field with a bad value."""


@dataclass(frozen=True)
class ReconnectConfig:
    """Back-off between attempts to reopen a feed: ``initial_s * factor ** (n - 1)``
    capped at ``max_s``, then shortened by up to ``jitter`` of itself at random so that
    feeds that died together do not all knock again at once."""

    initial_s: float = doc(0.5, "First wait before reopening a feed, in seconds.", lo=MIN_RECONNECT_S, hi=3600.0)
    max_s: float = doc(30.0, "Longest wait, in seconds (at least initial_s).", lo=MIN_RECONNECT_S, hi=86_400.0)
    factor: float = doc(2.0, "Each wait is the last one times this.", lo=1.0, hi=10.0)
    jitter: float = doc(0.3, "Each wait is shortened by up to this fraction of itself, at random.", lo=0.0, hi=1.0)
    max_attempts: int | None = doc(None, "Attempts before a feed is given up; null: forever.", lo=1, hi=1_000_000)


@dataclass(frozen=True)
class FeedConfig:
    id: str = doc(MISSING, "The feed's name in events and metrics: letters, digits, '_', '-' or '.'.")
    source: str = doc(MISSING, "A video file, a camera (/dev/video0), a stream URL (rtsp://...) or synthetic:...")
    realtime: bool | None = doc(None, "true: frames arrive at their timestamps, as from a camera (and are dropped "
                                      "when processing falls behind); false: a file is read as fast as it is "
                                      "processed, no frame dropped; null: true, except for a video file.")


@dataclass(frozen=True)
class RayConfig:
    enabled: bool = doc(False, "Run the feeds on a Ray cluster.")
    address: str | None = doc(None, "null: start a local cluster; 'auto' or 'ray://...': join one.")
    actors: int = doc(2, "Ray actors running the models.", lo=1, hi=MAX_FEEDS)
    cpus_per_actor: float = doc(1.0, "CPUs each actor reserves.", lo=0.0, hi=256.0)
    num_cpus: int | None = doc(None, "CPUs of the local cluster; null: Ray counts them.", lo=1, hi=4096)


@dataclass(frozen=True)
class FeedsConfig:
    feeds: tuple[FeedConfig, ...] = doc((), "The feeds ({id, source} each).")
    bundle: Path | None = doc(None, "The bundle; null: the cached default bundle.")
    gallery: str | None = doc(None, "The watch-list: a gallery file, or a Milvus URI shared by every node "
                                    "(docs/gallery.md); null: tracks without names.")
    threads: int = doc(1, "Inference threads.", lo=1, hi=64)
    detect_every: int = doc(5, "Run the detector on every n-th frame (tracks follow the faces between).",
                            lo=1, hi=1000)
    queue_size: int = doc(4, "Frames queued per feed.", lo=1, hi=10_000)
    events: Path | None = doc(None, "Where the events are appended (JSON lines); null: none.")
    metrics: Path | None = doc(None, "Where the metrics are written (JSON); null: none.")
    metrics_every_s: float = doc(10.0, "Seconds between metrics; 0: only at the end.", lo=0.0, hi=86_400.0)
    duration_s: float | None = doc(None, "Seconds to run; null: until every source has ended.",
                                   lo=0.0, hi=366 * 86_400.0)
    reconnect: ReconnectConfig = section(ReconnectConfig, "Back-off between attempts to reopen a feed.")
    ray: RayConfig = section(RayConfig, "Running the feeds on a Ray cluster.")
    video: dict[str, Any] = doc({}, "More VideoOptions fields, by name.")
    source: str = field(default="<config>")  # where it was read from, for messages (not a user field)


class _Checker(Checker):
    """Range errors in the feeds' words: the bound that was crossed (``must be >= 1``)."""

    def out_of_range(self, where: str, limits: Range, value: Any) -> FeedsConfigError:
        bound = f">= {limits.lo}" if value < limits.lo else f"<= {limits.hi}"
        return self.fail(where, f"must be {bound}, got {show(value)}")


def load_config(path: str | Path) -> FeedsConfig:
    """Read and validate a feeds config file."""
    from edgeface.safe_yaml import load_yaml_file

    path = Path(path)
    try:
        data = load_yaml_file(path, FeedsConfigError)
    except FileNotFoundError:
        raise FeedsConfigError(f"{path}: no such config file: pass the path of a feeds YAML file "
                               f"(docs/feeds.md has an example)") from None
    return parse_config(data, str(path), base=path.parent)


def parse_config(data: Any, source: str = "<config>", base: Path = Path(".")) -> FeedsConfig:
    """Validate an already-parsed config mapping; relative paths are joined to ``base``."""
    checker = _Checker(FeedsConfigError, source)
    if isinstance(data, dict):
        _check_feed_count(data.get("feeds"), checker)
    config = build(FeedsConfig, data, checker)
    _check_reconnect(config.reconnect, checker)
    _check_ray(config.ray, checker)
    return replace(config, feeds=_feeds(config.feeds, base, checker), source=source,
                   video=_video_options(config.video, config.detect_every, checker),
                   gallery=_watch_list(base, config.gallery, checker),
                   **{key: _joined(base, getattr(config, key)) for key in ("bundle", "events", "metrics")})


def _joined(base: Path, path: Path | None) -> Path | None:
    return None if path is None else base / path.expanduser()


def _watch_list(base: Path, location: str | None, checker: Checker) -> str | None:
    """A gallery URI as written; a file joined to ``base`` like the config's other paths."""
    if location is None or is_service_uri(location):
        return location
    if "\0" in location or not location.strip():
        raise checker.fail("gallery", f"expected a gallery file or a Milvus URI, got {show(location)}")
    return str(_joined(base, Path(location)))


def _check_feed_count(items: Any, checker: Checker) -> None:
    if not isinstance(items, list) or not items:
        raise checker.fail("feeds", f"expected a non-empty list of feeds ({{id, source}} each), got {show(items)}")
    if len(items) > MAX_FEEDS:
        raise checker.fail("feeds", f"{len(items)} feeds: at most {MAX_FEEDS} per config (split them over "
                                    f"several serve-feeds processes)")


def _feeds(feeds: tuple[FeedConfig, ...], base: Path, checker: Checker) -> tuple[FeedConfig, ...]:
    """The feeds with usable, distinct ids and their sources resolved."""
    seen = set()
    for i, feed in enumerate(feeds):
        if not FEED_ID.match(feed.id):
            raise checker.fail(f"feeds[{i}].id", f"{show(feed.id)} is not a usable id: use letters, digits, '_', "
                                                 f"'-' or '.' (at most 64)")
        if feed.id in seen:
            raise checker.fail(f"feeds[{i}].id", f"{show(feed.id)} is used by an earlier feed: give every feed its "
                                                 f"own id")
        seen.add(feed.id)
    return tuple(replace(feed, source=_source(feed.source, f"feeds[{i}].source", base, checker))
                 for i, feed in enumerate(feeds))


def _source(source: str, where: str, base: Path, checker: Checker) -> str:
    """The feed's source, a relative file path joined to ``base``."""
    from edgeface.feeds.sources import is_live
    from edgeface.feeds.synthetic import SyntheticSpec

    source = source.strip()
    if source.startswith("synthetic:"):
        try:
            SyntheticSpec.parse(source)
        except ValueError as exc:
            raise checker.fail(where, clip(str(exc))) from None
        return source
    if is_live(source):
        return source
    path = base / Path(source).expanduser()
    if not source or not path.is_file():
        raise checker.fail(where, f"{show(str(path))} is not a video file: give a video file path, a camera "
                                  f"(/dev/video0), a stream URL (rtsp://...) or synthetic:faces=2")
    return str(path)


def _check_reconnect(reconnect: ReconnectConfig, checker: Checker) -> None:
    if reconnect.max_s < reconnect.initial_s:
        raise checker.fail("reconnect.max_s", f"must be >= initial_s ({reconnect.initial_s}), got {reconnect.max_s}")


def _check_ray(ray: RayConfig, checker: Checker) -> None:
    if ray.address is not None and ray.num_cpus is not None:
        raise checker.fail("ray.num_cpus", "sizes a local cluster only: remove it, or remove address to start one")


def _video_options(video: dict[str, Any], detect_every: int, checker: Checker) -> dict[str, Any]:
    """Extra ``VideoOptions`` fields (``video: {name: value}``), checked here so that a
    typo, a value of the wrong type or out of range is named before any feed starts (numbers
    finite: their ranges are ``VideoOptions.check``'s)."""
    import typing

    from edgeface.video.options import VideoOptions

    types = {name: tp for name, tp in typing.get_type_hints(VideoOptions).items() if name != "detect_every"}
    unknown = [key for key in video if key not in types]
    if unknown:
        raise checker.unknown(f"video.{show_name(unknown[0])}", list(types))
    values = {key: check_value(value, types[key], f"video.{key}", checker) for key, value in video.items()}
    try:
        VideoOptions(detect_every=detect_every, **values).check()
    except EdgefaceError as exc:
        raise checker.fail("video", clip(str(exc))) from None
    return values
