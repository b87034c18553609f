"""What every gallery backend shares: how enrolments and queries become unit rows, and the
one rule by which scored template rows become matches."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgeface.errors import GalleryError
from edgeface.gallery.fileio import DTYPE
from edgeface.gallery.fingerprint import Match


def best_identities(owners: np.ndarray, sims: np.ndarray, top_k: int, threshold: float | None,
                    name_of: Callable[[int], str]) -> list[Match]:
    """The ``top_k`` best identities among candidate rows sorted best first (``sims``,
    float32 cosines computed from the stored templates, and the identity owning each row),
    each scoring its best row; those under ``threshold`` are dropped."""
    _, first = np.unique(owners, return_index=True)  # each identity's best row
    first.sort()
    matches = [Match(name_of(int(owners[i])), float(sims[i])) for i in first[:top_k]]
    if threshold is not None:
        matches = [m for m in matches if m.similarity >= threshold]
    return matches


def check_top_k(top_k: Any) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise GalleryError(f"top_k must be a positive integer, got {top_k!r}")


def unit_rows(values: Any, dim: int, what: str) -> np.ndarray:
    """Check shape and values, and return the rows L2-normalised as a (N, dim) float32 array."""
    try:
        x = np.asarray(values)
        if x.dtype != np.float32:  # float32 stays float32: the scaling below keeps it exact enough
            x = x.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise GalleryError(f"{what} must be numeric arrays: {exc}") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim or x.shape[0] == 0:
        raise GalleryError(
            f"{what} must have shape ({dim},) or (N, {dim}) with N >= 1, "
            f"got {np.shape(values)}"
        )
    if not np.isfinite(x).all():
        raise GalleryError(f"{what} contain NaN or infinite values")
    peak = np.abs(x).max(axis=1, keepdims=True)
    if not (peak > 0).all():
        raise GalleryError(f"{what} contain an all-zero vector, which has no direction to compare")
    x = x / peak  # scale first, so that squaring can neither overflow nor underflow
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(DTYPE, copy=False)
