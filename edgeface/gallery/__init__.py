"""The face gallery (see gallery.py): the SDK's 1:N store, its files and their readers."""

from edgeface.gallery.fileio import MAGIC_V1, MAGIC_V2, MAGIC_V3
from edgeface.gallery.fingerprint import EmbedderFingerprint, Match
from edgeface.gallery.gallery import Gallery
from edgeface.gallery.names import MAX_NAME_CHARS

MAGIC = MAGIC_V3

__all__ = ["MAGIC", "MAGIC_V1", "MAGIC_V2", "MAGIC_V3", "MAX_NAME_CHARS", "EmbedderFingerprint", "Gallery", "Match"]
