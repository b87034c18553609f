"""The face gallery: named identities with L2-normalised templates, for 1:N search.

A gallery lives in memory as one (capacity, dim) float32 matrix plus, per row, the index
of the identity it belongs to. It persists to a single file written atomically, with mode
0600 (templates are biometric data):

    b"EFGALLERY2\\n"                      magic
    uint64 little-endian                  length of the JSON header in bytes
    JSON header (UTF-8)                   {"dim", "count", "names", "counts", ["embedder",] "sha256"}
    zero padding                          up to a 64-byte boundary
    float32 little-endian (count, dim)    templates, grouped by identity in header order

``sha256`` covers the magic, the other header fields (as canonical JSON, see
``_content_digest``) and the templates, so a changed name, count, fingerprint or template
fails to load.

``embedder`` (optional) records which embedder made the templates, so that a gallery is
never searched with another model's embeddings of the same size (the scores would mean
nothing): ``{"name": bundle name, "sha256": the embedder model file's sha256, "dim",
"normalization": "l2"}`` (see ``EmbedderFingerprint``). A gallery without one (files
written before it existed, or a gallery filled with raw arrays) adopts the fingerprint of
the first embedder that binds it (``bind``, which ``FaceAnalyzer`` calls) and records it
with its next save. The field is optional within version 2 rather than a version 3
because every version-2 reader already refuses a header field it does not know: an
edgeface from before the fingerprint refuses a file that has one ("header fields must be
exactly dim, count, names, counts and sha256"; upgrade edgeface to read it) and never
ignores it, while files without one stay byte for byte what it writes and reads.

Version-1 files (magic ``EFGALLERY1``) are still read, but their sha256 covers only the
templates: an edit to their names or counts goes unnoticed. The next save writes version 2.

Saves are serialised by a lock (``edgeface.fsutil.writer_lock``) and merge: ``save()``
re-reads the file when another writer changed it since this object loaded or saved it, and
re-applies this object's own enrolments and removals on top, so no acknowledged save is lost.

numpy is the only import. FAISS is opt-in (``use_faiss=True``): its exact (flat) index
measured slower than numpy's matrix product on a 2-core x86 machine (1M x 512 templates:
about 250 ms against 155 ms per query, scripts/bench_gallery.py) and holds a second copy
of the matrix, so it only pays where FAISS has more cores or a faster BLAS to use.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgeface.errors import BackendUnavailableError, GalleryError
from edgeface.fsutil import atomic_write, remove_stale_temp_files, writer_lock
from edgeface.safetext import is_control

__all__ = ["EmbedderFingerprint", "Gallery", "Match"]

MAGIC = b"EFGALLERY2\n"
MAGIC_V1 = b"EFGALLERY1\n"  # read only: its sha256 covers the templates, not the header
MAX_NAME_CHARS = 256
_FILE_MODE = 0o600
_HEADER_FIELDS = ("dim", "count", "names", "counts")  # what the sha256 covers besides the templates
_LEN_BYTES = 8
_ALIGN = 64
_DTYPE = np.dtype("<f4")
_CHUNK_BYTES = 1 << 24  # rows are copied, hashed and written 16 MiB at a time
_SCORE_BLOCK = 1 << 25  # most (query x template) scores held at once by the numpy search
_FIX = "re-enroll, or restore from backup"
_NORMALIZATIONS = ("l2",)  # what a gallery's templates may be: Gallery stores unit vectors


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


class Gallery:
    """Identities, each with one or more templates, searchable by cosine similarity.

    ``use_faiss``: True searches with a FAISS flat index (FAISS must be installed),
    False (the default) with numpy, None with FAISS when it is importable.

    A gallery bound to ``path`` remembers which version of that file it holds (none, for a
    new gallery) and which identities it enrolled or removed since; ``save()`` merges those
    changes into whatever the file holds by then.
    """

    def __init__(self, dim: int, path: str | Path | None = None, *, use_faiss: bool | None = False,
                 embedder: EmbedderFingerprint | None = None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise GalleryError(f"dim must be a positive integer, got {dim!r}")
        self._dim = int(dim)
        self.path = Path(path) if path is not None else None
        self._embedder: EmbedderFingerprint | None = None
        if embedder is not None:
            self.bind(embedder)
        self._faiss = _import_faiss(use_faiss)
        self._index: Any = None  # the FAISS index, built on first search after a change
        self._matrix = np.empty((0, self._dim), _DTYPE)
        self._owner = np.empty(0, np.int32)  # identity index of each row
        self._n = 0
        self._names: list[str] = []
        self._counts: list[int] = []
        self._ids: dict[str, int] = {}
        self._stamp: str | None = None  # _file_stamp of the file as last loaded or saved; None: no file
        self._removed: set[str] = set()  # identities removed since then
        self._added: dict[str, int] = {}  # templates enrolled since then (after any removal), per identity

    # ----------------------------------------------------------------- basics

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._ids

    @property
    def embedder(self) -> EmbedderFingerprint | None:
        """The embedder that made the templates, or None when the gallery records none."""
        return self._embedder

    def bind(self, embedder: EmbedderFingerprint) -> None:
        """Refuse a gallery made by another embedder than ``embedder``; one that records
        none adopts it (and writes it with its next save)."""
        if embedder.dim != self._dim:
            raise GalleryError(
                f"{self.path or 'the gallery'} holds {self._dim}-d templates but this model embeds "
                f"{embedder.dim}-d: use a gallery made with the same model"
            )
        if self._embedder is None:
            self._embedder = embedder
        elif not self._embedder.same_model(embedder):
            raise GalleryError(
                f"{self.path or 'the gallery'} was enrolled with embedder {self._embedder.label()}, not this "
                f"bundle's {embedder.label()}: re-enroll the gallery with this bundle, or use the bundle that made it"
            )

    def identities(self) -> list[tuple[str, int]]:
        """(name, number of templates) for every identity, in enrollment order."""
        return list(zip(self._names, self._counts))

    def __repr__(self) -> str:
        return f"Gallery(dim={self._dim}, identities={len(self._names)}, templates={self._n}, path={self.path})"

    # ----------------------------------------------------------------- changes

    def enroll(self, name: str, embeddings: Any, *, embedder: EmbedderFingerprint | None = None) -> int:
        """Add one template per row of ``embeddings`` to ``name``; return its template count.

        Names are printable text of at most ``MAX_NAME_CHARS`` characters: no control
        characters, bidi overrides or undecodable bytes (see ``_check_name``). ``embedder``,
        the model that made the rows, is checked with ``bind`` first; raw arrays need none.
        """
        _check_name(name)
        rows = self._unit_rows(embeddings, "embeddings")
        if embedder is not None:
            self.bind(embedder)
        count = self._append(name, rows)
        self._added[name] = self._added.get(name, 0) + len(rows)
        return count

    def _append(self, name: str, rows: np.ndarray) -> int:
        """Add already checked unit ``rows`` to ``name``; return its template count."""
        idx = self._ids.get(name)
        if idx is None:
            idx = self._ids[name] = len(self._names)
            self._names.append(name)
            self._counts.append(0)
        self._reserve(len(rows))
        end = self._n + len(rows)
        self._matrix[self._n : end] = rows
        self._owner[self._n : end] = idx
        self._n = end
        self._counts[idx] += len(rows)
        self._index = None
        return self._counts[idx]

    def remove(self, name: str) -> int:
        """Delete ``name`` and all its templates; return how many templates went."""
        idx = self._ids.get(name)
        if idx is None:
            raise GalleryError(f"no identity named {name!r} in the gallery")
        kept = np.flatnonzero(self._owner[: self._n] != idx)
        # Move the kept rows down in place, a chunk at a time: kept[i] >= i, so a chunk
        # never overwrites rows that a later chunk still has to read.
        step = max(1, _CHUNK_BYTES // (self._dim * 4))
        for start in range(0, len(kept), step):
            rows = kept[start : start + step]
            self._matrix[start : start + len(rows)] = self._matrix[rows]
            self._owner[start : start + len(rows)] = self._owner[rows]
        self._n = len(kept)
        owner = self._owner[: self._n]
        owner[owner > idx] -= 1
        removed = self._counts.pop(idx)
        del self._names[idx]
        self._ids = {n: i for i, n in enumerate(self._names)}
        self._index = None
        self._removed.add(name)
        self._added.pop(name, None)
        return removed

    def _templates(self, name: str) -> np.ndarray:
        """The templates of ``name``, in enrollment order."""
        return self._matrix[: self._n][self._owner[: self._n] == self._ids[name]]

    def _reserve(self, extra: int) -> None:
        """Grow capacity geometrically so that enrolling costs O(new rows), amortised."""
        need = self._n + extra
        if need <= len(self._matrix):
            return
        cap = max(need, len(self._matrix) * 3 // 2, 64)
        matrix = np.empty((cap, self._dim), _DTYPE)
        matrix[: self._n] = self._matrix[: self._n]
        owner = np.empty(cap, np.int32)
        owner[: self._n] = self._owner[: self._n]
        self._matrix, self._owner = matrix, owner

    def _unit_rows(self, values: Any, what: str) -> np.ndarray:
        """Check shape and values, and return the rows L2-normalised as a (N, dim) float32 array."""
        try:
            x = np.asarray(values)
            if x.dtype != np.float32:  # float32 stays float32: the scaling below keeps it exact enough
                x = x.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise GalleryError(f"{what} must be numeric arrays: {exc}") from None
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self._dim or x.shape[0] == 0:
            raise GalleryError(
                f"{what} must have shape ({self._dim},) or (N, {self._dim}) with N >= 1, "
                f"got {np.shape(values)}"
            )
        if not np.isfinite(x).all():
            raise GalleryError(f"{what} contain NaN or infinite values")
        peak = np.abs(x).max(axis=1, keepdims=True)
        if not (peak > 0).all():
            raise GalleryError(f"{what} contain an all-zero vector, which has no direction to compare")
        x = x / peak  # scale first, so that squaring can neither overflow nor underflow
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(_DTYPE, copy=False)

    # ----------------------------------------------------------------- search

    def search(self, queries: Any, top_k: int = 5, threshold: float | None = None) -> list[list[Match]]:
        """The ``top_k`` best identities per query, most similar first.

        An identity scores the cosine similarity of its best template; identities below
        ``threshold`` are dropped. Returns one list per query (one list for a 1-D query).
        """
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise GalleryError(f"top_k must be a positive integer, got {top_k!r}")
        q = self._unit_rows(queries, "queries")
        if self._n == 0:
            return [[] for _ in q]
        # The best top_k identities always lie among the best top_k * T templates, T being
        # the most templates any identity has: those rows cover at least top_k identities,
        # each scoring at least as high as any row left out.
        k = min(self._n, int(top_k) * max(self._counts))
        sims, rows = self._faiss_top(q, k) if self._faiss else self._numpy_top(q, k)
        return [self._best_identities(s, r, int(top_k), threshold) for s, r in zip(sims, rows)]

    def _numpy_top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per query, the k most similar rows and their similarities, best first."""
        templates = self._matrix[: self._n]
        sims, rows = [], []
        step = max(1, _SCORE_BLOCK // self._n)
        for start in range(0, len(q), step):
            scores = q[start : start + step] @ templates.T
            top = np.argpartition(scores, self._n - k, axis=1)[:, self._n - k :]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            rows.append(np.take_along_axis(top, order, axis=1))
            sims.append(np.take_along_axis(top_scores, order, axis=1))
        return np.concatenate(sims), np.concatenate(rows)

    def _faiss_top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            index = self._faiss.IndexFlatIP(self._dim)
            index.add(self._matrix[: self._n])
            self._index = index
        return self._index.search(q, k)

    def _best_identities(
        self, sims: np.ndarray, rows: np.ndarray, top_k: int, threshold: float | None
    ) -> list[Match]:
        owners = self._owner[rows]
        _, first = np.unique(owners, return_index=True)  # each identity's best row
        first.sort()
        matches = [Match(self._names[owners[i]], float(sims[i])) for i in first[:top_k]]
        if threshold is not None:
            matches = [m for m in matches if m.similarity >= threshold]
        return matches

    # ----------------------------------------------------------------- files

    @classmethod
    def open(cls, path: str | Path, dim: int | None = None, *, use_faiss: bool | None = False,
             embedder: EmbedderFingerprint | None = None) -> Gallery:
        """Load the gallery at ``path``, or start an empty one bound to it if there is no file.

        ``dim`` is the model's embedding size: required for a new file, and checked
        against an existing one. ``embedder``, when given, is checked and adopted as
        ``bind`` does.
        """
        path = Path(path)
        if not path.exists():
            if dim is None:
                raise GalleryError(
                    f"{path} does not exist: pass the model's embedding dim to start a new gallery there"
                )
            return cls(dim, path, use_faiss=use_faiss, embedder=embedder)
        header, matrix, stamp = _read_file(path)
        if dim is not None and header["dim"] != dim:
            raise GalleryError(
                f"{path} holds {header['dim']}-d templates but this model embeds {dim}-d: "
                "use a gallery made with the same model, or a new file"
            )
        recorded = header.get("embedder")
        gallery = cls(header["dim"], path, use_faiss=use_faiss,
                      embedder=EmbedderFingerprint(**recorded) if recorded else None)
        if embedder is not None:
            gallery.bind(embedder)
        gallery._matrix = matrix
        gallery._n = header["count"]
        gallery._names = list(header["names"])
        gallery._counts = list(header["counts"])
        gallery._ids = {n: i for i, n in enumerate(gallery._names)}
        gallery._owner = np.repeat(np.arange(len(gallery._names), dtype=np.int32), gallery._counts)
        gallery._stamp = stamp
        return gallery

    def save(self, path: str | Path | None = None) -> None:
        """Write the gallery atomically, mode 0600, to its own path or to ``path`` (which then
        becomes its path).

        Saving to its own path holds ``writer_lock`` across read-modify-write: if another
        writer changed the file since this object loaded or last saved it, the file is
        re-read and this object's enrolments and removals since then are re-applied on top
        (removing an identity someone else already removed is a no-op), so every save that
        returned keeps every enrolment any earlier save returned. Temporary files that killed
        saves left behind are deleted under the same lock. Saving to another path replaces
        that file with this gallery as it is. Where there is no fcntl (Windows) there is no
        lock: saves stay atomic, but concurrent ones can drop each other's changes.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise GalleryError("this gallery has no file: pass a path to save()")
        merge = self.path is not None and os.path.abspath(target) == os.path.abspath(self.path)
        try:
            with writer_lock(target):
                result = self._merged_with_file(target) if merge else self
                remove_stale_temp_files(target)
                stamp = result._write(target)
        except OSError as exc:
            raise GalleryError(f"cannot write {target}: {exc.strerror or exc}") from None
        if result is not self:
            self._take_contents(result)
        self.path, self._stamp = target, stamp
        self._removed.clear()
        self._added.clear()

    def _merged_with_file(self, path: Path) -> Gallery:
        """This gallery when ``path`` still holds what it last loaded or saved (or holds
        nothing), else the file's gallery with this one's changes since then re-applied."""
        stamp = _file_stamp(path)
        if stamp is None or stamp == self._stamp:
            return self
        merged = type(self).open(path, self._dim, embedder=self._embedder)
        for name in self._removed:
            if name in merged:
                merged.remove(name)
        for name, added in self._added.items():  # in order of first enrolment since then, as a replay would
            merged._append(name, self._templates(name)[-added:])
        return merged

    def _take_contents(self, other: Gallery) -> None:
        self._matrix, self._owner, self._n = other._matrix, other._owner, other._n
        self._names, self._counts, self._ids = other._names, other._counts, other._ids
        self._embedder = other._embedder
        self._index = None

    def _write(self, path: Path) -> str:
        """Write the file (version 2) atomically; return its ``_file_stamp``."""
        fields = {"dim": self._dim, "count": self._n, "names": self._names, "counts": self._counts}
        if self._embedder is not None:
            fields["embedder"] = self._embedder.to_json()
        digest = _content_digest(fields)
        for block in self._file_blocks():
            digest.update(block)
        # ASCII JSON: names read from old files may hold lone surrogates, which UTF-8 cannot encode
        header = json.dumps({**fields, "sha256": digest.hexdigest()}).encode("ascii")
        head = MAGIC + len(header).to_bytes(_LEN_BYTES, "little") + header
        pad = b"\0" * (-len(head) % _ALIGN)

        def write(handle: Any) -> None:
            handle.write(head + pad)
            for block in self._file_blocks():
                handle.write(block)

        atomic_write(path, write, mode=_FILE_MODE)
        return _stamp_of(head)

    def _file_blocks(self) -> Iterator[memoryview]:
        """The template matrix in file order (grouped by identity), as byte blocks."""
        matrix, owner = self._matrix[: self._n], self._owner[: self._n]
        grouped = bool((owner[1:] >= owner[:-1]).all())
        order = None if grouped else np.argsort(owner, kind="stable")
        step = max(1, _CHUNK_BYTES // (self._dim * 4))
        for start in range(0, self._n, step):
            if order is None:
                block = matrix[start : start + step]
            else:
                block = matrix[order[start : start + step]]
            yield memoryview(block.reshape(-1).view(np.uint8))


def _import_faiss(use_faiss: bool | None) -> Any:
    if use_faiss is False:
        return None
    try:
        import faiss
    except ImportError:
        if use_faiss:
            raise BackendUnavailableError("use_faiss=True needs FAISS: pip install faiss-cpu") from None
        return None
    return faiss


def _check_name(name: Any) -> None:
    """Refuse names that are blank, absurdly long, or not plain printable text: control
    characters would act on the terminal that shows them, bidi overrides make a name display
    as another, and lone surrogates (bytes undecodable in the shell's locale) cannot be saved."""
    if not isinstance(name, str) or not name.strip():
        raise GalleryError(f"identity name must be a non-blank string, got {name!r:.80}")
    if len(name) > MAX_NAME_CHARS:
        raise GalleryError(
            f"identity name {name[:40]!r}... has {len(name)} characters: use at most {MAX_NAME_CHARS}"
        )
    bad = sorted({char for char in name if is_control(char)})
    if any(unicodedata.category(char) == "Cs" for char in bad):
        raise GalleryError(
            f"identity name {name!r} holds bytes that are not valid text in this locale: "
            "pass the name as UTF-8 (e.g. set LANG=C.UTF-8)"
        )
    if bad:
        raise GalleryError(
            f"identity name {name!r} holds control characters ({', '.join(ascii(c) for c in bad)}): "
            "use printable text"
        )


def _invalid(path: Path, reason: str) -> GalleryError:
    return GalleryError(f"{path} is not a valid gallery file ({reason}): {_FIX}")


def _content_digest(header: dict) -> Any:
    """A sha256 over the magic and the canonical JSON of the header fields (all but sha256
    itself), to be fed the templates next: what a version-2 header's sha256 covers."""
    covered = {k: header[k] for k in (*_HEADER_FIELDS, "embedder") if k in header}
    canonical = json.dumps(covered, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(MAGIC)
    digest.update(len(canonical).to_bytes(_LEN_BYTES, "little"))
    digest.update(canonical.encode("ascii"))
    return digest


def _stamp_of(head: bytes) -> str:
    """Identify a gallery file's content by its magic, length and header: the header's sha256
    pins the templates, so two files with one head hold one gallery."""
    return hashlib.sha256(head).hexdigest()


def _read_head(f: Any, size: int, path: Path) -> tuple[bytes, bytes]:
    """Magic with length, and the raw JSON header, of the gallery file open as ``f``."""
    lead = f.read(len(MAGIC) + _LEN_BYTES)
    if lead[: len(MAGIC)] not in (MAGIC, MAGIC_V1):
        raise _invalid(path, "it does not start with the gallery magic bytes")
    if len(lead) < len(MAGIC) + _LEN_BYTES:
        raise _invalid(path, "truncated header")
    header_len = int.from_bytes(lead[len(MAGIC) :], "little")
    if header_len > size - len(lead):
        raise _invalid(path, "truncated header")
    return lead, _read_exact(f, header_len)


def _file_stamp(path: Path) -> str | None:
    """The ``_stamp_of`` the gallery file at ``path``, or None when there is no file."""
    try:
        with open(path, "rb", buffering=0) as f:
            return _stamp_of(b"".join(_read_head(f, os.fstat(f.fileno()).st_size, path)))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}: {_FIX}") from None


def _read_file(path: Path) -> tuple[dict, np.ndarray, str]:
    """Read and verify a gallery file; return its header, templates and ``_stamp_of``. Any
    problem is a GalleryError naming the file."""

    def bad(reason: str) -> GalleryError:
        return _invalid(path, reason)

    try:
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            lead, raw = _read_head(f, size, path)
            version1 = lead.startswith(MAGIC_V1)
            header = _parse_header(raw, bad, strict=not version1)
            start = len(lead) + len(raw)
            data_start = start + (-start % _ALIGN)
            expected = data_start + header["count"] * header["dim"] * _DTYPE.itemsize
            if size != expected:
                raise bad(f"{size} bytes where the header implies {expected}; truncated or overwritten")
            if _read_exact(f, data_start - start).strip(b"\0"):
                raise bad("non-zero padding after the header")
            matrix = np.empty((header["count"], header["dim"]), _DTYPE)
            view = memoryview(matrix.reshape(-1).view(np.uint8))
            digest = hashlib.sha256() if version1 else _content_digest(header)
            # Hash each chunk on a second thread while the next one is read (both release
            # the GIL), so that loading takes about as long as reading the file.
            with ThreadPoolExecutor(1) as hasher:
                for off in range(0, len(view), _CHUNK_BYTES):
                    chunk = view[off : off + _CHUNK_BYTES]
                    if _readinto_exact(f, chunk) < len(chunk):
                        raise bad("truncated template data")
                    hasher.submit(digest.update, chunk)
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}: {_FIX}") from None
    if digest.hexdigest() != header["sha256"]:
        covered = "template data" if version1 else "header and template data"
        raise bad(f"{covered} do not match their sha256; the file is corrupt or was edited")
    return header, matrix, _stamp_of(lead + raw)


def _parse_header(raw: bytes, bad: Any, strict: bool) -> dict:
    """The checked header fields; ``strict`` (version 2) refuses fields the sha256 does not cover."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("header is not UTF-8 JSON") from None

    def is_int(x: Any) -> bool:
        return type(x) is int

    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    if strict and set(header) - {"embedder"} != {*_HEADER_FIELDS, "sha256"}:
        raise bad(f"header fields must be exactly {', '.join(_HEADER_FIELDS)}, sha256 and optionally embedder")
    dim, count, names, counts, sha = (header.get(k) for k in ("dim", "count", "names", "counts", "sha256"))
    if not (is_int(dim) and dim > 0 and is_int(count) and count >= 0):
        raise bad("dim or count missing or invalid")
    if not (isinstance(names, list) and all(isinstance(n, str) and n.strip() for n in names)):
        raise bad("names must be a list of non-blank strings")
    if len(set(names)) != len(names):
        raise bad("duplicate identity names")
    if not (isinstance(counts, list) and len(counts) == len(names) and all(is_int(c) and c > 0 for c in counts)):
        raise bad("counts must give a positive template count per name")
    if sum(counts) != count:
        raise bad("counts do not add up to count")
    if not _is_hex64(sha):
        raise bad("sha256 missing or invalid")
    if not strict:
        header.pop("embedder", None)  # version 1 has none: an unchecked one is not believed
    elif "embedder" in header:
        _check_embedder(header["embedder"], dim, bad)
    return header


def _is_hex64(value: Any) -> bool:
    """Whether ``value`` is a sha256 as the header writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _check_embedder(embedder: Any, dim: int, bad: Any) -> None:
    """A header's embedder fingerprint: exactly its four fields, for this file's dim."""
    if not (isinstance(embedder, dict) and set(embedder) == {"name", "sha256", "dim", "normalization"}):
        raise bad("embedder must hold exactly name, sha256, dim and normalization")
    name, sha, edim, norm = (embedder[k] for k in ("name", "sha256", "dim", "normalization"))
    if not (isinstance(name, str) and name.strip() and _is_hex64(sha) and type(edim) is int and edim == dim
            and norm in _NORMALIZATIONS):
        raise bad("embedder name, sha256, dim or normalization invalid")


def _read_exact(f: Any, n: int) -> bytes:
    buf = bytearray(n)
    got = _readinto_exact(f, memoryview(buf))
    return bytes(buf[:got])


def _readinto_exact(f: Any, view: memoryview) -> int:
    """Fill ``view`` from an unbuffered file (raw reads may return short); return bytes read."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got
