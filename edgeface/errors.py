"""The exceptions edgeface raises for problems a user can fix.

Every message names the thing at fault (a file, an argument, a manifest field) and
says what to do about it, so the CLI can print it as one line and exit with code 2.
"""

from __future__ import annotations

import reprlib
from typing import Any

# Bounded repr: at most a few items of each list or dict, three levels deep, so showing a
# value costs little however large it is (a YAML alias bomb expands to millions of items).
class _BoundedRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 10_000:  # past ~3,000 digits Python refuses to convert it to text
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_REPR = _BoundedRepr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset, _REPR.maxdict = 3, 6, 6, 6, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 200


def clip(text: str, limit: int = 200) -> str:
    """``text`` fit for a one-line message: control characters escaped, at most ``limit``
    characters (the end cut to '...')."""
    head = text[:limit + 1]
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in head)
    return shown if len(shown) <= limit and len(text) <= limit else shown[:limit - 3] + "..."


def show(value: Any, limit: int = 60) -> str:
    """A user's value for an error message: its repr, bounded in length and in the work
    spent on it. Every message that quotes a value from a user's file goes through here."""
    return clip(_REPR.repr(value), limit)


def show_name(name: Any, limit: int = 60) -> str:
    """A user's key (a field name) as it is when it is a short printable string, else as
    ``show`` renders it."""
    if isinstance(name, str) and len(name) <= limit and name.isprintable():
        return name
    return show(name, limit)



class EdgefaceError(Exception):
    """Base class: a problem with the user's input, files or environment."""


class BundleError(EdgefaceError):
    """A bundle directory or zip is missing, unreadable or inconsistent."""


class ManifestError(BundleError):
    """manifest.json does not follow the bundle schema."""


class ChecksumError(BundleError):
    """A file in a bundle does not match the sha256 recorded in its manifest."""


class SignatureError(BundleError):
    """A bundle that had to be signed by a trusted key is unsigned, signed by another key,
    or its signature does not match its manifest."""


class ModelLoadError(BundleError):
    """A model file cannot be loaded by its backend (corrupt, truncated, wrong format)."""


class SigningKeyError(EdgefaceError):
    """A signing or public key file is missing, malformed, or of the wrong kind."""


class InferenceError(EdgefaceError):
    """A loaded model failed while running (a damaged graph, or an input it cannot take)."""


class BackendUnavailableError(EdgefaceError):
    """The runtime a model needs is not installed."""


class ImageError(EdgefaceError):
    """An image has the wrong type, shape, size, or cannot be read."""


class GalleryError(EdgefaceError):
    """A gallery file is unreadable, or does not fit the model in use."""


class ConversionError(EdgefaceError):
    """A source model cannot be loaded or converted (wrong kind, shape, missing calibration)."""
