"""The face gallery: the SDK's 1:N store (api.py), kept in a file (gallery.py: its files and
their readers) or in Milvus (milvus.py, opened by URI)."""

from edgeface.gallery.api import GalleryAPI
from edgeface.gallery.fileio import MAGIC_V1, MAGIC_V2, MAGIC_V3
from edgeface.gallery.fingerprint import EmbedderFingerprint, Match
from edgeface.gallery.gallery import Gallery
from edgeface.gallery.names import MAX_NAME_CHARS

MAGIC = MAGIC_V3

__all__ = ["MAGIC", "MAGIC_V1", "MAGIC_V2", "MAGIC_V3", "MAX_NAME_CHARS", "EmbedderFingerprint", "Gallery",
           "GalleryAPI", "Match"]
