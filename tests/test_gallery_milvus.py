"""The gallery in Milvus (edgeface/gallery/milvus.py), against a Milvus Lite server in a
child process reached over gRPC, as a cluster is, and in this process (milvus-lite:):
the same identities, scores and decisions as a gallery file, the embedder check, two
processes enrolling at once, a pickled gallery reaching the same live collection, and
clear errors for bad URIs, unreachable servers and foreign collections."""

import multiprocessing
import pickle
import re
import time

import numpy as np
import pytest

from edgeface.errors import GalleryError
from edgeface.gallery import EmbedderFingerprint, Gallery
from edgeface.gallery.service_uri import TOKEN_VARIABLE, is_service_uri, parse
from tests.milvus_server import milvus_server
from tests.test_gallery_ann import decisions, face_like
from tests.test_gallery_hardening import race

pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
from edgeface.gallery.milvus import MilvusGallery, name_key  # noqa: E402

THRESHOLD = 0.6
EMBEDDER = EmbedderFingerprint("model-a", "a" * 64, 64)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with milvus_server(tmp_path_factory.mktemp("milvus")) as address:
        yield address


@pytest.fixture
def uri(server, request):
    """A collection of its own for each test."""
    return f"{server}?collection=t_{abs(hash(request.node.name)) % 10**12}"


@pytest.fixture(scope="module")
def twins(server, tmp_path_factory):
    """The same 2,000 face-like 64-d templates (some identities with two) in Milvus and
    in a gallery file, with queries (a fifth of them strangers)."""
    templates, queries, truth = face_like(2_000, 64, 200, seed=4)
    remote = Gallery.open(f"{server}?collection=twins", 64)
    local = Gallery(64, tmp_path_factory.mktemp("twins") / "g.efg")
    second = templates + 0.05 * np.random.default_rng(4).standard_normal(templates.shape)  # another photo
    for i in range(2_000):
        rows = np.stack([templates[i], second[i]]) if i % 10 == 0 else templates[i]
        remote.enroll(f"p{i}", rows)
        local.enroll(f"p{i}", rows)
    return remote, local, queries, truth


def test_open_by_uri_gives_the_milvus_backend_and_uris_are_told_from_files(uri):
    gallery = Gallery.open(uri, 64)
    assert isinstance(gallery, MilvusGallery) and gallery.dim == 64 and len(gallery) == 0
    assert is_service_uri(uri) and is_service_uri("milvus-lite:/x/g.db")
    assert not is_service_uri("people.efg") and not is_service_uri("milvus.efg") and not is_service_uri(None)


def test_same_matches_scores_and_decisions_as_a_gallery_file(twins):
    """Every query: the same top-5 identities in the same order, the same similarities
    (both computed from the float32 templates), and so the same accept/reject."""
    remote, local, queries, truth = twins
    assert remote.identities() == local.identities() and len(remote) == len(local) == 2_200
    got, want = remote.search(queries, 5, THRESHOLD), local.search(queries, 5, THRESHOLD)
    assert decisions(got) == decisions(want)
    for mine, theirs in zip(got, want):
        assert [m.identity for m in mine] == [m.identity for m in theirs]
        np.testing.assert_allclose([m.similarity for m in mine], [m.similarity for m in theirs], atol=1e-6)
    known = truth >= 0
    top = np.array([r[0].identity if r else None for r in remote.search(queries[known], 1)])
    assert np.mean(top == np.array([f"p{t}" for t in truth[known]])) >= 0.99


def test_templates_remove_and_contains_follow_the_file_gallery(twins, uri):
    remote, local, _, _ = twins
    np.testing.assert_array_equal(remote.templates("p10"), local.templates("p10"))
    g = Gallery.open(uri, 64)
    rng = np.random.default_rng(0)
    g.enroll("ann", rng.standard_normal((3, 64)))
    assert g.enroll("ann", rng.standard_normal(64)) == 4
    g.enroll('quote " and \\ and \u00e9', rng.standard_normal(64))
    assert "ann" in g and 'quote " and \\ and \u00e9' in g and "bob" not in g and 5 not in g
    assert g.identities() == [("ann", 4), ('quote " and \\ and \u00e9', 1)]
    assert g.remove("ann") == 4 and "ann" not in g and len(g) == 1
    with pytest.raises(GalleryError, match=r"^no identity named 'ann' in the gallery$"):
        g.remove("ann")
    with pytest.raises(GalleryError, match="identity name must be a non-blank string"):
        g.enroll(" ", rng.standard_normal(64))
    with pytest.raises(GalleryError, match=r"embeddings must have shape \(64,\) or \(N, 64\)"):
        g.enroll("carl", rng.standard_normal(32))


def test_names_sharing_a_key_stay_apart(uri, monkeypatch):
    """Two names with one filter key (forced here) keep their own templates."""
    monkeypatch.setattr("edgeface.gallery.milvus.name_key", lambda name: 7)
    g = Gallery.open(uri, 64)
    rng = np.random.default_rng(1)
    g.enroll("one", rng.standard_normal((2, 64)))
    g.enroll("two", rng.standard_normal(64))
    assert g.identities() == [("one", 2), ("two", 1)] and g.remove("two") == 1 and g.templates("one").shape == (2, 64)
    assert name_key("one") != name_key("two")


def test_the_embedder_is_recorded_and_another_is_refused(uri):
    g = Gallery.open(uri, 64, embedder=EMBEDDER)
    g.enroll("ann", np.ones(64))
    again = Gallery.open(uri)
    assert again.embedder == EMBEDDER
    other = EmbedderFingerprint("model-b", "b" * 64, 64)
    with pytest.raises(GalleryError, match=r"was enrolled with embedder 'model-a' \(sha256 aaaaaaaaaaaa\), not this "
                                           r"bundle's 'model-b' \(sha256 bbbbbbbbbbbb\): re-enroll"):
        Gallery.open(uri, embedder=other)
    with pytest.raises(GalleryError, match="holds 64-d templates but this model embeds 128-d"):
        Gallery.open(uri, 128)


def test_a_pickled_gallery_reaches_the_same_live_collection(uri):
    """What Ray does with the feeds' watch list: the copy in another process sees an
    enrolment made after it was pickled."""
    g = Gallery.open(uri, 64)
    rng = np.random.default_rng(2)
    g.enroll("early", rng.standard_normal(64))
    blob = pickle.dumps(g)
    late = rng.standard_normal(64)
    g.enroll("late", late)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_search_in_child, (blob, late)) == "late"


def _search_in_child(blob, query):
    return pickle.loads(blob).search(query, 1)[0][0].identity


@pytest.mark.slow
def test_two_processes_enrolling_1000_each_at_once_keep_all_2000(tmp_path, uri):
    g = race(tmp_path, "api", per_process=1000, location=uri)
    assert {n for n, _ in g.identities()} == {f"{p}{i}" for p in "ab" for i in range(1000)}
    assert len(g) == 4000


def test_save_copies_the_watch_list_to_a_gallery_file(uri, tmp_path):
    g = Gallery.open(uri, 64, embedder=EMBEDDER)
    rng = np.random.default_rng(3)
    for name, count in (("ann", 2), ("bob", 1), ("cid", 3)):
        g.enroll(name, rng.standard_normal((count, 64)))
    g.remove("bob")
    g.save(tmp_path / "copy.efg")
    copy = Gallery.open(tmp_path / "copy.efg")
    assert copy.identities() == [("ann", 2), ("cid", 3)] and copy.embedder == EMBEDDER
    np.testing.assert_array_equal(copy.templates("cid"), g.templates("cid"))
    with pytest.raises(GalleryError, match="is kept by Milvus: pass a file path to save a copy"):
        g.save()


def test_embedded_milvus_lite_in_this_process(tmp_path):
    uri = f"milvus-lite:{tmp_path / 'watch.db'}?collection=people"
    g = Gallery.open(uri, 64)
    g.enroll("ann", np.ones(64))
    assert g.search(np.ones(64), 1, THRESHOLD)[0][0].identity == "ann"
    assert Gallery.open(uri).identities() == [("ann", 1)]


def test_calibration_is_recorded_for_every_node_and_redone_for_a_lower_threshold(uri):
    templates, queries, _ = face_like(600, 64, 10, seed=5)
    g = Gallery.open(uri, 64)
    g.enroll("crowd", templates[:300])
    for i in range(300, 600):
        g.enroll(f"p{i}", templates[i])
    g.build_index(0.7)
    stored = Gallery.open(uri)._describe()["properties"]["edgeface.calibration"]
    assert '"cosine": 0.7' in stored and '"rows": 600' in stored
    assert g.search(queries, 3, 0.5) == Gallery.open(uri).search(queries, 3, 0.5)
    assert '"cosine": 0.5' in g._describe()["properties"]["edgeface.calibration"]


def test_one_identity_with_more_templates_than_candidates_still_yields_top_k(uri):
    """The candidates are templates: when one identity fills them all, the search asks
    for more until it has top_k identities."""
    rng = np.random.default_rng(6)
    base = rng.standard_normal(64)
    g = Gallery.open(uri, 64)
    g.enroll("many", base + 0.01 * rng.standard_normal((300, 64)))
    g.enroll("other", rng.standard_normal(64))
    assert [m.identity for m in g.search(base, 2)[0]] == ["many", "other"]


@pytest.mark.parametrize("text, message", [
    ("milvus://user:secret@host:19530", f"put credentials in the environment variable {TOKEN_VARIABLE}"),
    ("milvus://host:99999", "the port must be a number from 1 to 65535"),
    ("milvus://:19530", "no host"),
    ("milvus://host/watch", r"the collection goes in \?collection=NAME"),
    ("milvus://host?collection=9bad", "collection '9bad' is not a Milvus name"),
    ("milvus://host?colection=x", r"unknown option colection \(options: collection, db\)"),
    ("milvus://host?collection=a&collection=b", "option collection given more than once"),
    ("milvus-lite:/tmp/watch", "a Milvus Lite path must end in .db"),
    ("milvus-lite:/tmp/w.db?db=x", "Milvus Lite has no databases"),
])
def test_bad_uris_are_refused_by_name(text, message):
    with pytest.raises(GalleryError, match=rf"^gallery URI {re.escape(repr(text))}: {message}.* \(expected milvus://"):
        parse(text)


def test_uri_parts():
    found = parse("milvus://10.0.0.5?collection=watch&db=city")
    assert (found.address, found.collection, found.database) == ("http://10.0.0.5:19530", "watch", "city")
    assert not found.lite
    found = parse("milvus+https://[::1]:443")
    assert (found.address, found.collection, found.database) == ("https://[::1]:443", "edgeface_gallery", None)


def test_an_unreachable_server_is_one_clear_error(tmp_path):
    start = time.monotonic()
    with pytest.raises(GalleryError, match=r"^milvus://127.0.0.1:1\?collection=x: cannot reach the gallery \(.*\): "
                                           r"check that Milvus runs there"):
        Gallery.open("milvus://127.0.0.1:1?collection=x", 64)
    assert time.monotonic() - start < 30


def test_missing_and_foreign_collections_are_refused(server, uri):
    from pymilvus import DataType, MilvusClient

    with pytest.raises(GalleryError, match=r"no such gallery: pass the model's embedding dim to start one"):
        Gallery.open(uri)
    client = MilvusClient(server.replace("milvus://", "http://"))
    schema = client.create_schema(auto_id=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=64)
    client.create_collection("foreign", schema=schema)
    with pytest.raises(GalleryError, match=r"collection 'foreign' is not an edgeface gallery .*choose another "
                                           r"\?collection="):
        Gallery.open(f"{server}?collection=foreign", 64)
