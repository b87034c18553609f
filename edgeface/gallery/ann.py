"""The approximate index over a gallery's base rows, for search at city scale.

FAISS ``IVF{lists}_HNSW32,RaBitQ`` with inner-product metric: an inverted file whose
coarse quantizer is an HNSW graph over the list centroids, and list entries stored as
RaBitQ codes (one bit a dimension plus three floats: 72 bytes a 512-d template, about 90
with its id and the graph, against 2,048 for float32), scanned against the query
quantized to 8 bits. Chosen by scripts/bench_ann_choice.py and by the calibration below
on face-like data (identity centres plus noise): a flat HNSW graph (FAISS or usearch)
fell to 0.97 recall at any affordable ef, and hnswlib holds float32 only (4x the memory).
At 1M x 512 (spread 0.5, 4096 lists) RaBitQ lists pass both calibration rules at the
same 45 probes as 8-bit scalar-quantized lists, and FAISS scans them in 0.38 ms a query
against 0.88 (2 threads): the probes are set by where a match at the threshold lies, not
by how finely its code ranks, and RaBitQ's estimate of each cosine is unbiased with an
error bound. 4-bit fast-scan product quantization (32 bytes a template) ranked too
coarsely where many templates lie near a query: it missed the nearest other template of
2 to 5 in 12 such "crowded" templates, even with 16x its candidates re-ranked.

Only exact scores decide. The index proposes candidates; their similarities are computed
from the float32 templates, so an index can cost recall, never a wrong score. Recall at
the threshold is what makes an accept/reject the same as exact search's, and it depends
on the threshold and on how the gallery's templates spread, so it is measured on the
gallery itself: ``calibrate`` raises the lists probed per query until synthetic queries
at the threshold find their templates, and an index is used only for searches at or
above the cosine it was calibrated for (searches stay exact while a job runs).

The index is derived data: it covers the rows of one base file (named by the base's
stamp, so a compaction makes it stale), is built in the background by the first search
that wants it, or on demand (``Gallery.build_index``), and is saved beside the gallery as
``.NAME.STAMP.cCOSINE.ann`` (mode 0600) and memory-mapped when opened. A file FAISS cannot
read is built over; one crafted to crash FAISS is out of scope, as whoever can write the
gallery's directory can replace the gallery itself.
"""

from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from edgeface.fsutil import atomic_write
from edgeface.gallery.fileio import FILE_MODE, row_step

MIN_ROWS = 50_000  # below this exact numpy search takes a few ms: no index pays for its build
CANDIDATES = 128  # rows re-ranked exactly per query, at least (2 x the rows the identities need, if more)
# k-means time grows as lists x training rows (64 a list), so as lists squared: at 16,384 lists
# a 10M x 512 build took 24 minutes on 2 cores
MAX_LISTS = 16_384
_TRAIN_PER_LIST = 64  # training rows per inverted list (FAISS asks for at least 39)
# k-means iterations for the list centroids: FAISS's default 25 took 2.6x as long at 1M x 512
# (8192 lists: 664 s against 254 s) for the same calibrated probes and at-threshold misses
_KMEANS_ITERATIONS = 10
# bits of each query's RaBitQ estimate: FAISS's default 4 scanned 10 % faster at 1M and passed
# the same calibration, 8 halves its rounding error for the crowded cases that decide accepts
_QUERY_BITS = 8
# RaBitQ proposes 1, 2, 4 or 8 times the candidates asked for (the fewest that pass the
# calibration), and 8-bit scalar-quantized copies of the templates (kept in RAM) re-rank
# them to the count asked: alone, RaBitQ's 1-bit estimates lost a crowded template's
# nearest neighbour among the many rows just as close at 10M x 512 (no probe count passed
# the calibration), where 8-bit codes did not; at 1M one times passes, and each doubling
# costs a query about 0.15 ms more
REFINE_FACTORS = (1, 2, 4, 8)
PROBES, PROBE_RECALL = 400, 0.995  # see calibrate
DEFAULT_COSINE = 0.6  # what a search without a threshold is calibrated for


def index_path(gallery: Path, stamp: str, cosine: float) -> Path:
    """Where the index of the base stamped ``stamp``, calibrated for ``cosine``, is saved."""
    return gallery.with_name(f".{gallery.name}.{stamp[:16]}.c{round(cosine * 1000):04d}.ann")


def _saved_indexes(gallery: Path) -> list[tuple[str, float, Path]]:
    """(stamp prefix, calibrated cosine, path) of every index saved for this gallery."""
    pattern = re.compile(re.escape(f".{gallery.name}.") + r"([0-9a-f]{16})\.c(\d{4})\.ann")
    found = []
    for name in os.listdir(gallery.parent):
        match = pattern.fullmatch(name)
        if match:
            found.append((match[1], int(match[2]) / 1000, gallery.parent / name))
    return found


def _lists(rows: int) -> int:
    """About 4 sqrt(N) inverted lists (4096 at 1M), a power of two, each trained on at
    least the 39 rows FAISS asks for, and at most MAX_LISTS. Finer lists did not pay: at
    1M x 512, 8192 lists needed as many rows scanned (91 probes against 45 of 4096) and
    took 1.5 ms a query against 1.05 (FAISS alone), their graph search costing more."""
    wanted = round(math.log2(4 * math.sqrt(max(rows, 1))))
    most = math.floor(math.log2(max(rows // 39, 1)))
    return 1 << max(0, min(wanted, most, MAX_LISTS.bit_length() - 1))


class AnnIndex:
    """The index of one base file's rows, for queries whose matches lie at or above some
    cosine: loaded if saved, else built (and calibrated) on a daemon thread. A search at a
    lower threshold than the index was calibrated for re-calibrates it, also in the
    background; until a job is done, ``usable`` says False and the gallery searches
    exactly, so no accept is missed in the meantime."""

    def __init__(self, faiss: Any, gallery: Path, stamp: str, rows: np.ndarray):
        self._faiss, self._rows, self._gallery, self._stamp = faiss, rows, gallery, stamp
        self._index, self.cosine = self._load()
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # why the last job failed (searches stay exact)

    def usable(self, cosine: float) -> bool:
        """Whether the index finds every match at ``cosine`` or above; when it cannot yet,
        start the job that will (a build, or a re-calibration), unless one runs or failed."""
        if self._index is not None and self.cosine <= cosine:
            return True
        if self.error is None and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._job, args=(cosine,), name="edgeface-gallery-ann", daemon=True)
            self._thread.start()
        return False

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def candidates(self, queries: np.ndarray, count: int) -> np.ndarray:
        """Per query, up to ``count`` row numbers of the base (-1 pads), roughly best first.
        One query's lists are scanned by every thread (FAISS's parallel_mode 1: a third
        less time at 1M on 2 cores); a batch keeps one query per thread. Two threads
        searching at once may see each other's mode: either gives the same rows."""
        self._faiss.extract_index_ivf(self._index).parallel_mode = 1 if len(queries) == 1 else 0
        _, rows = _searcher(self._faiss, self._index).search(np.ascontiguousarray(queries, np.float32),
                                                             min(count, len(self._rows)))
        return rows

    def _load(self) -> tuple[Any, float]:
        """The saved index of these rows calibrated for the lowest cosine, with that
        cosine; (None, 1.0) when there is none (a file that FAISS cannot read or that
        covers other rows is built over)."""
        flags = self._faiss.IO_FLAG_MMAP_IFC | self._faiss.IO_FLAG_READ_ONLY
        for stamp, cosine, path in sorted(_saved_indexes(self._gallery), key=lambda found: found[1]):
            if stamp != self._stamp[:16]:
                continue
            try:
                index = self._faiss.read_index(str(path), flags)
            except RuntimeError:
                continue
            if index.ntotal == len(self._rows) and index.d == self._rows.shape[1]:
                return index, cosine
        return None, 1.0

    def _job(self, cosine: float) -> None:
        try:
            index = self._index
            if index is None:
                index = build(self._faiss, self._rows)
            calibrate(self._faiss, index, self._rows, cosine)
            path = index_path(self._gallery, self._stamp, cosine)
            save(self._faiss, index, path)
            for *_, other in _saved_indexes(self._gallery):
                if other != path:
                    other.unlink(missing_ok=True)  # earlier bases' or calibrations' (edgeface's own files)
        except (RuntimeError, MemoryError, OSError) as exc:
            self.error = f"cannot build the gallery's search index ({exc}): searching exactly"
            return
        self._index, self.cosine = index, cosine


def build(faiss: Any, rows: np.ndarray) -> Any:
    """Train and fill an index over ``rows`` (unit float32; a memory map is read in chunks)."""
    count, dim = rows.shape
    lists = _lists(count)
    index = faiss.index_factory(dim, f"IVF{lists}_HNSW32,RaBitQ,Refine(SQ8)", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    ivf.cp.niter = _KMEANS_ITERATIONS
    ivf.qb = _QUERY_BITS  # saved with the index
    sample = np.sort(np.random.default_rng(0).choice(count, min(count, lists * _TRAIN_PER_LIST), replace=False))
    index.train(np.ascontiguousarray(rows[sample]))
    step = row_step(dim)
    for start in range(0, count, step):
        index.add(np.ascontiguousarray(rows[start : start + step]))
    return index


def calibrate(faiss: Any, index: Any, rows: np.ndarray, cosine: float) -> int:
    """Probe the fewest lists (32, 45, 64, 91, ... all), and at that the fewest RaBitQ
    candidates re-ranked (``REFINE_FACTORS``), with which two kinds of query at the
    threshold find their match among the CANDIDATES: ``PROBES`` templates each turned
    away from itself to ``cosine`` in a random direction (a match alone in its region;
    ``PROBE_RECALL`` of them must find their template), and the same templates as
    queries whose nearest other template lies at ``cosine`` or above (a match among
    near-equal rows, where a stranger's best impostor lies; every one must find that
    neighbour, as a miss there is an accept that exact search makes and the index does
    not). How many lists that takes depends on the threshold and on how the gallery's
    templates spread, which only the gallery can say: on 100k face-like templates, from
    32 of 1024 (structured 512-d data, cosine 0.6) to 512 (weakly structured 128-d).
    Returns the probes (the factor is set on the index, and saved with it)."""
    rng = np.random.default_rng(1)
    picked = np.sort(rng.choice(len(rows), min(len(rows), PROBES), replace=False))
    queries = threshold_queries(rows[picked], cosine, rng)
    neighbour, similarity = _nearest_others(rows, picked)
    crowded = similarity >= cosine
    own_rows = np.ascontiguousarray(rows[picked[crowded]])
    lists = faiss.extract_index_ivf(index).nlist
    factors = REFINE_FACTORS if hasattr(index, "k_factor") else (None,)  # a refining index, or an older plain one
    probe = min(32, lists)
    while True:
        _set_probes(faiss, index, probe)
        for factor in factors:
            if factor is not None:
                index.k_factor = factor
            searcher = _searcher(faiss, index)
            _, found = searcher.search(queries, CANDIDATES)
            alone = np.mean((found == picked[:, None]).any(axis=1))
            near = True
            if crowded.any():
                _, found = searcher.search(own_rows, CANDIDATES + 1)  # the query's own row comes first
                near = bool((found == neighbour[crowded, None]).any(axis=1).all())
            if (probe >= lists and factor == factors[-1]) or (alone >= PROBE_RECALL and near):
                return probe
        probe = min(lists, max(probe + 1, round(probe * math.sqrt(2))))  # steps of 1.4x, not 2x: probes are scan time


def _searcher(faiss: Any, index: Any) -> Any:
    """What to search: a refining index that re-ranks only the candidates asked for (factor
    1) costs a pass over them for nothing, as the gallery re-ranks them exactly anyway."""
    if getattr(index, "k_factor", None) == 1:
        return faiss.downcast_index(index.base_index)
    return index


def _nearest_others(rows: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each picked row, the most similar other row and its cosine (exact, in chunks)."""
    queries = np.ascontiguousarray(rows[picked]).T
    best = np.full(len(picked), -1, np.int64)
    similarity = np.full(len(picked), -np.inf, np.float32)
    step = row_step(rows.shape[1])
    for start in range(0, len(rows), step):
        scores = np.asarray(rows[start : start + step]) @ queries
        own = (picked >= start) & (picked < start + len(scores))
        scores[picked[own] - start, np.flatnonzero(own)] = -np.inf
        top = scores.argmax(axis=0)
        better = scores[top, np.arange(len(picked))] > similarity
        best[better], similarity[better] = start + top[better], scores[top, np.arange(len(picked))][better]
    return best, similarity


def threshold_queries(templates: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """Each unit template turned away from itself to exactly ``cosine``, in a random
    direction: the hardest query that is still an accept at that threshold (float32)."""
    templates = np.asarray(templates, np.float64)
    away = rng.standard_normal(templates.shape)
    away -= (away * templates).sum(axis=1, keepdims=True) * templates
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    return (cosine * templates + math.sqrt(max(0.0, 1 - cosine**2)) * away).astype(np.float32)


def _set_probes(faiss: Any, index: Any, probe: int) -> None:
    """Probe ``probe`` lists per query, their centroids found by a graph search that keeps
    twice as many candidates (its default of 16 would cap what the probes can find)."""
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = probe
    faiss.downcast_index(ivf.quantizer).hnsw.efSearch = max(16, 2 * probe)


def save(faiss: Any, index: Any, path: Path) -> None:
    """Write ``index`` atomically, streamed (a 10M index is 5 GB: no copy of it in memory)."""
    atomic_write(path, lambda handle: faiss.write_index(index, faiss.PyCallbackIOWriter(handle.write)),
                 mode=FILE_MODE)
