"""Benchmark the face gallery at growing sizes: open, durable enrolment, exact search and
the approximate index (build, search, recall and decisions against exact search).

    python scripts/bench_gallery.py --sizes 10000,100000,1000000 --dim 512 --queries 100

Other scripts can reuse the measurements: ``import bench_gallery; bench_gallery.gallery_rows(...)``.

Data are face-like (see ``face_like``): identity centres whose coordinates spread as
(i + 1) ** -SPREAD, so impostor cosines have a standard deviation of about 0.06 at 512-d
with --spread 0.25 (weakly structured, like a good 512-d embedder) and about 0.14 with
0.5; one template per identity and queries at cosine ~0.8 from it, a fifth of them
strangers. Ratios are to exact numpy search in the same run. Timings are medians of
single queries; the machine's load is printed with the table.

``--milvus ADDRESS`` also loads each gallery into that Milvus server and prints its
figures in a second table, next to the file gallery's (docs/gallery.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeface.gallery import Gallery
from edgeface.gallery.gallery import from_rows

TOP_K = 5
ENROLMENTS = 200  # durable single enrolments timed per size
EXACT_TIMED = 20  # exact searches timed per size (at 10M each reads the whole 20 GB file)


def face_like(identities: int, dim: int, queries: int, spread: float, seed: int = 0,
              out: np.ndarray | None = None):
    """(templates, queries, true identity per query or -1 for a stranger), all unit float32.
    ``out`` (shape (identities, dim)), a memory map say, takes the templates instead of a
    new array, so that galleries larger than memory are written chunk by chunk."""
    rng = np.random.default_rng(seed)
    scale = ((np.arange(dim) + 1.0) ** -spread).astype(np.float32)
    noise = np.float32(0.5 / np.sqrt(dim))
    templates = np.empty((identities, dim), np.float32) if out is None else out
    for start in range(0, identities, 100_000):  # centres are only needed for the queries' identities
        n = min(100_000, identities - start)
        centres = _unit(rng.standard_normal((n, dim), dtype=np.float32) * scale)
        templates[start : start + n] = _unit(centres + noise * rng.standard_normal((n, dim), dtype=np.float32))
    known = np.sort(rng.integers(0, identities, queries - queries // 5))
    # a known query: its template moved by fresh noise (template and query each carry one
    # sample of noise, as two photos of one person do)
    q_known = templates[known] + noise * rng.standard_normal((len(known), dim), dtype=np.float32)
    strangers = rng.standard_normal((queries // 5, dim), dtype=np.float32) * scale
    truth = np.concatenate([known, -np.ones(queries // 5, np.int64)])
    return templates, _unit(np.concatenate([q_known, strangers])), truth


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def gallery_rows(sizes: list[int], dim: int, queries: int, spread: float = 0.25,
                 threshold: float = 0.6, milvus: str | None = None) -> list[dict]:
    """One dict of measurements per gallery size (index fields are None without FAISS;
    with ``milvus``, a server's address, the same templates are also loaded there).
    Templates go through a memory-mapped file, never all in memory at once."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_gallery.") as tmp:
        for size in sizes:
            raw_path = Path(tmp) / "templates.npy"
            raw = np.lib.format.open_memmap(raw_path, "w+", np.float32, (size, dim))
            _, query_rows, truth = face_like(size, dim, queries, spread, out=raw)
            path = Path(tmp) / f"gallery-{size}.efg"
            row: dict = {"size": size, "dim": dim}
            row["save_s"] = _saved(raw, path)
            exact = _exact_best(raw, query_rows, threshold)
            if milvus:
                row.update(_milvus_figures(f"{milvus}?collection=bench_{size}", raw, query_rows, truth, exact,
                                           threshold))
            del raw
            raw_path.unlink()  # its pages would crowd the gallery's out of the page cache
            row["file_mb"] = path.stat().st_size / 1e6
            row["open_ms"] = 1000 * statistics.median(_timed(lambda: Gallery.open(path))[0] for _ in range(5))
            gallery = Gallery.open(path, ann=False)
            row["verify_s"] = _timed(gallery.verify)[0]
            row["exact_ms"], found = _searches(gallery, query_rows[:EXACT_TIMED], threshold)
            if _decisions(found) != exact.decisions[:EXACT_TIMED]:
                print(f"warning: at {size:,} the gallery's exact search and numpy's disagree", file=sys.stderr)
            del gallery
            row.update(_index_figures(path, query_rows, truth, exact, threshold))
            row["enrol_ms"], row["first_enrol_ms"] = _durable_enrolments(path, dim)
            for leftover in Path(tmp).iterdir():
                leftover.unlink()
            rows.append(row)
    return rows


def _saved(templates: np.ndarray, path: Path) -> float:
    """Seconds to save ``templates`` as a gallery of one template per identity."""
    count, dim = templates.shape
    bulk = from_rows(dim, None, [f"person-{i}" for i in range(count)], np.ones(count, np.int64), templates)
    return _timed(lambda: bulk.save(path))[0]


class _Exact:
    """Exact search's answers, computed by numpy in one pass over the templates: each
    query's best identity and the decision at the threshold (that identity, or None)."""

    def __init__(self, best: np.ndarray, similarity: np.ndarray, threshold: float):
        self.best = [f"person-{i}" for i in best]
        self.decisions = [name if s >= threshold else None for name, s in zip(self.best, similarity)]

    def scores(self, found: list, truth: np.ndarray) -> tuple[float, float]:
        """(recall@1, same decisions) of a search's results: recall over the enrolled
        people's queries that exact search accepts, decisions over every query."""
        top = _decisions(found)
        accepted = [i for i, t in enumerate(truth) if t >= 0 and self.decisions[i] is not None]
        recall = float(np.mean([top[i] == self.best[i] for i in accepted]))
        return recall, float(np.mean([a == b for a, b in zip(top, self.decisions)]))


def _exact_best(templates: np.ndarray, queries: np.ndarray, threshold: float) -> _Exact:
    best = np.zeros(len(queries), np.int64)
    similarity = np.full(len(queries), -np.inf, np.float32)
    for start in range(0, len(templates), 100_000):
        scores = np.asarray(templates[start : start + 100_000]) @ queries.T
        top = scores.argmax(axis=0)
        better = scores[top, np.arange(len(queries))] > similarity
        best[better] = start + top[better]
        similarity[better] = scores[top, np.arange(len(queries))][better]
    return _Exact(best, similarity, threshold)


def _decisions(found: list) -> list:
    """The accepted identity of each search's results (None: rejected)."""
    return [f[0].identity if f else None for f in found]


def _searches(gallery: Gallery, queries: np.ndarray, threshold: float) -> tuple[float, list]:
    """Median ms of single-query searches, and their results."""
    times, results = [], []
    for q in queries:
        elapsed, found = _timed(lambda: gallery.search(q, top_k=TOP_K, threshold=threshold))
        times.append(elapsed)
        results.append(found[0])
    return 1000 * statistics.median(times), results


def _index_figures(path: Path, queries: np.ndarray, truth: np.ndarray, exact: _Exact, threshold: float) -> dict:
    figures = dict.fromkeys(["build_s", "probes", "index_b_per_t", "ann_ms", "ann_qps", "recall", "agree"])
    try:
        import faiss
    except ImportError:
        return figures
    gallery = Gallery.open(path, ann=True)
    figures["build_s"] = _timed(lambda: gallery.build_index(threshold))[0]
    (index_file,) = path.parent.glob(f".{path.name}.*.ann")
    figures["index_b_per_t"] = index_file.stat().st_size / len(gallery)
    figures["probes"] = faiss.extract_index_ivf(gallery._ann._index).nprobe
    figures["ann_ms"], found = _searches(gallery, queries, threshold)
    figures["recall"], figures["agree"] = exact.scores(found, truth)
    figures["ann_qps"] = len(queries) / _timed(lambda: gallery.search(queries, top_k=TOP_K, threshold=threshold))[0]
    return figures


def _milvus_figures(uri: str, templates: np.ndarray, queries: np.ndarray, truth: np.ndarray, exact: _Exact,
                    threshold: float) -> dict:
    """The same gallery in Milvus: load time, durable enrolment, calibrated ef, search
    time, and recall and decisions against exact search."""
    from edgeface.gallery.milvus import MilvusGallery

    gallery = MilvusGallery.open(uri, templates.shape[1])
    if len(gallery):
        raise SystemExit(f"{uri} is not empty: give the benchmark a server of its own")
    names = [f"person-{i}" for i in range(len(templates))]
    figures = {"m_load_s": _timed(lambda: gallery.enroll_many(names, templates))[0]}
    figures["m_calibrate_s"] = _timed(lambda: gallery.build_index(threshold))[0]
    figures["m_ef"] = gallery.ef
    figures["m_ms"], found = _searches(gallery, queries, threshold)
    figures["m_recall"], figures["m_agree"] = exact.scores(found, truth)
    rng = np.random.default_rng(1)
    times = [_timed(lambda i=i: gallery.enroll(f"new-{i}", rng.standard_normal(templates.shape[1])))[0]
             for i in range(50)]
    figures["m_enrol_ms"] = 1000 * statistics.median(times)
    return figures


def _durable_enrolments(path: Path, dim: int) -> tuple[float, float]:
    """Median ms of ENROLMENTS single enrolments (journal append + fsync) into the gallery
    just opened, and the first one's (it builds the name index)."""
    gallery = Gallery.open(path)
    rng = np.random.default_rng(1)
    times = [_timed(lambda i=i: gallery.enroll(f"new-{i}", rng.standard_normal(dim)))[0] for i in range(ENROLMENTS)]
    return 1000 * statistics.median(times[1:]), 1000 * times[0]


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


COLUMNS = [
    ("size", "templates", "{:,}"),
    ("file_mb", "file MB", "{:,.0f}"),
    ("save_s", "save s", "{:.2f}"),
    ("open_ms", "open ms", "{:.1f}"),
    ("verify_s", "verify s", "{:.2f}"),
    ("enrol_ms", "enrol ms", "{:.2f}"),
    ("first_enrol_ms", "1st enrol ms", "{:.0f}"),
    ("exact_ms", "exact ms/q", "{:.2f}"),
    ("build_s", "index build s", "{:.1f}"),
    ("probes", "probes", "{}"),
    ("index_b_per_t", "index B/t", "{:.0f}"),
    ("ann_ms", "index ms/q", "{:.2f}"),
    ("speedup", "x exact", "{:.0f}"),
    ("ann_qps", "index q/s batch", "{:,.0f}"),
    ("recall", "recall@1", "{:.3f}"),
    ("agree", "same decisions", "{:.3f}"),
]


MILVUS_COLUMNS = [
    ("size", "templates", "{:,}"),
    ("m_load_s", "load s", "{:.1f}"),
    ("m_enrol_ms", "enrol ms", "{:.2f}"),
    ("m_calibrate_s", "calibrate s", "{:.1f}"),
    ("m_ef", "ef", "{}"),
    ("m_ms", "ms/q", "{:.2f}"),
    ("exact_ms", "file exact ms/q", "{:.2f}"),
    ("ann_ms", "file index ms/q", "{:.2f}"),
    ("m_recall", "recall@1", "{:.3f}"),
    ("m_agree", "same decisions", "{:.3f}"),
]


def format_table(rows: list[dict], columns: list = COLUMNS) -> str:
    for r in rows:
        r["speedup"] = r["exact_ms"] / r["ann_ms"] if r.get("ann_ms") else None
    cells = [[title for _, title, _ in columns]]
    cells += [["-" if r.get(key) is None else fmt.format(r[key]) for key, _, fmt in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated template counts")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=100, help="single-query searches timed per size")
    parser.add_argument("--spread", type=float, default=0.25, help="how the templates spread (see above)")
    parser.add_argument("--threshold", type=float, default=0.6, help="accept at this cosine")
    parser.add_argument("--milvus", metavar="ADDRESS", help="also load each gallery into this Milvus server "
                        "(milvus://HOST:PORT, or milvus-lite:PATH.db) and measure it (an empty server: it "
                        "creates collections bench_SIZE)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = gallery_rows(sizes, args.dim, args.queries, args.spread, args.threshold, args.milvus)
    print(f"dim {args.dim}, spread {args.spread}, threshold {args.threshold}, top_k {TOP_K}; one template per "
          f"identity; ms/q = median of {args.queries} single queries ({EXACT_TIMED} for exact); recall@1 over the "
          f"enrolled people's queries that exact search accepts; enrol = median of {ENROLMENTS - 1} durable "
          f"single enrolments; q/s batch = every query in one call; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print(format_table(rows))
    if args.milvus:
        print(f"\nMilvus at {args.milvus}: load = enroll_many of every template; enrol = median of 50 single "
              f"enrolments; ms/q = median of {args.queries} single queries, re-ranked here")
        print(format_table(rows, MILVUS_COLUMNS))


if __name__ == "__main__":
    main()
