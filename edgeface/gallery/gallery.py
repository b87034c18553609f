"""The face gallery: named identities with L2-normalised templates, for 1:N search.

A gallery bound to a file lives on disk as two files (see base_file.py and journal.py):
the base file, written whole only by compaction and memory-mapped when opened, and the
journal beside it, to which every enrolment and removal is appended and fsync'd before the
call returns. Any number of processes may open one gallery: writers take turns under
``edgeface.fsutil.writer_lock`` and bring themselves up to date before each change, so no
enrolment is lost; every call that reads (``search``, ``identities``, ``len``...) first
takes in what other processes wrote since (a few microseconds when nothing changed), and
always sees a whole prefix of the acknowledged changes.

In memory, a gallery's rows are the base file's (``_fixed``, mapped) followed by the rows
enrolled since (``_extra``); removing an identity zeroes its template count and its rows
are skipped until the next compaction drops them.

Files of versions 1 and 2 (before the journal) still open; the first change to one writes
it as a version-3 base (legacy_file.py). numpy is the only import; FAISS is opt-in
(``use_faiss=True``, an exact flat index: it measured slower than numpy's matrix product
on a 2-core x86 machine, so it only pays where FAISS has more cores or a faster BLAS).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeface.errors import BackendUnavailableError, GalleryError
from edgeface.fsutil import remove_stale_temp_files, writer_lock
from edgeface.gallery import ann as ann_module
from edgeface.gallery import journal
from edgeface.gallery.api import GalleryAPI
from edgeface.gallery.base_file import BaseFile, new_journal_id, read_base, write_base
from edgeface.gallery.fileio import DTYPE, FIX, MAGIC_V3, read_head, stamp_of
from edgeface.gallery.fingerprint import EmbedderFingerprint, Match
from edgeface.gallery.legacy_file import read_legacy_file
from edgeface.gallery.names import check_name
from edgeface.gallery.ranking import best_identities, check_top_k, unit_rows
from edgeface.gallery.service_uri import is_service_uri

COMPACT_BYTES = 1 << 26  # a journal past 64 MiB is compacted by the write that grew it
_SCORE_BLOCK = 1 << 25  # most (query x template) scores held at once by the numpy search


class Gallery(GalleryAPI):
    """Identities, each with one or more templates, searchable by cosine similarity.

    ``path``: the gallery's file; its contents are read on first use and every change is
    written to it durably (see the module docstring). Without one the gallery lives in
    memory until ``save(path)``.
    ``use_faiss``: True searches exactly with a FAISS flat index (FAISS must be
    installed), False (the default) with numpy, None with FAISS when it is importable.
    ``ann``: the approximate index over the base file's rows (ann.py), its candidates
    re-ranked exactly: None (the default) when FAISS is importable and the base holds at
    least ``ann.MIN_ROWS`` templates, True whenever there is a base (FAISS must be
    installed), False never. Rows enrolled since the base was written are searched exactly.
    """

    def __init__(self, dim: int, path: str | Path | None = None, *, use_faiss: bool | None = False,
                 embedder: EmbedderFingerprint | None = None, ann: bool | None = None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise GalleryError(f"dim must be a positive integer, got {dim!r}")
        self._dim = int(dim)
        self.path = Path(path) if path is not None else None
        self._faiss = _import_faiss(use_faiss, "use_faiss")
        self._ann_wanted = ann
        self._ann_faiss = _import_faiss(ann, "ann") if ann else None  # imported when first wanted if None
        self._embedder: EmbedderFingerprint | None = None
        self._embedder_on_file = False  # whether the file (base or journal) records _embedder
        self._seen: tuple | None = None  # _disk_key of the files when last taken in
        self._clear(None, None, np.empty((0, self._dim), DTYPE), [], [])
        if embedder is not None:
            self.bind(embedder)

    def _clear(self, base: BaseFile | None, stamp: str | None, fixed: np.ndarray, names: list[str] | None,
               counts: Any) -> None:
        """Hold ``fixed`` rows of identities ``counts`` (named by ``names`` or the base) and nothing else."""
        self._base = base
        self._stamp = stamp  # the stamp of the base file taken in (any version); None: no file yet
        self._journal_id = base.journal if base else None  # None: no version-3 base, so no journal
        self._journal_end = 0  # offset after the last journal record taken in
        self._fixed = fixed
        self._fixed_names = base.name if base else names.__getitem__
        self._first_new = len(counts)  # identities from here on are named by _new_names
        self._new_names: list[str] = []
        self._count_buf = np.array(counts, np.int64)  # templates per identity (0: removed), then spare room
        self._identities = len(counts)
        self._fixed_owner = np.repeat(np.arange(len(counts), dtype=np.int32), self._count_buf)
        self._extra = np.empty((0, self._dim), DTYPE)
        self._extra_owner = np.empty(0, np.int32)
        self._extra_n = 0
        self._n = len(fixed)
        self._ids: dict[str, int] | None = None  # name -> identity, built when first needed
        self._removed_any = False
        self._dead: np.ndarray | None = None  # row numbers of removed identities, when computed
        self._max_count: int | None = None  # most templates of one identity, when computed
        self._index: Any = None  # the FAISS index, built on first search after a change
        self._ann: ann_module.AnnIndex | None = None  # the approximate index of this base, once wanted

    @property
    def _counts(self) -> np.ndarray:
        return self._count_buf[: self._identities]

    # ----------------------------------------------------------------- basics

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        self._refresh()
        return self._n

    def __contains__(self, name: object) -> bool:
        self._refresh()
        return isinstance(name, str) and name in self._name_index()

    @property
    def embedder(self) -> EmbedderFingerprint | None:
        """The embedder that made the templates, or None when the gallery records none."""
        return self._embedder

    def bind(self, embedder: EmbedderFingerprint) -> None:
        """Refuse a gallery made by another embedder than ``embedder``; one that records
        none adopts it (and records it with its next change)."""
        if embedder.dim != self._dim:
            raise GalleryError(
                f"{self.path or 'the gallery'} holds {self._dim}-d templates but this model embeds "
                f"{embedder.dim}-d: use a gallery made with the same model"
            )
        self._refresh()
        if self._embedder is None:
            self._embedder = embedder
        elif not self._embedder.same_model(embedder):
            raise GalleryError(
                f"{self.path or 'the gallery'} was enrolled with embedder {self._embedder.label()}, not this "
                f"bundle's {embedder.label()}: re-enroll the gallery with this bundle, or use the bundle that made it"
            )

    def identities(self) -> list[tuple[str, int]]:
        """(name, number of templates) for every identity, in enrollment order."""
        self._refresh()
        return [(self._name(i), int(c)) for i, c in enumerate(self._counts) if c]

    def templates(self, name: str) -> np.ndarray:
        """A copy of ``name``'s templates (unit rows), in enrolment order."""
        self._refresh()
        self._check_present(name)
        idx = self._name_index()[name]
        return self._rows_at(np.flatnonzero(self._owners(np.arange(self._all_rows())) == idx))

    def verify(self) -> None:
        """Wait until the base file's templates are checked against their sha256 (opening
        checks everything else, and starts this on a background thread); raise if they
        do not match."""
        self._refresh()
        if self._base is not None:
            self._base.check.wait()

    def __repr__(self) -> str:
        return (f"Gallery(dim={self._dim}, identities={int((self._counts > 0).sum())}, templates={self._n}, "
                f"path={self.path})")

    def __reduce__(self) -> tuple:
        """Pickle as a copy in memory, bound to no file: what another process (a Ray actor
        on any node) needs to search. The copy does not see later changes."""
        self._refresh()
        alive = np.flatnonzero(self._counts)
        snapshot = (self._dim, self._embedder, [self._name(i) for i in alive.tolist()], self._counts[alive],
                    self._rows_at(self._file_order()))
        return from_rows, snapshot

    def _name(self, identity: int) -> str:
        if identity < self._first_new:
            return self._fixed_names(identity)
        return self._new_names[identity - self._first_new]

    def _name_index(self) -> dict[str, int]:
        """name -> identity of every identity present (built on first use: 0.3 s at 1M)."""
        if self._ids is None:
            ids = {self._name(i): i for i in np.flatnonzero(self._counts).tolist()}
            if len(ids) != int((self._counts > 0).sum()):
                raise GalleryError(f"{self.path} holds one identity name twice: {FIX}")
            self._ids = ids
        return self._ids

    # ----------------------------------------------------------------- changes

    def enroll(self, name: str, embeddings: Any, *, embedder: EmbedderFingerprint | None = None) -> int:
        """Add one template per row of ``embeddings`` to ``name``; return its template count.

        Names are printable text of at most ``MAX_NAME_CHARS`` characters: no control
        characters, bidi overrides or undecodable bytes (see ``names.check_name``).
        ``embedder``, the model that made the rows, is checked with ``bind`` first; raw
        arrays need none. With a file, the enrolment is on disk when this returns.
        """
        check_name(name)
        rows = unit_rows(embeddings, self._dim, "embeddings")
        if embedder is not None:
            self.bind(embedder)
        return self._change(lambda jid: journal.enroll_record(jid, name, rows), lambda: self._append(name, rows))

    def remove(self, name: str) -> int:
        """Delete ``name`` and all its templates; return how many templates went."""

        def record(jid: str) -> bytes:
            self._check_present(name)
            return journal.remove_record(jid, name)

        def drop() -> int:
            self._check_present(name)
            return self._drop(name)

        return self._change(record, drop)

    def _check_present(self, name: str) -> None:
        if name not in self._name_index():
            raise GalleryError(f"no identity named {name!r} in the gallery")

    def _change(self, record: Callable[[str], bytes], apply: Callable[[], int]) -> int:
        """Apply one change, first appending ``record(journal id)`` to the journal when the
        gallery has a file (up to date with it, under its writer lock)."""
        if self.path is None:
            return apply()
        try:
            with writer_lock(self.path):
                self._take_in_files(locked=True)
                if self._journal_id is None:  # no file yet, or one before version 3: write the base first
                    self._compact_locked()
                if self._journal_end == 0:  # none yet beside this base, or a stale one (see journal.py)
                    journal.create_journal(self.path, self._journal_id)
                    self._journal_end = journal.HEAD_BYTES
                data = record(self._journal_id)
                if self._embedder is not None and not self._embedder_on_file:
                    data = journal.embedder_record(self._journal_id, self._embedder) + data
                self._journal_end = journal.append(self.path, self._journal_end, data)
                self._embedder_on_file = self._embedder is not None
                result = apply()
                self._seen = _disk_key(self.path)
                if self._journal_end > COMPACT_BYTES:
                    self._compact_locked()
        except OSError as exc:
            raise GalleryError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return result

    def _append(self, name: str, rows: np.ndarray) -> int:
        """Add already checked unit ``rows`` to ``name``; return its template count."""
        ids = self._name_index()
        idx = ids.get(name)
        if idx is None:
            idx = ids[name] = self._identities
            if idx == len(self._count_buf):
                self._count_buf = _grown(self._count_buf, idx, (max(64, idx * 3 // 2),))
            self._count_buf[idx] = 0
            self._identities += 1
            self._new_names.append(name)
        need = self._extra_n + len(rows)
        if need > len(self._extra):  # grow geometrically: enrolling costs O(new rows), amortised
            cap = max(need, len(self._extra) * 3 // 2, 64)
            self._extra = _grown(self._extra, self._extra_n, (cap, self._dim))
            self._extra_owner = _grown(self._extra_owner, self._extra_n, (cap,))
        self._extra[self._extra_n : need] = rows
        self._extra_owner[self._extra_n : need] = idx
        self._extra_n = need
        self._n += len(rows)
        self._count_buf[idx] += len(rows)
        if self._max_count is not None:
            self._max_count = max(self._max_count, int(self._count_buf[idx]))
        self._index = None
        return int(self._count_buf[idx])

    def _drop(self, name: str) -> int:
        idx = self._name_index().pop(name)
        removed = int(self._count_buf[idx])
        self._count_buf[idx] = 0
        self._n -= removed
        self._removed_any = True
        self._dead = self._max_count = None
        self._index = None
        return removed

    def _apply(self, record: journal.Record) -> None:
        """Take in a record another writer (or an earlier run) appended."""
        if record.op == journal.ENROLL:
            self._append(record.name, record.rows)
        elif record.op == journal.REMOVE:
            if record.name not in self._name_index():
                raise GalleryError(f"{journal.journal_path(self.path)} removes {record.name!r}, "
                                   f"which it does not hold: {FIX}")
            self._drop(record.name)
        else:
            if self._embedder is not None and not self._embedder.same_model(record.embedder):
                raise GalleryError(f"{journal.journal_path(self.path)} records a second embedder: {FIX}")
            self._embedder, self._embedder_on_file = record.embedder, True

    # ----------------------------------------------------------------- search

    def search(self, queries: Any, top_k: int = 5, threshold: float | None = None) -> list[list[Match]]:
        """The ``top_k`` best identities per query, most similar first.

        An identity scores the cosine similarity of its best template; identities below
        ``threshold`` are dropped. Returns one list per query (one list for a 1-D query).
        """
        check_top_k(top_k)
        q = unit_rows(queries, self._dim, "queries")
        self._refresh()
        if self._n == 0:
            return [[] for _ in q]
        # The best top_k identities always lie among the best top_k * T templates, T being
        # the most templates any identity has: those rows cover at least top_k identities,
        # each scoring at least as high as any row left out.
        if self._max_count is None:
            self._max_count = int(self._counts.max())
        k = min(self._n, int(top_k) * self._max_count)
        cosine = ann_module.DEFAULT_COSINE if threshold is None else float(threshold)
        if self._ann_usable(cosine):
            sims, rows = self._ann_top(q, k)
        else:
            sims, rows = self._faiss_top(q, k) if self._faiss else self._numpy_top(q, k)
        return [self._best_identities(s, r, int(top_k), threshold) for s, r in zip(sims, rows)]

    def build_index(self, threshold: float = ann_module.DEFAULT_COSINE) -> None:
        """Build (or load) the approximate index of the base file now, calibrated for
        searches at ``threshold`` and above, and save it, rather than in the background on
        the first search that wants it. Needs ``ann`` not False and FAISS; raises when
        the build fails."""
        self._refresh()
        if self._ann_wanted is False:
            raise GalleryError("build_index: this gallery was opened with ann=False")
        if self._base is None:
            raise GalleryError("build_index: the gallery has no version-3 base file yet: call save() first")
        self._ann_faiss = self._ann_faiss or _import_faiss(True, "build_index")
        self._ann = self._ann or ann_module.AnnIndex(self._ann_faiss, self.path, self._stamp, self._fixed)
        if not self._ann.usable(threshold):
            self._ann.wait()
        if not self._ann.usable(threshold):
            raise GalleryError(self._ann.error or "the gallery's search index is not ready")

    def _ann_usable(self, cosine: float) -> bool:
        """Whether the approximate index can serve a search at ``cosine``; starts loading,
        building or re-calibrating it when the gallery wants one (see ``ann``)."""
        if self._ann is None:
            least = 1 if self._ann_wanted else ann_module.MIN_ROWS
            if self._ann_wanted is False or self._base is None or len(self._fixed) < least:
                return False
            self._ann_faiss = self._ann_faiss or _import_faiss(None, "ann")
            if self._ann_faiss is None:
                return False
            self._ann = ann_module.AnnIndex(self._ann_faiss, self.path, self._stamp, self._fixed)
        return self._ann.usable(cosine)

    def _ann_top(self, q: np.ndarray, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """As _numpy_top, from the index's candidates in the base plus every row enrolled
        since, all re-ranked with their float32 templates."""
        fixed = len(self._fixed)
        candidates = self._ann.candidates(q, max(ann_module.CANDIDATES, 2 * k))
        since = np.arange(fixed, self._all_rows())
        dead = self._dead_rows()
        sims, rows = [], []
        for query, found in zip(q, candidates):
            mine = np.concatenate([found[found >= 0], since]) if len(since) else found[found >= 0]
            if dead is not None:
                mine = mine[~np.isin(mine, dead)]
            scores = self._rows_at(mine) @ query
            order = np.argsort(-scores, kind="stable")[:k]
            sims.append(scores[order])
            rows.append(mine[order])
        return sims, rows

    def _all_rows(self) -> int:
        return len(self._fixed) + self._extra_n

    def _owners(self, rows: np.ndarray) -> np.ndarray:
        """The identity of each row number (fixed rows first, then extra)."""
        fixed = len(self._fixed)
        owners = np.empty(rows.shape, np.int64)
        low = rows < fixed
        owners[low] = self._fixed_owner[rows[low]]
        owners[~low] = self._extra_owner[rows[~low] - fixed]
        return owners

    def _dead_rows(self) -> np.ndarray | None:
        """Row numbers of removed identities, or None when nothing was removed."""
        if not self._removed_any:
            return None
        if self._dead is None:
            self._dead = np.flatnonzero(self._counts[self._owners(np.arange(self._all_rows()))] == 0)
        return self._dead

    def _numpy_top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per query, the k most similar rows and their similarities, best first."""
        total = self._all_rows()
        dead = self._dead_rows()
        sims, rows = [], []
        step = max(1, _SCORE_BLOCK // total)
        for start in range(0, len(q), step):
            block = q[start : start + step]
            scores = np.concatenate([block @ self._fixed.T, block @ self._extra[: self._extra_n].T], axis=1)
            if dead is not None:
                scores[:, dead] = -np.inf
            top = np.argpartition(scores, total - k, axis=1)[:, total - k :]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            rows.append(np.take_along_axis(top, order, axis=1))
            sims.append(np.take_along_axis(top_scores, order, axis=1))
        return np.concatenate(sims), np.concatenate(rows)

    def _faiss_top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As _numpy_top, over a FAISS flat index of every row; removed rows are skipped."""
        if self._index is None:
            index = self._faiss.IndexFlatIP(self._dim)
            index.add(self._fixed)
            index.add(self._extra[: self._extra_n])
            self._index = index
        dead = self._dead_rows()
        sims, rows = self._index.search(q, k + (0 if dead is None else len(dead)))
        if dead is None:
            return sims, rows
        keep = ~np.isin(rows, dead)
        return (np.stack([s[m][:k] for s, m in zip(sims, keep)]), np.stack([r[m][:k] for r, m in zip(rows, keep)]))

    def _best_identities(
        self, sims: np.ndarray, rows: np.ndarray, top_k: int, threshold: float | None
    ) -> list[Match]:
        return best_identities(self._owners(rows), sims, top_k, threshold, self._name)

    # ----------------------------------------------------------------- files

    @classmethod
    def open(cls, path: str | Path, dim: int | None = None, *, use_faiss: bool | None = False,
             embedder: EmbedderFingerprint | None = None, ann: bool | None = None) -> GalleryAPI:
        """The gallery at ``path``, or an empty one bound to it if there is no file yet.

        ``dim`` is the model's embedding size: required for a new file, and checked
        against an existing one. ``embedder``, when given, is checked and adopted as
        ``bind`` does. A vector database's URI (service_uri.py) opens the gallery held
        there instead, a ``MilvusGallery`` with the same API (``use_faiss`` and ``ann``
        do not apply: the database searches).
        """
        if is_service_uri(path):
            from edgeface.gallery.milvus import MilvusGallery

            return MilvusGallery.open(path, dim, embedder=embedder)
        path = Path(path)
        key = _disk_key(path)
        found = _read_base(path)
        if found is None:
            if dim is None:
                raise GalleryError(
                    f"{path} does not exist: pass the model's embedding dim to start a new gallery there"
                )
            return cls(dim, path, use_faiss=use_faiss, embedder=embedder, ann=ann)
        file_dim = found[0]
        if dim is not None and file_dim != dim:
            raise GalleryError(
                f"{path} holds {file_dim}-d templates but this model embeds {dim}-d: "
                "use a gallery made with the same model, or a new file"
            )
        gallery = cls(file_dim, path, use_faiss=use_faiss, ann=ann)
        gallery._take_in_files(found, key)
        if embedder is not None:
            gallery.bind(embedder)
        return gallery

    def compact(self) -> None:
        """Write everything into a new base file and start an empty journal: what a change
        does by itself once the journal passes ``COMPACT_BYTES``."""
        if self.path is None:
            raise GalleryError("this gallery has no file: pass a path to save()")
        try:
            with writer_lock(self.path):
                self._take_in_files(locked=True)
                self._compact_locked()
        except OSError as exc:
            raise GalleryError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def save(self, path: str | Path | None = None) -> None:
        """Compact the gallery's own file (changes are on disk already), or write the
        gallery as it is to ``path``, replacing what was there, and bind it to that file."""
        if path is None or (self.path is not None and os.path.abspath(path) == os.path.abspath(self.path)):
            return self.compact()
        self._refresh()
        target = Path(path)
        try:
            with writer_lock(target):
                self._write_files(target)
        except OSError as exc:
            raise GalleryError(f"cannot write {target}: {exc.strerror or exc}") from None
        self.path, self._seen = target, None
        self._refresh()

    def _compact_locked(self) -> None:
        remove_stale_temp_files(self.path)
        remove_stale_temp_files(journal.journal_path(self.path))
        self._write_files(self.path)
        self._seen = None
        self._take_in_files(locked=True)

    def _write_files(self, target: Path) -> None:
        """A new base at ``target`` holding this gallery, then a new empty journal for it."""
        order = self._file_order()
        alive = np.flatnonzero(self._counts)
        new_id = new_journal_id()
        write_base(target, dim=self._dim, names=[self._name(i) for i in alive.tolist()],
                   counts=self._counts[alive], rows=lambda a, b: self._rows_at(_part(order, a, b)),
                   embedder=self._embedder, journal=new_id)
        journal.create_journal(target, new_id)

    def _file_order(self) -> np.ndarray | slice:
        """Row numbers of the templates present, grouped by identity in identity order."""
        if not self._removed_any and self._extra_n == 0:
            return slice(None)
        owners = self._owners(np.arange(self._all_rows()))
        order = np.argsort(owners, kind="stable")
        return order[self._counts[owners[order]] > 0]

    def _rows_at(self, rows: np.ndarray | slice) -> np.ndarray:
        if isinstance(rows, slice) or self._extra_n == 0:
            return self._fixed[rows]
        fixed = len(self._fixed)
        out = np.empty((len(rows), self._dim), DTYPE)
        low = rows < fixed
        out[low] = self._fixed[rows[low]]
        out[~low] = self._extra[rows[~low] - fixed]
        return out

    def _refresh(self) -> None:
        """Take in what other writers changed since (nothing to do without a file)."""
        if self.path is None:
            return
        self._check_base()
        if _disk_key(self.path) != self._seen:
            self._take_in_files()

    def _check_base(self) -> None:
        if self._base is not None:
            self._base.check.raise_if_failed()

    def _take_in_files(self, found: tuple | None = None, key: tuple | None = None, locked: bool = False) -> None:
        """Load the base file when it changed since, then the journal records past what
        was taken in. Stats first, so that a change during the reads is seen next time.
        Without the writer lock (``locked``) a compaction may replace both files between
        the two reads: the journal then looks foreign, and the next call takes in both."""
        self._check_base()
        key = key or _disk_key(self.path)
        found = found or _read_base(self.path, self._stamp)
        if found is not None:
            dim, base, fixed, names, counts, embedder, stamp = found
            if dim != self._dim:
                raise GalleryError(f"{self.path} holds {dim}-d templates, not {self._dim}-d: "
                                   "use a gallery made with the same model, or a new file")
            adopted = None if self._embedder_on_file else self._embedder  # bound here, not yet written
            if embedder is not None and adopted is not None and not embedder.same_model(adopted):
                raise GalleryError(f"{self.path} was enrolled with embedder {embedder.label()}, not "
                                   f"{adopted.label()}: re-enroll the gallery, or use the bundle that made it")
            self._clear(base, stamp, fixed, names, counts)
            self._embedder, self._embedder_on_file = embedder or adopted, embedder is not None
        if self._journal_id is not None:
            replay = journal.read_records(self.path, self._journal_id, self._journal_end, self._dim)
            if replay is not None:
                for record in replay.records:
                    self._apply(record)
                self._journal_end = replay.end
            elif locked and self._journal_end > journal.HEAD_BYTES:
                raise GalleryError(f"{journal.journal_path(self.path)} was deleted or replaced after its records "
                                   f"were read, leaving {self.path} behind: restore it, or restore both from backup")
        self._seen = key


def from_rows(dim: int, embedder: EmbedderFingerprint | None, names: list[str], counts: np.ndarray,
              rows: np.ndarray) -> Gallery:
    """A gallery in memory holding ``rows`` as they are (unit float32, already checked):
    the first ``counts[0]`` belong to ``names[0]``, and so on."""
    gallery = Gallery(dim, embedder=embedder)
    gallery._clear(None, None, rows, names, counts)
    return gallery


def _part(order: np.ndarray | slice, start: int, stop: int) -> np.ndarray | slice:
    return slice(start, stop) if isinstance(order, slice) else order[start:stop]


def _grown(array: np.ndarray, used: int, shape: tuple) -> np.ndarray:
    grown = np.empty(shape, array.dtype)
    grown[:used] = array[:used]
    return grown


def _disk_key(path: Path) -> tuple:
    """What changes when another writer touches the gallery's files."""
    return tuple(_stat_key(p) for p in (path, journal.journal_path(path)))


def _stat_key(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}: {FIX}") from None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read_base(path: Path, known_stamp: str | None = None) -> tuple | None:
    """The base file at ``path``: (dim, BaseFile or None, rows, names or None, counts,
    embedder, stamp); None when there is no file or it is still the one stamped ``known_stamp``."""
    try:
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            lead, raw = read_head(f, size, path)
            if known_stamp is not None and stamp_of(lead + raw) == known_stamp:
                return None
            if lead.startswith(MAGIC_V3):
                base = read_base(f, size, lead, raw, path)
                return base.dim, base, base.templates, None, base.counts, base.embedder, base.stamp
            header, matrix, stamp = read_legacy_file(f, size, lead, raw, path)
            return (header["dim"], None, matrix, header["names"], header["counts"], header.get("embedder"), stamp)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GalleryError(f"cannot read {path}: {exc.strerror or exc}: {FIX}") from None


def _import_faiss(wanted: bool | None, option: str) -> Any:
    """FAISS when ``wanted`` (True: required, None: if installed), else None."""
    if wanted is False:
        return None
    try:
        import faiss
    except ImportError:
        if wanted:
            raise BackendUnavailableError(f"{option}=True needs FAISS: pip install faiss-cpu") from None
        return None
    return faiss
