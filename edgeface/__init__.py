"""edgeface: face detection, alignment, embedding and matching on LiteRT.

``import edgeface`` loads numpy and nothing heavy: the runtime and the toolchain are
imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeface.lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "FaceAnalyzer": "edgeface.analyzer",
    "FaceAnalyzerOptions": "edgeface.analyzer",
    "Gallery": "edgeface.gallery",
    "load_bundle": "edgeface.bundle",
    "read_image": "edgeface.image",
    "EdgefaceError": "edgeface.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.analyzer import FaceAnalyzer, FaceAnalyzerOptions
    from edgeface.bundle import load_bundle
    from edgeface.errors import EdgefaceError
    from edgeface.gallery import Gallery
    from edgeface.image import read_image

__all__ = ["__version__", *_LAZY]


__getattr__ = lazy_attributes(__name__, _LAZY)
