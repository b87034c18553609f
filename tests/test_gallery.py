"""The face gallery: enrollment, 1:N search, the file format, and crash safety."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeface.errors import BackendUnavailableError, GalleryError
from edgeface.gallery import MAGIC, EmbedderFingerprint, Gallery, Match
from tests.gallery_files import data_start, header_of, legacy_file, v3_sha256, v3_tables, with_header

WRITER = Path(__file__).with_name("gallery_writer.py")
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def templates_of(gallery, name):
    """The stored templates of one identity, in enrollment order."""
    return gallery.templates(name)


def random_gallery(seed=0, identities=200, dim=32, use_faiss=False, path=None):
    """A gallery with 1-5 templates per identity, plus the raw data for a reference search."""
    rng = np.random.default_rng(seed)
    gallery = Gallery(dim, path, use_faiss=use_faiss)
    data = {}
    for i in range(identities):
        data[f"id{i}"] = rng.standard_normal((int(rng.integers(1, 6)), dim))
        gallery.enroll(f"id{i}", data[f"id{i}"])
    return gallery, data, rng


def brute_force(data, query, top_k, threshold=None):
    scores = {name: float((unit(rows) @ unit(query)).max()) for name, rows in data.items()}
    best = sorted(scores.items(), key=lambda kv: -kv[1])[:top_k]
    return [(n, s) for n, s in best if threshold is None or s >= threshold]


def assert_same(found, expected):
    assert [m.identity for m in found] == [n for n, _ in expected]
    np.testing.assert_allclose([m.similarity for m in found], [s for _, s in expected], atol=1e-5)


def queries_for(data, rng, count=40):
    """Half noisy copies of enrolled templates (clear winners), half random directions."""
    rows = np.concatenate(list(data.values()))
    dim = rows.shape[1]
    near = rows[rng.integers(0, len(rows), count // 2)] + 0.3 * rng.standard_normal((count // 2, dim))
    return np.concatenate([near, rng.standard_normal((count - count // 2, dim))])


# --------------------------------------------------------------------- basics


def test_enroll_remove_identities_len():
    g = Gallery(4)
    assert len(g) == 0 and g.identities() == [] and g.dim == 4
    assert g.enroll("ann", [1, 0, 0, 0]) == 1
    assert g.enroll("bob", [[0, 1, 0, 0], [0, 0, 1, 0]]) == 2
    assert g.enroll("ann", [[0, 0, 0, 2]]) == 2
    assert g.identities() == [("ann", 2), ("bob", 2)]
    assert len(g) == 4 and "ann" in g and "cy" not in g and ["ann"] not in g
    assert g.remove("ann") == 2
    assert g.identities() == [("bob", 2)] and len(g) == 2 and "ann" not in g
    assert [m.identity for m in g.search([0, 1, 0, 0])[0]] == ["bob"]
    with pytest.raises(GalleryError, match="no identity named 'ann'"):
        g.remove("ann")


def test_templates_are_normalised():
    g = Gallery(3)
    g.enroll("a", [[3, 4, 0], [0, 0, 1e-30]])
    np.testing.assert_allclose(templates_of(g, "a"), [[0.6, 0.8, 0], [0, 0, 1]], rtol=1e-6)
    assert g.search([6, 8, 0])[0][0].similarity == pytest.approx(1.0)


def test_float32_input_is_normalised_and_left_untouched():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 16)).astype(np.float32) * 1000
    before = x.copy()
    g = Gallery(16)
    g.enroll("a", x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(templates_of(g, "a"), unit(x), atol=1e-6)


def test_best_template_of_an_identity_wins():
    g = Gallery(2, use_faiss=False)
    g.enroll("wide", [[1, 0], [0, 1]])  # two templates, one matches each axis
    g.enroll("mid", [1, 1])
    for query, best in (([1, 0.05], "wide"), ([0.05, 1], "wide"), ([1, 1], "mid")):
        found = g.search(query, top_k=2)[0]
        assert found[0].identity == best
        assert len(found) == 2  # one entry per identity, never two for "wide"


def test_top_k_and_threshold():
    g = Gallery(2, use_faiss=False)
    angles = np.radians([0, 10, 20, 30, 40])
    for i, a in enumerate(angles):
        g.enroll(f"p{i}", [np.cos(a), np.sin(a)])
    assert [m.identity for m in g.search([1, 0], top_k=3)[0]] == ["p0", "p1", "p2"]
    assert len(g.search([1, 0], top_k=50)[0]) == 5
    found = g.search([1, 0], top_k=5, threshold=np.cos(np.radians(25)))[0]
    assert [m.identity for m in found] == ["p0", "p1", "p2"]
    assert g.search([-1, 0], threshold=0.0) == [[]]
    assert isinstance(found[0], Match)
    with pytest.raises(GalleryError, match="top_k"):
        g.search([1, 0], top_k=0)


def test_search_shapes_and_empty_gallery():
    g = Gallery(3)
    assert g.search([1, 0, 0]) == [[]]
    assert g.search(np.eye(3)) == [[], [], []]
    g.enroll("a", [1, 0, 0])
    assert len(g.search([1, 0, 0])) == 1 and len(g.search(np.eye(3))) == 3


def test_enroll_is_amortised():
    """Capacity grows geometrically: thousands of single enrolls, only a few reallocations."""
    g = Gallery(8)
    buffers = set()
    for i in range(5000):
        g.enroll(f"p{i}", np.ones(8))
        buffers.add(id(g._extra))
    assert len(g) == 5000 and len(buffers) <= 15


# --------------------------------------------------------------------- search vs reference


@pytest.mark.parametrize("top_k,threshold", [(1, None), (5, None), (10, 0.3)])
def test_numpy_search_matches_brute_force(top_k, threshold):
    g, data, rng = random_gallery(seed=top_k)
    queries = queries_for(data, rng)
    results = g.search(queries, top_k=top_k, threshold=threshold)
    assert len(results) == len(queries)
    for query, found in zip(queries, results):
        assert_same(found, brute_force(data, query, top_k, threshold))


def test_faiss_search_matches_numpy_and_brute_force():
    pytest.importorskip("faiss")
    g_np, data, rng = random_gallery(seed=7, use_faiss=False)
    g_fa, _, _ = random_gallery(seed=7, use_faiss=True)
    assert g_fa._faiss is not None
    queries = queries_for(data, rng)
    for top_k in (1, 5, 10):
        for query, a, b in zip(queries, g_np.search(queries, top_k), g_fa.search(queries, top_k)):
            assert [m.identity for m in a] == [m.identity for m in b]
            np.testing.assert_allclose([m.similarity for m in a], [m.similarity for m in b], atol=1e-5)
            assert_same(b, brute_force(data, query, top_k))


def test_use_faiss_true_without_faiss_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` fail
    with pytest.raises(BackendUnavailableError, match="pip install faiss-cpu"):
        Gallery(4, use_faiss=True)
    g = Gallery(4)  # auto: falls back to numpy
    g.enroll("a", [1, 0, 0, 0])
    assert g.search([1, 0, 0, 0])[0][0].identity == "a"


def test_faiss_index_follows_changes():
    pytest.importorskip("faiss")
    g = Gallery(3, use_faiss=True)
    g.enroll("a", [1, 0, 0])
    assert g.search([0, 1, 0])[0][0].identity == "a"
    g.enroll("b", [0, 1, 0])
    assert g.search([0, 1, 0])[0][0].identity == "b"
    g.remove("b")
    assert [m.identity for m in g.search([0, 1, 0])[0]] == ["a"]


# --------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "embeddings,message",
    [
        (np.zeros(4), "all-zero"),
        ([[1, 0, 0, 0], [0, 0, 0, 0]], "all-zero"),
        ([1, np.nan, 0, 0], "NaN"),
        ([1, np.inf, 0, 0], "NaN or infinite"),
        (np.ones(5), "shape"),
        (np.ones((2, 3)), "shape"),
        (np.ones((1, 2, 4)), "shape"),
        (np.ones((0, 4)), "shape"),
        (["a", "b", "c", "d"], "numeric"),
    ],
)
def test_bad_embeddings_are_rejected_and_change_nothing(embeddings, message):
    g = Gallery(4)
    g.enroll("a", [1, 0, 0, 0])
    with pytest.raises(GalleryError, match=message):
        g.enroll("a", embeddings)
    with pytest.raises(GalleryError, match=message):
        g.search(embeddings)
    assert g.identities() == [("a", 1)] and len(g) == 1


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_bad_names_are_rejected(name):
    g = Gallery(4)
    with pytest.raises(GalleryError, match="name"):
        g.enroll(name, [1, 0, 0, 0])
    assert len(g) == 0


def test_bad_dim():
    for dim in (0, -3, 2.5, True, "8"):
        with pytest.raises(GalleryError, match="dim"):
            Gallery(dim)


# --------------------------------------------------------------------- files


def test_save_open_roundtrip_is_exact(tmp_path):
    path = tmp_path / "g.efg"
    g, data, rng = random_gallery(seed=3, identities=50, path=path)
    g.enroll("id0", rng.standard_normal((2, 32)))  # interleaved: id0's rows are not contiguous
    g.enroll("ünï €", rng.standard_normal(32))
    for compacted in (False, True):  # from the journal, then from the base file alone
        h = Gallery.open(path, 32, use_faiss=False)
        assert h.identities() == g.identities() and len(h) == len(g) and h.dim == 32 and h.path == path
        for name, _ in g.identities():
            np.testing.assert_array_equal(templates_of(h, name), templates_of(g, name))
        queries = queries_for(data, rng)
        for a, b in zip(h.search(queries, top_k=5), g.search(queries, top_k=5)):
            assert_same(a, [(m.identity, m.similarity) for m in b])  # BLAS sums rows in another order
        g.save()
    h.save(tmp_path / "copy.efg")
    copy = Gallery.open(tmp_path / "copy.efg")
    assert copy.identities() == g.identities()
    np.testing.assert_array_equal(templates_of(copy, "id0"), templates_of(g, "id0"))


def test_file_layout(tmp_path):
    path = tmp_path / "g.efg"
    g = Gallery(4, path)
    g.enroll("b", [[1, 0, 0, 0], [0, 1, 0, 0]])
    g.enroll("a", [0, 0, 1, 0])
    g.enroll("b", [0, 0, 0, 1])
    g.save()
    raw = path.read_bytes()
    assert raw.startswith(MAGIC)
    header = header_of(raw)
    assert not raw[len(MAGIC) + 8 + len(json.dumps(header)) : data_start(raw)].strip(b"\0")
    matrix = np.frombuffer(raw, "<f4", 16, data_start(raw)).reshape(4, 4)
    np.testing.assert_array_equal(matrix, np.eye(4)[[0, 1, 3, 2]])  # grouped by identity
    counts, ends, names, tables = v3_tables(raw)
    assert counts.tolist() == [3, 1] and ends.tolist() == [1, 2] and names == b"ba"
    journal = (tmp_path / "g.efg.journal").read_bytes()
    assert header == {
        "dim": 4, "count": 4, "identities": 2, "journal": journal[11:43].decode(), "chunk_rows": (16 << 20) // 16,
        "templates_sha256": [hashlib.sha256(matrix.tobytes()).hexdigest()],
        "tables_sha256": hashlib.sha256(raw[tables:]).hexdigest(), "sha256": v3_sha256(header),
    }
    assert journal == b"EFJOURNAL1\n" + header["journal"].encode() + b"\n"  # compacted: empty


def test_open_new_file_and_save_errors(tmp_path):
    path = tmp_path / "sub" / "new.efg"
    with pytest.raises(GalleryError, match="does not exist.*dim"):
        Gallery.open(path)
    g = Gallery.open(path, 8)
    assert len(g) == 0 and g.path == path and not path.exists()
    g.save()
    assert len(Gallery.open(path)) == 0 and Gallery.open(path).dim == 8
    with pytest.raises(GalleryError, match="no file"):
        Gallery(8).save()
    with pytest.raises(GalleryError, match="cannot read"):
        Gallery.open(tmp_path, 8)  # a directory


def test_dim_mismatch_is_explained(tmp_path):
    path = tmp_path / "gallery.efg"
    g = Gallery(16, path)
    g.enroll("a", np.ones(16))
    with pytest.raises(GalleryError, match="holds 16-d templates but this model embeds 8-d: use a gallery made with the same model, or a new file"):
        Gallery.open(path, 8)


def test_stray_temp_files_do_not_matter(tmp_path):
    path = tmp_path / "g.efg"
    g = Gallery(4, path)
    g.enroll("a", [1, 0, 0, 0])
    (tmp_path / ".g.efg.abc123.tmp").write_bytes(MAGIC + b"half a file")
    assert Gallery.open(path, 4).identities() == [("a", 1)]
    g.enroll("b", [0, 1, 0, 0])
    g.save()
    assert len(Gallery.open(path, 4)) == 2


# --------------------------------------------------------------------- the embedder fingerprint

FLOAT = EmbedderFingerprint("faces-fp32", "a" * 64, 4)
INT8 = EmbedderFingerprint("faces-int8", "b" * 64, 4)  # same size, another model


def test_the_fingerprint_is_in_the_header_and_covered_by_its_sha256(tmp_path):
    g = Gallery(4, tmp_path / "g.efg", embedder=FLOAT)
    g.enroll("a", [1, 0, 0, 0])
    g.save()
    header = header_of(g.path.read_bytes())
    assert header["embedder"] == {"name": "faces-fp32", "sha256": "a" * 64, "dim": 4, "normalization": "l2"}
    assert header["sha256"] == v3_sha256(header)
    assert Gallery.open(g.path).embedder == FLOAT


def test_the_fingerprint_adopted_after_the_base_was_written_goes_to_the_journal(tmp_path):
    path = tmp_path / "g.efg"
    Gallery(4, path).enroll("a", [1, 0, 0, 0])  # raw arrays: no fingerprint
    g = Gallery.open(path, embedder=FLOAT)
    assert Gallery.open(path).embedder is None  # adopting it wrote nothing yet
    g.enroll("b", [0, 1, 0, 0])
    assert Gallery.open(path).embedder == FLOAT and "embedder" not in header_of(path.read_bytes())
    g.save()
    assert header_of(path.read_bytes())["embedder"] == FLOAT.to_json()


def test_an_old_file_opens_and_records_the_first_embedder_that_writes_to_it(tmp_path):
    path = tmp_path / "old.efg"
    before = legacy_file(["a"], [1], [[1, 0, 0, 0]])  # as edgeface wrote galleries before the fingerprint
    path.write_bytes(before)
    assert Gallery.open(path).embedder is None

    g = Gallery.open(path, 4, embedder=FLOAT)
    assert g.embedder == FLOAT and path.read_bytes() == before  # opening to search writes nothing
    g.enroll("b", [0, 1, 0, 0], embedder=FLOAT)
    assert Gallery.open(path).embedder == FLOAT and Gallery.open(path).identities() == [("a", 1), ("b", 1)]
    with pytest.raises(GalleryError, match="old.efg was enrolled with embedder 'faces-fp32' \\(sha256 aaaaaaaaaaaa\\), "
                       "not this bundle's 'faces-int8' \\(sha256 bbbbbbbbbbbb\\): re-enroll the gallery with this "
                       "bundle, or use the bundle that made it"):
        Gallery.open(path, 4, embedder=INT8)


def test_templates_of_another_embedder_are_refused_and_raw_arrays_still_enroll(tmp_path):
    path = tmp_path / "g.efg"
    g = Gallery(4, path, embedder=FLOAT)
    g.enroll("a", [1, 0, 0, 0])
    h = Gallery.open(path)  # standalone: keeps the file's fingerprint, takes raw arrays
    h.enroll("b", [0, 1, 0, 0])
    with pytest.raises(GalleryError, match="faces-int8"):
        h.enroll("c", [0, 0, 1, 0], embedder=INT8)
    with pytest.raises(GalleryError, match="faces-int8"):
        h.bind(INT8)
    h.bind(EmbedderFingerprint("renamed bundle", "a" * 64, 4))  # the same model file under another name
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1)] and Gallery.open(path).embedder == FLOAT
    with pytest.raises(GalleryError, match="holds 4-d templates but this model embeds 8-d"):
        Gallery(4, embedder=EmbedderFingerprint("wide", "c" * 64, 8))


def test_a_change_to_a_file_another_embedder_took_is_refused(tmp_path):
    path = tmp_path / "g.efg"
    first, second = Gallery.open(path, 4, embedder=FLOAT), Gallery.open(path, 4, embedder=INT8)
    first.enroll("a", [1, 0, 0, 0])
    with pytest.raises(GalleryError, match="was enrolled with embedder 'faces-fp32'"):
        second.enroll("b", [0, 1, 0, 0])
    assert Gallery.open(path).identities() == [("a", 1)]


@pytest.mark.parametrize("edit, match", [
    (lambda h: h["embedder"].update(sha256="b" * 64), "header does not match its sha256"),
    (lambda h: h["embedder"].update(name="faces-int8"), "header does not match its sha256"),
    (lambda h: h.pop("embedder"), "header does not match its sha256"),
    (lambda h: h["embedder"].pop("dim"), "header does not match its sha256"),
])
def test_an_edited_fingerprint_fails_to_load(tmp_path, edit, match):
    g = Gallery(4, tmp_path / "g.efg", embedder=FLOAT)
    g.enroll("a", [1, 0, 0, 0])
    g.save()
    raw = g.path.read_bytes()
    header = header_of(raw)
    edit(header)
    assert_rejected(tmp_path / "bad.efg", with_header(raw, header), match=match, dim=4)


@pytest.mark.parametrize("embedder, match", [
    ({"name": "x", "sha256": "a" * 64, "dim": 4, "normalization": "cosine"}, "embedder name, sha256, dim or normalization invalid"),
    ({"name": "x", "sha256": "a" * 64, "dim": 8, "normalization": "l2"}, "embedder name, sha256, dim or normalization invalid"),
    ({"name": " ", "sha256": "a" * 64, "dim": 4, "normalization": "l2"}, "embedder name, sha256, dim or normalization invalid"),
    ({"name": "x", "sha256": "A" * 64, "dim": 4, "normalization": "l2"}, "embedder name, sha256, dim or normalization invalid"),
    ("faces-fp32", "embedder must hold exactly"),
])
def test_a_malformed_fingerprint_is_refused_even_with_a_matching_sha256(tmp_path, embedder, match):
    g = Gallery(4, tmp_path / "g.efg")
    g.enroll("a", [1, 0, 0, 0])
    g.save()
    raw = g.path.read_bytes()
    header = header_of(raw)
    header["embedder"] = embedder
    header["sha256"] = v3_sha256(header)
    assert_rejected(tmp_path / "bad.efg", with_header(raw, header), match=match, dim=4)


# --------------------------------------------------------------------- corrupt files


@pytest.fixture
def good_file(tmp_path):
    g, _, _ = random_gallery(seed=5, identities=6, dim=8, path=tmp_path / "good.efg")
    g.save()
    return g.path.read_bytes()


def assert_rejected(path, data, match="re-enroll, or restore from backup", dim=8):
    """Opening ``data`` (and waiting for its templates' check) raises ``match``."""
    path.write_bytes(data)
    with pytest.raises(GalleryError, match=match):
        Gallery.open(path, dim).verify()


def test_every_truncation_or_extension_is_rejected(tmp_path, good_file):
    bad = tmp_path / "bad.efg"
    for cut in range(len(good_file)):
        assert_rejected(bad, good_file[:cut])
    assert_rejected(bad, good_file + b"\0", match="identity tables do not match their sha256")


def test_a_flipped_template_byte_fails_the_background_check_and_every_call_after_it(tmp_path, good_file):
    bad = tmp_path / "bad.efg"
    for offset in (data_start(good_file), len(good_file) // 2, data_start(good_file) + 6 * 8 * 4 - 1):
        flipped = bytearray(good_file)
        flipped[offset] ^= 0x01
        assert_rejected(bad, bytes(flipped), match="templates 0 to .* do not match their sha256")
    g = Gallery.open(bad, 8)
    with pytest.raises(GalleryError, match="sha256"):
        g.verify()
    for call in (lambda: g.search(np.ones(8)), g.identities, lambda: g.enroll("x", np.ones(8)), lambda: len(g)):
        with pytest.raises(GalleryError, match="bad.efg is not a valid gallery file"):
            call()


def test_flipped_table_bytes_fail_at_open(tmp_path, good_file):
    bad = tmp_path / "bad.efg"
    *_, tables = v3_tables(good_file)
    for offset in (tables, tables + 6 * 8, len(good_file) - 1):  # a count, a name end, a name
        flipped = bytearray(good_file)
        flipped[offset] ^= 0x01
        path = bad
        path.write_bytes(bytes(flipped))
        with pytest.raises(GalleryError, match="identity tables do not match their sha256"):
            Gallery.open(path)


def test_bad_magic_and_padding(tmp_path, good_file):
    bad = tmp_path / "bad.efg"
    assert_rejected(bad, b"EFGALLERY4\n" + good_file[len(MAGIC) :], match="magic")
    assert_rejected(bad, b"", match="magic")
    padded = bytearray(good_file)
    padded[data_start(good_file) - 1] = 0x20
    assert_rejected(bad, bytes(padded), match="padding")


@FUZZ
@given(data=st.one_of(st.binary(max_size=3000), st.binary(max_size=3000).map(lambda b: MAGIC + b)))
def test_random_bytes_give_gallery_error_only(tmp_path, data):
    assert_rejected(tmp_path / "fuzz.efg", data)


@FUZZ
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4))
def test_mangled_files_give_gallery_error_or_load(tmp_path, good_file, cut, flips):
    """Flips in the header may still spell the same header (a space for a tab); anything else fails."""
    data = bytearray(good_file[: cut % (len(good_file) + 1)])
    for pos, mask in flips:
        if data:
            data[pos % len(data)] ^= mask
    path = tmp_path / "fuzz.efg"
    path.write_bytes(bytes(data))
    try:
        g = Gallery.open(path, 8)
        g.verify()
    except GalleryError:
        return
    assert g.dim == 8 and len(g) == sum(c for _, c in g.identities())


# --------------------------------------------------------------------- crash safety


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writer_killed_at_random_moments_loses_no_acknowledged_enrolment(tmp_path):
    """The writer enrolls big records and compacts every third one; kills land in appends,
    in compactions and in between. Every count it printed (acknowledged) must survive."""
    path, dim, rows = tmp_path / "g.efg", 64, 2000
    rng = random.Random(20240611)
    count = 0
    for _ in range(8):
        lines = run_and_kill(path, dim, rows, delay=rng.uniform(0.05, 0.4))
        assert lines and lines[0] == count  # the writer opened what the last round left
        if not path.exists():
            assert count == 0 and len(lines) == 1
            continue
        reopened = Gallery.open(path, dim, use_faiss=False)
        reopened.verify()
        count = len(reopened)
        assert count in (lines[-1], lines[-1] + rows), (count, lines)  # killed before or after the append
        assert [c for _, c in reopened.identities()] == [rows] * (count // rows)  # no torn record
    assert count > 0


def run_and_kill(path, dim, rows, delay, timeout=20.0):
    """Start the writer, let it run ``delay`` s past its first line, SIGKILL it; its output lines."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WRITER.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(dim), str(rows)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    lines, started = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(int(line))
            started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not started.wait(timeout):
            proc.kill()
            pytest.fail(f"writer did not start: {proc.stderr.read()}")
        time.sleep(delay)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout)
        reader.join(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout)
        proc.stdout.close()
        proc.stderr.close()
    return lines
