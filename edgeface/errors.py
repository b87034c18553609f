"""The exceptions edgeface raises for problems a user can fix.

Every message names the thing at fault (a file, an argument, a manifest field) and
says what to do about it, so the CLI can print it as one line and exit with code 2.
"""

from __future__ import annotations


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
