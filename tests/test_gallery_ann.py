"""The approximate index behind Gallery.search: the same identities and the same
accept/reject decisions as exact search on face-like data, rows enrolled or removed since
the index was built, and the index file as derived data (reused, rebuilt, cleaned up)."""

import shutil
import sys

import numpy as np
import pytest

from edgeface.errors import BackendUnavailableError
from edgeface.gallery import Gallery
from edgeface.gallery import ann as ann_module
from edgeface.gallery.ranking import unit_rows

faiss = pytest.importorskip("faiss")

THRESHOLD = 0.6


def face_like(identities, dim, queries, seed=0):
    """Templates as a face embedder spreads them: identity centres with most variance in a
    few directions (impostor cosine sd ~0.15), two samples of one identity at cosine ~0.8.
    Returns (templates, queries, true identity of each query, -1 for strangers)."""
    rng = np.random.default_rng(seed)
    spread = (np.arange(dim) + 1.0) ** -0.25
    centres = rng.standard_normal((identities, dim)) * spread
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = 0.5 / np.sqrt(dim)
    templates = centres + noise * rng.standard_normal((identities, dim))
    known = rng.integers(0, identities, queries - queries // 5)
    q = np.concatenate([centres[known] + noise * rng.standard_normal((len(known), dim)),
                        rng.standard_normal((queries // 5, dim)) * spread])
    return templates, q, np.concatenate([known, -np.ones(queries // 5, int)])


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A 20,000-identity gallery of 128-d templates (dlib's size) with its index built, its
    exact twin, and queries."""
    templates, queries, truth = face_like(20_000, 128, 400)
    path = tmp_path_factory.mktemp("ann") / "g.efg"
    writer = Gallery(128)
    for i, row in enumerate(templates):
        writer._append(f"p{i}", unit_rows(row, 128, "row"))
    writer.save(path)
    approximate = Gallery.open(path, ann=True)
    approximate.build_index(THRESHOLD)
    return approximate, Gallery.open(path, ann=False), queries, truth


def copy_of(gallery, directory):
    """The gallery's files copied to ``directory`` (saving to a path would rebind the fixture)."""
    for source in (gallery.path, gallery.path.with_name(gallery.path.name + ".journal")):
        shutil.copyfile(source, directory / source.name.replace(gallery.path.name, "g.efg"))
    return directory / "g.efg"


def decisions(results):
    return [r[0].identity if r else None for r in results]


def test_the_index_finds_the_exact_top_identities_and_makes_the_same_decisions(indexed):
    approximate, exact, queries, truth = indexed
    assert approximate._ann is not None and approximate._ann.usable(THRESHOLD)
    found = approximate.search(queries, top_k=5)
    expected = exact.search(queries, top_k=5)
    known = truth >= 0  # a stranger's nearest impostor is arbitrary: recall counts enrolled people
    top1 = np.mean([a[0].identity == b[0].identity for a, b, k in zip(found, expected, known) if k])
    assert top1 >= 0.99
    assert decisions(approximate.search(queries, 1, THRESHOLD)) == decisions(exact.search(queries, 1, THRESHOLD))
    for a, b in zip(found, expected):  # similarities are exact: re-ranked with the float32 templates
        same = [m.identity for m in a] == [m.identity for m in b]
        if same:
            np.testing.assert_allclose([m.similarity for m in a], [m.similarity for m in b], atol=1e-5)
    accepted = decisions(exact.search(queries, 1, THRESHOLD))
    assert all((name is None) == (t < 0) for name, t in zip(accepted, truth))  # the data is as described


def test_one_query_at_a_time_finds_what_the_batch_finds(indexed):
    """A single query splits its lists over the threads, a batch does not: same rows."""
    approximate, _, queries, _ = indexed
    batch = unit_rows(queries[:40], 128, "queries")
    together = approximate._ann.candidates(batch, ann_module.CANDIDATES)
    alone = np.concatenate([approximate._ann.candidates(q[None], ann_module.CANDIDATES) for q in batch])
    assert [set(a) for a in alone] == [set(t) for t in together]


def test_rows_enrolled_or_removed_since_the_index_are_searched_exactly(indexed, tmp_path):
    approximate, _, queries, truth = indexed
    path = copy_of(approximate, tmp_path)
    g = Gallery.open(path, ann=True)
    g.build_index()
    newcomer = queries[0] + 0.01
    g.enroll("newcomer", newcomer)
    assert g.search(queries[0], 1)[0][0].identity == "newcomer"
    g.remove("newcomer")
    victim = f"p{truth[1]}"
    g.remove(victim)
    assert [m.identity for m in g.search(queries[0], 1)[0]] != ["newcomer"]
    assert victim not in [m.identity for m in g.search(queries[1], 5)[0]]


def test_the_index_file_is_reused_rebuilt_when_damaged_and_dropped_after_compaction(indexed, tmp_path):
    approximate, *_ = indexed
    path = copy_of(approximate, tmp_path)
    Gallery.open(path, ann=True).build_index()
    (index_file,) = tmp_path.glob(".g.efg.*.ann")
    built = index_file.stat().st_mtime_ns
    reopened = Gallery.open(path, ann=True)
    reopened.build_index()
    assert index_file.stat().st_mtime_ns == built  # loaded, not rebuilt

    index_file.write_bytes(b"not a faiss index")
    damaged = Gallery.open(path, ann=True)
    damaged.build_index()
    assert damaged._ann.usable(THRESHOLD) and index_file.stat().st_size > 1000

    damaged.enroll("late", np.ones(128))
    damaged.compact()
    damaged.build_index()
    assert [p.name for p in tmp_path.glob(".g.efg.*.ann")] != [index_file.name]
    assert len(list(tmp_path.glob(".g.efg.*.ann"))) == 1


def test_searches_before_the_background_build_finishes_are_exact(indexed, tmp_path, monkeypatch):
    approximate, exact, queries, _ = indexed
    path = copy_of(approximate, tmp_path)
    started = []
    real_build = ann_module.build
    monkeypatch.setattr(ann_module, "build", lambda *a: started.append(1) or real_build(*a))
    g = Gallery.open(path, ann=True)
    first = g.search(queries[:20], 3)
    assert started and not g._ann.usable(THRESHOLD)
    assert first == exact.search(queries[:20], 3)  # the same matches, to the last bit
    g._ann.wait()
    assert g._ann.usable(THRESHOLD)


def test_a_search_below_the_calibrated_threshold_is_exact_until_the_index_is_recalibrated(indexed, tmp_path):
    approximate, exact, queries, _ = indexed
    path = copy_of(approximate, tmp_path)
    Gallery.open(path, ann=True).build_index(0.9)
    (calibrated,) = tmp_path.glob(".g.efg.*.ann")
    assert calibrated.name.endswith(".c0900.ann")
    g = Gallery.open(path, ann=True)
    assert g.search(queries[:50], 1, THRESHOLD) == exact.search(queries[:50], 1, THRESHOLD)  # exact meanwhile
    g._ann.wait()
    assert g._ann.usable(THRESHOLD) and not g._ann.usable(0.3)
    g._ann.wait()
    assert [p.name[-10:] for p in tmp_path.glob(".g.efg.*.ann")] == [".c0300.ann"]


def test_small_galleries_search_exactly_and_import_no_faiss(tmp_path, monkeypatch):
    g = Gallery(8, tmp_path / "g.efg")
    g.enroll("a", np.ones(8))
    g.save()
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` fail
    small = Gallery.open(tmp_path / "g.efg")
    assert small.search(np.ones(8))[0][0].identity == "a" and small._ann is None
    with pytest.raises(BackendUnavailableError, match="ann=True needs FAISS: pip install faiss-cpu"):
        Gallery.open(tmp_path / "g.efg", ann=True)


@pytest.mark.slow
def test_crowded_galleries_get_their_candidates_re_ranked_by_finer_codes():
    """Where many templates lie about as close to each other as the threshold (40 groups of
    1,500 at cosine ~0.66), RaBitQ's 1-bit order loses a template's nearest neighbour among
    them: the calibration then asks for more RaBitQ candidates re-ranked by 8-bit codes,
    and those find every neighbour that plain RaBitQ missed at the same probes."""
    rng = np.random.default_rng(0)
    centres = unit_rows(rng.standard_normal((40, 128)), 128, "centres")
    rows = unit_rows(np.repeat(centres, 1500, axis=0) + 0.09 * rng.standard_normal((60000, 128)), 128, "rows")
    index = ann_module.build(faiss, rows)
    probes = ann_module.calibrate(faiss, index, rows, THRESHOLD)
    assert index.k_factor > 1 and probes <= faiss.extract_index_ivf(index).nlist
    picked = np.sort(np.random.default_rng(1).choice(len(rows), ann_module.PROBES, replace=False))
    neighbour, similarity = ann_module._nearest_others(rows, picked)
    crowded = picked[similarity >= THRESHOLD]
    assert len(crowded) > 100

    def found(index) -> float:
        _, rows_found = index.search(np.ascontiguousarray(rows[crowded]), ann_module.CANDIDATES + 1)
        return float(np.mean((rows_found == neighbour[similarity >= THRESHOLD, None]).any(axis=1)))
    assert found(index) == 1.0
    assert found(faiss.downcast_index(index.base_index)) < 1.0  # RaBitQ alone, same probes
