"""The identity a track carries: a vote over its recognitions, each weighted by the match
similarity times the face quality, so one blurred or half-hidden frame cannot outvote
several clear ones. Recognitions without a gallery match do not vote."""

from __future__ import annotations


class IdentityVote:
    def __init__(self) -> None:
        self._weights: dict[str, float] = {}
        self._best_similarity: dict[str, float] = {}

    def add(self, identity: str | None, similarity: float | None, quality: float) -> None:
        if identity is None or similarity is None:
            return
        self._weights[identity] = self._weights.get(identity, 0.0) + similarity * max(quality, 1e-3)
        self._best_similarity[identity] = max(similarity, self._best_similarity.get(identity, -1.0))

    @property
    def identity(self) -> str | None:
        if not self._weights:
            return None
        return max(self._weights, key=self._weights.__getitem__)

    @property
    def similarity(self) -> float | None:
        """The best similarity the winning identity reached on this track."""
        name = self.identity
        return None if name is None else self._best_similarity[name]
