"""The one gallery API that the SDK, the video mode and the feeds processor program
against, whichever backend holds the templates: a file on this machine (gallery.py) or
a vector database shared by many machines (milvus.py)."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np

from edgeface.gallery.fingerprint import EmbedderFingerprint, Match


class GalleryAPI(abc.ABC):
    """Named identities with unit templates, searched by cosine similarity. Every backend
    decides the same way: candidates are re-ranked with their float32 templates and an
    identity scores its best template (ranking.py)."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The templates' size."""

    @property
    @abc.abstractmethod
    def embedder(self) -> EmbedderFingerprint | None:
        """The embedder that made the templates, or None when the gallery records none."""

    @abc.abstractmethod
    def bind(self, embedder: EmbedderFingerprint) -> None:
        """Refuse a gallery made by another embedder; one that records none adopts it."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of templates."""

    @abc.abstractmethod
    def __contains__(self, name: object) -> bool:
        """Whether an identity of that name is enrolled."""

    @abc.abstractmethod
    def identities(self) -> list[tuple[str, int]]:
        """(name, number of templates) for every identity, in enrolment order."""

    @abc.abstractmethod
    def templates(self, name: str) -> np.ndarray:
        """A copy of ``name``'s templates, in enrolment order."""

    @abc.abstractmethod
    def enroll(self, name: str, embeddings: Any, *, embedder: EmbedderFingerprint | None = None) -> int:
        """Add a template per row of ``embeddings`` to ``name``, durably; return its count."""

    @abc.abstractmethod
    def remove(self, name: str) -> int:
        """Delete ``name`` and its templates; return how many went."""

    @abc.abstractmethod
    def search(self, queries: Any, top_k: int = 5, threshold: float | None = None) -> list[list[Match]]:
        """The ``top_k`` best identities per query at or above ``threshold``, best first."""

    @abc.abstractmethod
    def build_index(self, threshold: float) -> None:
        """Make the approximate index ready for searches at ``threshold`` and above now."""

    @abc.abstractmethod
    def verify(self) -> None:
        """Raise if the stored gallery is damaged."""

    @abc.abstractmethod
    def compact(self) -> None:
        """Reclaim what removals and small writes left behind."""

    @abc.abstractmethod
    def save(self, path: str | Path | None = None) -> None:
        """Write the gallery to the file ``path`` (see each backend for ``None``)."""
