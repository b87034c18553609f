"""Measure approximate-index libraries for 1:N face search (issue 19): the basis of the choice.

    python scripts/bench_ann_choice.py --sizes 100000 --queries 200 [--efforts 64,128,256] [--data structured] [--json out.json]

Data look like face templates, not uniform noise: each enrolled template is an identity
centre plus noise (true match cosine ~0.8, impostors ~0); queries are fresh samples of
enrolled identities plus some of unknown identities (expected reject). Every candidate's
top-K is re-ranked with the exact float32 templates, so "agree" is the share of queries
whose accept/reject at --threshold (and accepted id) equals exact numpy search.

``--data random`` draws identity centres uniformly on the sphere: every identity is then
about equally far from every other (cosine 0 +- 1/sqrt(dim)), which leaves a graph index
no gradient to follow, unlike real face embeddings. ``--data structured`` (the default)
draws them from a Gaussian whose per-axis spread falls as a power law (real embeddings
have a decaying spectrum: most variance in a few tens of directions), so impostor cosines
spread wider (sd about 0.14 at 512-d) as real ones do. ``--efforts`` sweeps the search effort without
rebuilding: ef_search for HNSW indexes, nprobe for IVF.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

M, EF_CONSTRUCTION, TOP_K = 16, 128, 10
SPECTRUM_POWER = 0.5  # structured data: axis i's spread ~ (i + 1) ** -power (impostor cosine sd ~0.14 at 512-d)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(n: int, dim: int, queries: int, noise: float = 0.5, unknown: float = 0.2, seed: int = 0,
              structured: bool = False):
    """Clustered templates: (gallery, queries, true ids with -1 for unknown identities).

    Noise per coordinate is noise/sqrt(dim), so two samples of one identity have cosine
    about 1/(1+noise^2) (0.8 at 0.5); different identities about 0 (random) or spread
    along the leading axes (structured, see the module's docstring)."""
    rng = np.random.default_rng(seed)
    spread = (np.arange(dim) + 1.0) ** -SPECTRUM_POWER if structured else np.ones(dim)

    def identities(count: int) -> np.ndarray:
        return _unit(rng.standard_normal((count, dim)) * spread)

    centres = identities(n)
    sigma = noise / np.sqrt(dim)
    gallery = _unit(centres + sigma * rng.standard_normal((n, dim)))
    n_unknown = int(queries * unknown)
    ids = rng.integers(0, n, queries - n_unknown)
    known = centres[ids] + sigma * rng.standard_normal((len(ids), dim))
    strangers = identities(n_unknown) + sigma * rng.standard_normal((n_unknown, dim))
    q = _unit(np.concatenate([known, strangers]))
    return gallery, q, np.concatenate([ids, -np.ones(n_unknown, dtype=ids.dtype)])


def exact_top1(gallery: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search in blocks (the reference the ANN must match)."""
    best, score = [], []
    for start in range(0, len(queries), 64):
        s = queries[start:start + 64] @ gallery.T
        best.append(s.argmax(1))
        score.append(s.max(1))
    return np.concatenate(best), np.concatenate(score)


def rerank(gallery: np.ndarray, query: np.ndarray, candidates: np.ndarray) -> tuple[int, float]:
    """Exact float32 re-ranking of an index's candidates (ids < 0 are padding)."""
    cand = candidates[candidates >= 0]
    if len(cand) == 0:
        return -1, -1.0
    s = gallery[cand] @ query
    i = int(s.argmax())
    return int(cand[i]), float(s[i])


def decisions(ids: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Identify decision per query: the accepted id, or -1 for reject."""
    return np.where(scores >= threshold, ids, -1)


def score_candidates(gallery, queries, candidate_lists, exact_ids, exact_scores, threshold, known=None):
    """recall@1 of the re-ranked top-1 against exact search (on enrolled-identity queries when
    known is given: an unknown's exact top-1 is an arbitrary impostor), and decision agreement."""
    got = [rerank(gallery, q, c) for q, c in zip(queries, candidate_lists)]
    ids = np.array([g[0] for g in got])
    scores = np.array([g[1] for g in got])
    hit = ids == exact_ids
    recall = float(np.mean(hit if known is None else hit[known]))
    agree = float(np.mean(decisions(ids, scores, threshold) == decisions(exact_ids, exact_scores, threshold)))
    return recall, agree


def _candidates(m: int = M) -> dict:
    """name -> builder(gallery) -> (search(q, k) -> ids, bytes); only libraries that import."""
    out = {}
    try:  # faiss must load before usearch: the other order segfaults in faiss.index_factory (faiss 1.15.1)
        import faiss  # noqa: F401
    except ImportError:
        pass
    try:
        import usearch.index as ui

        def usearch_kind(dtype):
            def build(g):
                idx = ui.Index(ndim=g.shape[1], metric="ip", dtype=dtype, connectivity=m,
                               expansion_add=EF_CONSTRUCTION)
                idx.add(np.arange(len(g)), g)

                def search(q, k, th, effort):
                    idx.expansion_search = effort
                    return idx.search(q, k, threads=th).keys.astype(np.int64)
                return search, len(idx.save())  # serialized size, like faiss (memory_usage counts reserved arenas)
            return build
        out["usearch-hnsw-f16"] = usearch_kind("f16")
        out["usearch-hnsw-i8"] = usearch_kind("i8")
    except ImportError:
        pass
    try:
        import faiss

        def faiss_build(factory, ef=True, train=20000):
            def build(g):
                idx = faiss.index_factory(g.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
                if ef:
                    idx.hnsw.efConstruction = EF_CONSTRUCTION
                idx.train(g[:train])  # a sample: IVF training on all of N takes minutes
                idx.add(g)
                size = faiss.serialize_index(idx).nbytes

                def search(q, k, th, effort):
                    if ef:
                        idx.hnsw.efSearch = effort
                    else:
                        faiss.extract_index_ivf(idx).nprobe = effort // 4  # effort 64 -> nprobe 16
                    faiss.omp_set_num_threads(th or os.cpu_count())
                    return idx.search(q, k)[1]
                return search, size
            return build
        out["faiss-HNSWFlat"] = faiss_build(f"HNSW{m},Flat")
        out["faiss-HNSWSQ8"] = faiss_build(f"HNSW{m},SQ8")
        out["faiss-HNSWSQfp16"] = faiss_build(f"HNSW{m},SQfp16")
        out["faiss-IVF-PQ32"] = faiss_build("IVF1024,PQ32", ef=False)
        # 4096 lists (about 40 training points each wanted), an HNSW graph over the centroids
        out["faiss-IVF4096-HNSW-SQ8"] = faiss_build(f"IVF4096_HNSW{m},SQ8", ef=False, train=160000)
        out["faiss-IVF4096-HNSW-RaBitQ"] = faiss_build(f"IVF4096_HNSW{m},RaBitQ", ef=False, train=160000)
    except ImportError:
        pass
    try:
        import hnswlib

        def hnsw_build(g):
            idx = hnswlib.Index(space="ip", dim=g.shape[1])
            idx.init_index(max_elements=len(g), M=m, ef_construction=EF_CONSTRUCTION)
            idx.add_items(g, np.arange(len(g)))

            def search(q, k, th, effort):
                idx.set_ef(effort)
                idx.set_num_threads(th or os.cpu_count())
                return idx.knn_query(q, k)[0].astype(np.int64)
            return search, len(g) * (g.shape[1] * 4 + m * 2 * 4 + 16)  # estimate: no size API
        out["hnswlib-f32"] = hnsw_build
    except ImportError:
        pass
    return out


def bench(n: int, dim: int, queries: int, threshold: float, efforts: list[int], structured: bool,
          only: list[str] | None = None, m: int = M, top_k: int = TOP_K) -> list[dict]:
    """One row per candidate library and search effort at gallery size n."""
    gallery, q, truth = make_data(n, dim, queries, structured=structured)
    exact_ids, exact_scores = exact_top1(gallery, q)
    rows = []
    for name, build in _candidates(m).items():
        if only and name not in only:
            continue
        print(f"[{n}] building {name}", file=sys.stderr)
        t0 = time.perf_counter()
        search, size = build(gallery)
        build_s = time.perf_counter() - t0
        for effort in efforts:
            row = {"n": n, "index": name, "effort": effort, "build_s": round(build_s, 1),
                   "bytes_per_template": round(size / n)}
            for label, threads in (("1t", 1), ("all", 0)):
                lat, cands = [], []
                for x in q:
                    t = time.perf_counter()
                    c = search(x[None], top_k, threads, effort)[0]
                    lat.append((time.perf_counter() - t) * 1e3)
                    cands.append(c)
                lat.sort()
                row[f"p50_ms_{label}"] = round(statistics.median(lat), 3)
                row[f"p99_ms_{label}"] = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3)
            row["recall1"], row["agree"] = score_candidates(gallery, q, cands, exact_ids, exact_scores, threshold,
                                                              truth >= 0)
            rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--only", help="comma-separated index names")
    p.add_argument("--efforts", default="64", help="comma-separated search efforts: ef_search (HNSW), 4 x nprobe (IVF)")
    p.add_argument("--data", choices=("structured", "random"), default="structured")
    p.add_argument("--m", type=int, default=M, help=f"HNSW links per node (default {M})")
    p.add_argument("--top-k", type=int, default=TOP_K, help=f"candidates re-ranked exactly (default {TOP_K})")
    p.add_argument("--json")
    a = p.parse_args()
    rows = []
    for n in (int(s) for s in a.sizes.split(",")):
        rows += bench(n, a.dim, a.queries, a.threshold, [int(e) for e in a.efforts.split(",")], a.data == "structured",
                      a.only.split(",") if a.only else None, a.m, a.top_k)
    print(f"# {a.data} data, dim {a.dim}, {a.queries} queries (20% unknown), M/connectivity={a.m} "
          f"ef_construction={EF_CONSTRUCTION}, effort = ef_search or 4 x nprobe (IVF), "
          f"top-{a.top_k} exact re-rank, threshold {a.threshold}, "
          f"threads 1t=1 all={os.cpu_count()}, loadavg {os.getloadavg()[0]:.2f}")
    cols = list(rows[0]) if rows else []
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
