"""The multi-feed processor on Ray: the feeds split over actors, events back to the driver.

Each actor is a ``FeedProcessor`` over its share of the feeds (round-robin), in its own
process, so N actors use N cores. What the actors share goes through Ray's object
store, put once by the driver: the bundle (as zip bytes, so the nodes of a multi-node
cluster need no copy of it) and the watch-list gallery (an ``edgeface.Gallery``; its
template matrix is read zero-copy by the actors of a node). Each actor's ``run`` is a
streaming generator yielding the same ``Batch`` objects as the local processor; the
driver waits on all of them (``ray.wait``), writes their events to its sink, and merges
their metrics. No scheduler or RPC of ours: Ray places the actors and moves the data.

``ray: {address: null}`` (the default) starts a private local cluster for the run;
``address: auto`` joins the cluster this machine belongs to (``ray start``), and
``address: ray://head:10001`` a remote one through Ray Client (docs/feeds.md).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from edgeface.errors import EdgefaceError
from edgeface.feeds.config import FeedsConfig
from edgeface.feeds.metrics import merge_snapshots
from edgeface.feeds.processor import Batch, FeedProcessor, load_analyzer, log_to_stderr, open_watch_list

_WAIT_S = 0.2  # how often the driver looks up from ray.wait (to see Ctrl-C)


class FeedActor:
    """One actor's feeds. A plain class: ``run_on_ray`` makes it a Ray actor."""

    def __init__(self, config: FeedsConfig, feed_ids: list[str], bundle_zip: bytes, gallery=None):
        with tempfile.TemporaryDirectory(prefix="edgeface-bundle-") as tmp:
            path = Path(tmp) / "bundle.zip"
            path.write_bytes(bundle_zip)
            # the models are read now; the gallery is the driver's, never a file on this node
            analyzer = load_analyzer(replace(config, bundle=path, gallery=None), gallery)
        feeds = [feed for feed in config.feeds if feed.id in feed_ids]
        self.config = config
        self.processor = FeedProcessor(analyzer, feeds, config)

    def run(self) -> Iterator[Batch]:
        yield from self.processor.run(self.config.duration_s, self.config.metrics_every_s)

    def stop(self) -> None:
        self.processor.stop()


def split_feeds(feed_ids: list[str], actors: int) -> list[list[str]]:
    """Round-robin: at most ``actors`` groups, none empty."""
    n = min(actors, len(feed_ids))
    return [feed_ids[i::n] for i in range(n)]


def bundle_bytes(path: Path) -> bytes:
    """A bundle as zip bytes, for the object store: its manifest, signature and the files
    the manifest names, each read through the bundle's checks (regular files only, bounded,
    sha256), so nothing else in the folder (a link to a file outside it) travels along."""
    from edgeface.bundle import MANIFEST_NAME, SIGNATURE_NAME, load_bundle

    bundle = load_bundle(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST_NAME, bundle.manifest_bytes)
        signature = bundle.read_signature()
        if signature is not None:
            archive.writestr(SIGNATURE_NAME, signature)
        for spec in bundle.specs():
            if spec.file not in archive.namelist():
                archive.writestr(spec.file, bundle.read_model(spec))
    return buffer.getvalue()


def run_on_ray(config: FeedsConfig, log: Callable[[str], None] = log_to_stderr) -> Iterator[Batch]:
    """``FeedProcessor.run`` over Ray actors: every actor's events as they come, a merged
    metrics snapshot whenever every actor has reported, and a final merged batch."""
    load_analyzer(config)  # a bad bundle or gallery fails here, with its own message, not in an actor
    ray = _import_ray(local_cluster=config.ray.address is None)
    groups = split_feeds([feed.id for feed in config.feeds], config.ray.actors)
    started = _connect(ray, config, len(groups))
    try:
        bundle_ref = ray.put(bundle_bytes(config.bundle))
        gallery_ref = ray.put(open_watch_list(config.gallery)) if config.gallery is not None else None
        actor_class = ray.remote(FeedActor).options(num_cpus=config.ray.cpus_per_actor, max_concurrency=2)
        actors = [actor_class.remote(config, ids, bundle_ref, gallery_ref) for ids in groups]
        log(f"ray: {len(actors)} actors: " + "; ".join(", ".join(ids) for ids in groups))
        streams = {actor.run.options(num_returns="streaming").remote(): i for i, actor in enumerate(actors)}
        yield from _gather(ray, streams, actors, log)
    finally:
        if started:
            ray.shutdown()


def _gather(ray, streams: dict, actors: list, log: Callable[[str], None]) -> Iterator[Batch]:
    latest: dict[int, dict] = {}  # actor -> its last snapshot
    running = set(range(len(actors)))  # actors whose final batch has not come
    fresh: set[int] = set()  # running actors that reported since the last merged report
    pending = list(streams)
    while pending:
        try:
            ready, _ = ray.wait(pending, num_returns=1, timeout=_WAIT_S)
            for stream in ready:
                try:
                    batch = _result(ray, next(stream))
                except StopIteration:
                    pending.remove(stream)
                    continue
                if batch.records:
                    yield Batch(batch.records)
                if batch.snapshot is not None:
                    index = streams[stream]
                    latest[index] = batch.snapshot
                    if batch.final:
                        running.discard(index)
                    else:
                        fresh.add(index)
                if running and fresh >= running:
                    fresh.clear()
                    yield Batch([], merge_snapshots(list(latest.values())))
        except KeyboardInterrupt:
            log("interrupted: stopping the actors")
            for actor in actors:
                actor.stop.remote()
    yield Batch([], merge_snapshots(list(latest.values())), final=True)


def _result(ray, ref):
    """``ray.get``, with an actor's ``EdgefaceError`` re-raised as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, EdgefaceError):
            raise exc.cause from None
        raise


def _connect(ray, config: FeedsConfig, actors: int) -> bool:
    """Start a local cluster that fits ``actors``, or join ``cfg.address``; False when
    Ray was already initialised by the caller (then the caller shuts it down)."""
    cfg = config.ray
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    # Ray waits 30 s for a local cluster's GCS server to come up; on a busy 2-core box it
    # has taken longer (RuntimeError "Timed out waiting for file ... gcs_server_port")
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")
    try:
        if cfg.address is None:
            ray.init(address="local", num_cpus=cfg.num_cpus, include_dashboard=False)
        else:
            ray.init(address=cfg.address)
    except ConnectionError as exc:
        raise EdgefaceError(f"{config.source}: ray.address: cannot join the Ray cluster ({exc}): start it "
                            f"first (ray start --head), or remove ray.address for a local cluster") from None
    if cfg.address is None:  # a local cluster cannot grow: actors it cannot fit would wait forever
        cpus = ray.cluster_resources().get("CPU", 0)
        if actors * cfg.cpus_per_actor > cpus:
            ray.shutdown()
            raise EdgefaceError(f"{config.source}: ray.actors: {actors} actors x cpus_per_actor {cfg.cpus_per_actor} need "
                                f"{actors * cfg.cpus_per_actor:g} CPUs, the local cluster has {cpus:g}: lower "
                                f"ray.actors or ray.cpus_per_actor, or raise ray.num_cpus")
    return True


def _import_ray(local_cluster: bool):
    """``import ray``. For a private local cluster, token authentication is asked for
    explicitly (``RAY_AUTH_MODE=token``, unless set already): Ray 2.59+ turns it on for
    a new local cluster anyway, but warns on each start unless it was asked for. Ray reads
    the variable when it is imported, so it is set only before that (a process that
    imported Ray already gets Ray's default, and its warning)."""
    if local_cluster and "ray" not in sys.modules:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise EdgefaceError("ray.enabled needs Ray: pip install 'edgeface[scale]'") from None
    return ray
