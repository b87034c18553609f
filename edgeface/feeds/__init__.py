"""Many live feeds at once: bounded per-feed queues, reconnects, watch-list events,
metrics, and the same processor scaled out on Ray (docs/feeds.md).

``import edgeface.feeds`` stays light: PyAV and Ray are imported only when a video source
is opened or ``ray.enabled`` is set.

    from edgeface.feeds import load_config, serve_feeds

    metrics = serve_feeds(load_config("feeds.yaml"), callbacks=[print])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeface.lazy import lazy_attributes

_LAZY = {
    "load_config": "edgeface.feeds.config",
    "parse_config": "edgeface.feeds.config",
    "FeedsConfig": "edgeface.feeds.config",
    "FeedConfig": "edgeface.feeds.config",
    "FeedsConfigError": "edgeface.feeds.config",
    "FeedProcessor": "edgeface.feeds.processor",
    "serve_feeds": "edgeface.feeds.processor",
    "JsonlSink": "edgeface.feeds.events",
}

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.feeds.config import FeedConfig, FeedsConfig, FeedsConfigError, load_config, parse_config
    from edgeface.feeds.events import JsonlSink
    from edgeface.feeds.processor import FeedProcessor, serve_feeds

__all__ = list(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
