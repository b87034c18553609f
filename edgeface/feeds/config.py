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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeface.errors import EdgefaceError, clip, show, show_name
from edgeface.schema import Fields

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

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.3
    max_attempts: int | None = None  # None: forever


@dataclass(frozen=True)
class FeedConfig:
    id: str
    source: str
    # True: frames arrive at their timestamps, as from a camera (and are dropped when
    # processing falls behind); False: a file is read as fast as it is processed, no
    # frame dropped. None: True, except for a video file, which is read in full.
    realtime: bool | None = None


@dataclass(frozen=True)
class RayConfig:
    enabled: bool = False
    address: str | None = None  # None: start a local cluster; "auto" or "ray://...": join one
    actors: int = 2
    cpus_per_actor: float = 1.0
    num_cpus: int | None = None  # CPUs of the local cluster (None: Ray counts them)


@dataclass(frozen=True)
class FeedsConfig:
    feeds: tuple[FeedConfig, ...]
    bundle: Path | None = None
    gallery: Path | None = None
    threads: int = 1
    detect_every: int = 5
    queue_size: int = 4
    events: Path | None = None
    metrics: Path | None = None
    metrics_every_s: float = 10.0  # 0: print metrics only at the end
    duration_s: float | None = None  # None: until every source has ended
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    video: dict[str, Any] = field(default_factory=dict)  # more VideoOptions fields, by name
    source: str = "<config>"  # where it was read from, for messages


class _Fields(Fields):
    """``edgeface.schema.Fields`` raising ``FeedsConfigError`` with top-level fields
    named bare (``queue_size``, not ``.queue_size``)."""

    def __init__(self, data: Any, where: str, source: str):
        if not isinstance(data, dict):
            raise FeedsConfigError(f"{source}: {where or 'the file'}: expected a mapping, got {show(data)}")
        super().__init__(data, where, source)

    def name(self, key: Any) -> str:
        key = show_name(key)
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, what: str) -> FeedsConfigError:
        return FeedsConfigError(f"{self.source}: {self.name(key)}: {what}")

    def sub(self, key: str) -> "_Fields":
        return _Fields(self.data.get(key) or {}, self.name(key), self.source)

    def only(self, *known: str) -> None:
        unknown = sorted(set(self.data) - set(known), key=str)
        if unknown:
            raise self.fail(unknown[0], f"unknown field: use one of {', '.join(known)}")

    def optional(self, kind: str, key: str, **limits: Any) -> Any:
        """``self.<kind>(key, **limits)``, or None when the field is absent or null."""
        return getattr(self, kind)(key, **limits) if self.has(key) else None

    def path(self, key: str, base: Path) -> Path | None:
        value = self.optional("string", key)
        if value is not None and "\0" in value:
            raise self.fail(key, "a path cannot contain a NUL character")
        return None if value is None else base / Path(value).expanduser()


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
    top = _Fields(data, "", source)
    top.only("feeds", "bundle", "gallery", "threads", "detect_every", "queue_size", "events", "metrics",
             "metrics_every_s", "duration_s", "reconnect", "ray", "video")
    detect_every = top.integer("detect_every", 5, lo=1, hi=1000)
    return FeedsConfig(
        feeds=_feeds(top, base), bundle=top.path("bundle", base), gallery=top.path("gallery", base),
        threads=top.integer("threads", 1, lo=1, hi=64), detect_every=detect_every,
        queue_size=top.integer("queue_size", 4, lo=1, hi=10_000),
        events=top.path("events", base), metrics=top.path("metrics", base),
        metrics_every_s=top.number("metrics_every_s", 10.0, lo=0.0, hi=86_400.0),
        duration_s=top.optional("number", "duration_s", lo=0.0, hi=366 * 86_400.0),
        reconnect=_reconnect(top.sub("reconnect")), ray=_ray(top.sub("ray")),
        video=_video_options(top, detect_every), source=source)


def _feeds(top: _Fields, base: Path) -> tuple[FeedConfig, ...]:
    items = top.data.get("feeds")
    if not isinstance(items, list) or not items:
        raise top.fail("feeds", f"expected a non-empty list of feeds ({{id, source}} each), got {show(items)}")
    if len(items) > MAX_FEEDS:
        raise top.fail("feeds", f"{len(items)} feeds: at most {MAX_FEEDS} per config (split them over "
                                f"several serve-feeds processes)")
    feeds, seen = [], set()
    for i, item in enumerate(items):
        f = _Fields(item, f"feeds[{i}]", top.source)
        f.only("id", "source", "realtime")
        feed_id = f.string("id")
        if not FEED_ID.match(feed_id):
            raise f.fail("id", f"{show(feed_id)} is not a usable id: use letters, digits, '_', '-' or '.' "
                               f"(at most 64)")
        if feed_id in seen:
            raise f.fail("id", f"{show(feed_id)} is used by an earlier feed: give every feed its own id")
        seen.add(feed_id)
        source = _source(f, base)
        feeds.append(FeedConfig(feed_id, source, f.optional("boolean", "realtime")))
    return tuple(feeds)


def _source(f: _Fields, base: Path) -> str:
    """The feed's source, a relative file path joined to ``base``."""
    from edgeface.feeds.sources import is_live
    from edgeface.feeds.synthetic import SyntheticSpec

    source = f.string("source").strip()
    if source.startswith("synthetic:"):
        try:
            SyntheticSpec.parse(source)
        except ValueError as exc:
            raise f.fail("source", clip(str(exc))) from None
        return source
    if is_live(source):
        return source
    path = base / Path(source).expanduser()
    if not source or not path.is_file():
        raise f.fail("source", f"{show(str(path))} is not a video file: give a video file path, a camera "
                               f"(/dev/video0), a stream URL (rtsp://...) or synthetic:faces=2")
    return str(path)


def _reconnect(f: _Fields) -> ReconnectConfig:
    f.only("initial_s", "max_s", "factor", "jitter", "max_attempts")
    initial = f.number("initial_s", 0.5, lo=MIN_RECONNECT_S, hi=3600.0)
    cap = f.number("max_s", 30.0, lo=MIN_RECONNECT_S, hi=86_400.0)
    if cap < initial:
        raise f.fail("max_s", f"must be >= initial_s ({initial}), got {cap}")
    return ReconnectConfig(initial, cap, f.number("factor", 2.0, lo=1.0, hi=10.0),
                           f.number("jitter", 0.3, lo=0.0, hi=1.0),
                           f.optional("integer", "max_attempts", lo=1, hi=1_000_000))


def _ray(f: _Fields) -> RayConfig:
    f.only("enabled", "address", "actors", "cpus_per_actor", "num_cpus")
    address, num_cpus = f.optional("string", "address"), f.optional("integer", "num_cpus", lo=1, hi=4096)
    if address is not None and num_cpus is not None:
        raise f.fail("num_cpus", "sizes a local cluster only: remove it, or remove address to start one")
    return RayConfig(enabled=f.boolean("enabled", False), address=address,
                     actors=f.integer("actors", 2, lo=1, hi=MAX_FEEDS),
                     cpus_per_actor=f.number("cpus_per_actor", 1.0, lo=0.0, hi=256.0), num_cpus=num_cpus)


def _video_options(top: _Fields, detect_every: int) -> dict[str, Any]:
    """Extra ``VideoOptions`` fields (``video: {name: value}``), checked here so that a
    typo, a value of the wrong type or out of range is named before any feed starts."""
    import typing

    from edgeface.video.options import VideoOptions

    f = top.sub("video")
    types = {name: tp for name, tp in typing.get_type_hints(VideoOptions).items() if name != "detect_every"}
    f.only(*types)
    values = {key: _typed(f, key, types[key]) for key in f.data}
    try:
        VideoOptions(detect_every=detect_every, **values).check()
    except EdgefaceError as exc:
        raise FeedsConfigError(f"{top.source}: video: {clip(str(exc))}") from None
    return values


def _typed(f: _Fields, key: str, tp: Any) -> Any:
    """``f[key]`` checked against the type of its ``VideoOptions`` field (numbers finite:
    their ranges are ``VideoOptions.check``'s)."""
    if tp is bool:
        return f.boolean(key)
    if tp is int:
        return f.integer(key)
    if tp is float:
        return f.number(key)
    return f.optional("string", key)
