"""What a search returns (``Match``) and which embedder made a gallery's templates
(``EmbedderFingerprint``), with the check every file reader applies to a recorded one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

NORMALIZATIONS = ("l2",)  # what a gallery's templates may be: Gallery stores unit vectors


@dataclass(frozen=True)
class Match:
    identity: str
    similarity: float


@dataclass(frozen=True)
class EmbedderFingerprint:
    """The embedder whose embeddings a gallery holds. Two fingerprints are the same model
    when sha256, dim and normalization agree: ``name`` (the bundle's) only labels it, so
    a renamed or recombined bundle with the same embedder file still matches."""

    name: str
    sha256: str
    dim: int
    normalization: str = "l2"

    def same_model(self, other: EmbedderFingerprint) -> bool:
        return (self.sha256, self.dim, self.normalization) == (other.sha256, other.dim, other.normalization)

    def label(self) -> str:
        return f"{self.name!r} (sha256 {self.sha256[:12]})"

    def to_json(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "dim": self.dim, "normalization": self.normalization}


def is_hex64(value: Any) -> bool:
    """Whether ``value`` is a sha256 as the files write it: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_embedder_json(embedder: Any, dim: int, bad: Callable[[str], Exception]) -> EmbedderFingerprint:
    """A recorded fingerprint: exactly its four fields, for a gallery of ``dim``; else ``bad(reason)``."""
    if not (isinstance(embedder, dict) and set(embedder) == {"name", "sha256", "dim", "normalization"}):
        raise bad("embedder must hold exactly name, sha256, dim and normalization")
    name, sha, edim, norm = (embedder[k] for k in ("name", "sha256", "dim", "normalization"))
    if not (isinstance(name, str) and name.strip() and is_hex64(sha) and type(edim) is int and edim == dim
            and norm in NORMALIZATIONS):
        raise bad("embedder name, sha256, dim or normalization invalid")
    return EmbedderFingerprint(name, sha, edim, norm)
