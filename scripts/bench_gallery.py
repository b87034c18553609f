"""Benchmark the face gallery: enroll, save, open and 1:N search at growing sizes.

    python scripts/bench_gallery.py --sizes 10000,100000,1000000 --dim 512 --queries 20

Other scripts can reuse the measurements: ``import bench_gallery; bench_gallery.gallery_rows(...)``.
Data are random unit vectors from a fixed seed. At most one gallery is held at a time
(1,000,000 x 512 float32 templates are 2 GB; with FAISS its index holds a second copy).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeface.gallery import Gallery

SINGLE_LIMIT = 100_000  # one-template enrolls are timed on at most this many
BATCH = 1000
TOP_K = 5


def gallery_rows(sizes: list[int], dim: int, queries: int) -> list[dict]:
    """One dict of timings per gallery size (faiss fields are None when FAISS is missing)."""
    try:
        import faiss  # noqa: F401

        have_faiss = True
    except ImportError:
        have_faiss = False
    rng = np.random.default_rng(0)
    query_rows = _unit_rows(rng, queries, dim)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_gallery.") as tmp:
        for size in sizes:
            path = Path(tmp) / f"gallery-{size}.efg"
            row: dict = {"size": size, "dim": dim}
            single = min(size, SINGLE_LIMIT)
            row["enroll_1_per_s"] = single / _time_enroll(Gallery(dim, use_faiss=False), rng, single, 1)

            gallery = Gallery(dim, path, use_faiss=False)
            row["enroll_1000_per_s"] = size / _time_enroll(gallery, rng, size, BATCH)
            row["save_s"] = _timed(gallery.save)[0]
            del gallery
            row["file_mb"] = path.stat().st_size / 1e6
            row["read_s"] = _timed(lambda: np.fromfile(path, np.uint8))[0]  # plain read, for scale

            row["open_s"], gallery = _timed(lambda: Gallery.open(path, dim, use_faiss=False))
            row["search_numpy_ms"] = _median_search_ms(gallery, query_rows)
            del gallery

            row["faiss_build_s"] = row["search_faiss_ms"] = None
            if have_faiss:
                gallery = Gallery.open(path, dim, use_faiss=True)
                row["faiss_build_s"] = _timed(lambda: gallery.search(query_rows[0]))[0]  # builds the index
                row["search_faiss_ms"] = _median_search_ms(gallery, query_rows)
                del gallery
            path.unlink()
            rows.append(row)
    return rows


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _time_enroll(gallery: Gallery, rng: np.random.Generator, total: int, batch: int) -> float:
    """Seconds spent inside enroll() adding ``total`` templates, ``batch`` per call, one identity per call."""
    elapsed = 0.0
    for start in range(0, total, BATCH):
        block = _unit_rows(rng, min(BATCH, total - start), gallery.dim)
        for i in range(0, len(block), batch):
            name, rows = f"person-{start + i}", block[i : i + batch]
            t0 = time.perf_counter()
            gallery.enroll(name, rows)
            elapsed += time.perf_counter() - t0
    return elapsed


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _median_search_ms(gallery: Gallery, queries: np.ndarray) -> float:
    return 1000 * statistics.median(_timed(lambda: gallery.search(q, top_k=TOP_K))[0] for q in queries)


COLUMNS = [
    ("size", "templates", "{:,}"),
    ("enroll_1_per_s", "enroll/s b=1", "{:,.0f}"),
    ("enroll_1000_per_s", "enroll/s b=1000", "{:,.0f}"),
    ("file_mb", "file MB", "{:,.1f}"),
    ("save_s", "save s", "{:.3f}"),
    ("read_s", "read s", "{:.3f}"),
    ("open_s", "open s", "{:.3f}"),
    ("search_numpy_ms", "numpy ms/q", "{:.2f}"),
    ("faiss_build_s", "faiss build s", "{:.3f}"),
    ("search_faiss_ms", "faiss ms/q", "{:.2f}"),
]


def format_table(rows: list[dict]) -> str:
    cells = [[title for _, title, _ in COLUMNS]]
    cells += [["-" if r[key] is None else fmt.format(r[key]) for key, _, fmt in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated template counts")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=20, help="single-query searches timed per size")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = gallery_rows(sizes, args.dim, args.queries)
    print(f"dim {args.dim}, top_k {TOP_K}, {BATCH} templates per identity (b=1: one per identity, "
          f"timed on up to {SINGLE_LIMIT:,}); search = median of {args.queries} single queries")
    print(format_table(rows))


if __name__ == "__main__":
    main()
