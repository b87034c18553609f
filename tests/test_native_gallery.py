"""The native core's galleries against the Python SDK's, through ctypes on the release
library: the native core reads what the SDK writes (a version-3 base with its journal)
and writes version 2, which the SDK reads; one writer lock between them (a native save
waits for a Python writer and merges its changes, journal records included, and the SDK
applies no record twice); and one rule for identity names."""

import ctypes
import random
import threading

import numpy as np
import pytest

from edgeface.errors import GalleryError
from edgeface.fsutil import writer_lock
from edgeface.gallery import MAGIC_V2, MAGIC_V3, Gallery
from edgeface.gallery.journal import HEAD_BYTES, journal_path
from edgeface.gallery.names import check_name
from tests.native_support import build_trees

DIM = 16
OK, ARGUMENT, GALLERY = 0, 1, 10


class Match(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("score", ctypes.c_float)]


class NativeGallery:
    """A thin ctypes handle over edgeface_gallery_* (test-only: the SDK's Gallery is Python)."""

    def __init__(self, lib, path=None, dim=DIM):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        status = (lib.edgeface_gallery_open(str(path).encode(), dim, ctypes.byref(self.handle)) if path
                  else lib.edgeface_gallery_create(dim, ctypes.byref(self.handle)))
        assert status == OK, lib.edgeface_last_error()

    def enroll(self, name: bytes, rows: np.ndarray) -> int:
        rows = np.ascontiguousarray(rows, np.float32)
        pointer = rows.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        return self.lib.edgeface_gallery_enroll(self.handle, name, pointer, rows.size, len(rows), None)

    def save(self, path=None) -> int:
        return self.lib.edgeface_gallery_save(self.handle, str(path).encode() if path else None)

    def counts(self) -> tuple[int, int]:
        """(identities, templates)."""
        return self.lib.edgeface_gallery_identity_count(self.handle), self.lib.edgeface_gallery_template_count(self.handle)

    def best(self, query: np.ndarray) -> tuple[str, float]:
        match, count = Match(), ctypes.c_size_t()
        query = np.ascontiguousarray(query, np.float32)
        status = self.lib.edgeface_gallery_search(self.handle, query.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                  query.size, -1.0, ctypes.byref(match), 1, ctypes.byref(count))
        assert status == OK and count.value == 1, self.lib.edgeface_last_error()
        return match.name.decode(), match.score

    def close(self):
        self.lib.edgeface_gallery_close(self.handle)


@pytest.fixture(scope="module")
def lib():
    library = ctypes.CDLL(str(build_trees()["release"] / "src" / "core" / "libedgeface.so"))
    handle, p, size = ctypes.c_void_p, ctypes.POINTER, ctypes.c_size_t
    signatures = {
        "edgeface_last_error": (ctypes.c_char_p, []),
        "edgeface_gallery_create": (ctypes.c_int32, [ctypes.c_int32, p(handle)]),
        "edgeface_gallery_open": (ctypes.c_int32, [ctypes.c_char_p, ctypes.c_int32, p(handle)]),
        "edgeface_gallery_close": (None, [handle]),
        "edgeface_gallery_enroll": (ctypes.c_int32, [handle, ctypes.c_char_p, p(ctypes.c_float), size, size, p(size)]),
        "edgeface_gallery_save": (ctypes.c_int32, [handle, ctypes.c_char_p]),
        "edgeface_gallery_identity_count": (size, [handle]),
        "edgeface_gallery_template_count": (size, [handle]),
        "edgeface_gallery_search": (ctypes.c_int32, [handle, p(ctypes.c_float), size, ctypes.c_float, p(Match), size,
                                                     p(size)]),
        "edgeface_gallery_bind": (ctypes.c_int32, [handle, handle]),
        "edgeface_bundle_open": (ctypes.c_int32, [ctypes.c_char_p, p(handle)]),
        "edgeface_bundle_close": (None, [handle]),
        "edgeface_analyzer_options_default": (None, [ctypes.c_void_p]),
        "edgeface_analyzer_create": (ctypes.c_int32, [handle, ctypes.c_void_p, p(handle)]),
        "edgeface_analyzer_destroy": (None, [handle]),
    }
    for name, (result, arguments) in signatures.items():
        getattr(library, name).restype, getattr(library, name).argtypes = result, arguments
    return library


def unit(rows):
    rows = np.asarray(rows, np.float64)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_python_opens_what_the_native_core_saved_with_the_same_templates(lib, tmp_path):
    rng = np.random.default_rng(17)
    rows = {"alice": rng.standard_normal((2, DIM)), "Zoë \U0001F642": rng.standard_normal((1, DIM))}
    native = NativeGallery(lib)
    for name, values in rows.items():
        assert native.enroll(name.encode(), values) == OK
    assert native.save(tmp_path / "g.efg") == OK
    native.close()

    reopened = Gallery.open(tmp_path / "g.efg", DIM)  # checks the sha256 over header and templates
    assert reopened.identities() == [("alice", 2), ("Zoë \U0001F642", 1)]
    python = Gallery(DIM)
    for name, values in rows.items():
        python.enroll(name, values)
    for name in rows:
        np.testing.assert_allclose(reopened.templates(name), python.templates(name), atol=1e-6)


def test_a_native_save_waits_for_a_python_writer_and_keeps_its_enrolments(lib, tmp_path):
    path = tmp_path / "g.efg"
    first = Gallery(DIM, path)
    first.enroll("alice", np.eye(DIM)[0])
    first.save()
    native = NativeGallery(lib, path)
    assert native.enroll(b"carol", np.eye(DIM)[2:3]) == OK

    python = Gallery.open(path, DIM)
    python.enroll("bob", np.eye(DIM)[1])
    saved = []
    with writer_lock(path):  # a Python writer in the middle of its save
        saver = threading.Thread(target=lambda: saved.append(native.save()))
        saver.start()
        saver.join(0.5)
        assert saver.is_alive(), "the native save must wait for the Python writer's lock"
        python._compact_locked()  # a Python compaction's own writes, under the lock it holds
    saver.join(30)
    assert saved == [OK], lib.edgeface_last_error()
    native.close()
    assert dict(Gallery.open(path, DIM).identities()) == {"alice": 1, "bob": 1, "carol": 1}


def test_the_native_core_refuses_exactly_the_names_the_python_sdk_refuses(lib):
    alphabet = ["a", "Z", " ", "\t", "\n", "\x1b", "\x7f", "\x85", "\xa0", "é", "\u061c", "\u200e", "\u2028",
                "\u202e", "\u2066", "\u3000", "\U0001F642", "\ufeff", "\u00ad"]
    chooser = random.Random(20)
    names = ["", "a" * 256, "a" * 257, "é" * 256] + [
        "".join(chooser.choice(alphabet) for _ in range(chooser.randint(1, 6))) for _ in range(400)]
    native = NativeGallery(lib)
    row = np.eye(DIM)[:1]
    for name in names:
        try:
            check_name(name)
            python_accepts = True
        except GalleryError:
            python_accepts = False
        status = native.enroll(name.encode("utf-8"), row)
        assert (status == OK) == python_accepts, (name, lib.edgeface_last_error())
        assert status in (OK, ARGUMENT)
    assert native.enroll(b"\xff\xfe", row) == ARGUMENT  # bytes no text decodes to
    native.close()


def native_analyzer(lib, bundle):
    """An edgeface_analyzer of ``bundle`` with default options (the options struct is
    filled by the library itself, so its layout needs no mirror here)."""
    opened, analyzer = ctypes.c_void_p(), ctypes.c_void_p()
    assert lib.edgeface_bundle_open(str(bundle).encode(), ctypes.byref(opened)) == OK, lib.edgeface_last_error()
    options = ctypes.create_string_buffer(64)
    lib.edgeface_analyzer_options_default(options)
    assert lib.edgeface_analyzer_create(opened, options, ctypes.byref(analyzer)) == OK, lib.edgeface_last_error()
    lib.edgeface_bundle_close(opened)
    return analyzer


def test_a_fingerprinted_gallery_is_read_alike_both_ways_and_refused_alike(lib, tmp_path, fixture_bundle):
    from edgeface import FaceAnalyzer

    rows = np.eye(128, dtype=np.float32)[[0, 5, 9]] * 3  # both sides scale these to exactly the same unit rows
    analyzers = [native_analyzer(lib, fixture_bundle(name)) for name in ("blob_blazeface", "blob_blazeface_int8")]
    native = NativeGallery(lib, dim=128)
    assert lib.edgeface_gallery_bind(native.handle, analyzers[0]) == OK, lib.edgeface_last_error()
    assert native.enroll("ann".encode(), rows[:2]) == OK and native.enroll("bob".encode(), rows[2:]) == OK
    assert native.save(tmp_path / "native.efg") == OK, lib.edgeface_last_error()

    sdk = FaceAnalyzer.create_from_bundle(fixture_bundle())
    python = Gallery(128, tmp_path / "python.efg", embedder=sdk.embedder_fingerprint)
    python.enroll("ann", rows[:2])
    python.enroll("bob", rows[2:])
    python.save()
    from_native = Gallery.open(tmp_path / "native.efg")
    assert from_native.identities() == python.identities() and from_native.embedder == python.embedder
    for name in ("ann", "bob"):
        np.testing.assert_array_equal(from_native.templates(name), python.templates(name))
    resaved = NativeGallery(lib, tmp_path / "python.efg", dim=128)  # the SDK's version 3, embedder in its base
    assert resaved.save(tmp_path / "resaved.efg") == OK, lib.edgeface_last_error()
    resaved.close()
    assert (tmp_path / "resaved.efg").read_bytes() == (tmp_path / "native.efg").read_bytes()

    assert lib.edgeface_gallery_bind(native.handle, analyzers[1]) == GALLERY
    native_message = lib.edgeface_last_error().decode()
    other = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_blazeface_int8"))
    with pytest.raises(GalleryError) as refused:
        Gallery.open(tmp_path / "native.efg", embedder=other.embedder_fingerprint)
    assert native_message == str(refused.value)  # one message, naming native.efg, both embedders and the fix
    native.close()
    for analyzer in analyzers:
        lib.edgeface_analyzer_destroy(analyzer)


def python_gallery_with_a_journal(path, rng):
    """A version-3 base of ann (2), ben and cy, then a journal enrolling into ben and a new
    dee, removing ann, enrolling eve, and ann again (a new identity, last)."""
    gallery = Gallery(DIM, path)
    for name, n in (("ann", 2), ("ben", 1), ("cy", 1)):
        gallery.enroll(name, rng.standard_normal((n, DIM)))
    gallery.compact()
    gallery.enroll("ben", rng.standard_normal((1, DIM)))
    gallery.enroll("dee", rng.standard_normal((1, DIM)))
    gallery.remove("ann")
    gallery.enroll("eve", rng.standard_normal((2, DIM)))
    gallery.enroll("ann", rng.standard_normal((1, DIM)))
    assert journal_path(path).stat().st_size > HEAD_BYTES, "the changes are in the journal"
    return gallery


def test_the_native_core_reads_a_python_gallery_and_its_journal_as_the_sdk_shows_it(lib, tmp_path):
    python = python_gallery_with_a_journal(tmp_path / "g.efg", np.random.default_rng(5))
    shown = python.identities()
    assert shown == [("ben", 2), ("cy", 1), ("dee", 1), ("eve", 2), ("ann", 1)]
    native = NativeGallery(lib, tmp_path / "g.efg")
    assert native.counts() == (5, 7)
    for name, _ in shown:
        for row in python.templates(name):
            found, score = native.best(row)
            assert found == name and score == pytest.approx(1.0, abs=1e-6)
    assert native.save(tmp_path / "copy.efg") == OK, lib.edgeface_last_error()  # what the native core holds, whole
    native.close()
    copy = Gallery.open(tmp_path / "copy.efg", DIM)
    assert copy.identities() == shown
    for name, _ in shown:
        np.testing.assert_array_equal(copy.templates(name), python.templates(name))


def test_a_native_save_over_a_python_journal_keeps_the_union_and_the_sdk_applies_no_record_twice(lib, tmp_path):
    path, rng = tmp_path / "g.efg", np.random.default_rng(6)
    python = Gallery(DIM, path)
    python.enroll("ann", rng.standard_normal((2, DIM)))
    python.enroll("ben", rng.standard_normal((1, DIM)))
    python.compact()
    python.enroll("ann", rng.standard_normal((1, DIM)))
    python.enroll("cy", rng.standard_normal((1, DIM)))
    python.remove("ben")
    native = NativeGallery(lib, path)
    native_rows = unit(rng.standard_normal((2, DIM)))
    assert native.enroll(b"dee", native_rows[:1]) == OK and native.enroll(b"ann", native_rows[1:]) == OK
    python.enroll("eve", rng.standard_normal((1, DIM)))  # after the native read: only the journal's growth shows it
    python_rows = {name: python.templates(name) for name, _ in python.identities()}
    assert native.save() == OK, lib.edgeface_last_error()
    native.close()

    assert path.read_bytes().startswith(MAGIC_V2)
    assert journal_path(path).stat().st_size > HEAD_BYTES, "the old journal is still there, its records in the file"
    union = [("ann", 4), ("cy", 1), ("eve", 1), ("dee", 1)]
    for gallery in (python, Gallery.open(path, DIM)):  # the writer of the journal, and a fresh reader
        assert gallery.identities() == union
        np.testing.assert_array_equal(gallery.templates("ann")[:3], python_rows["ann"])
        np.testing.assert_allclose(gallery.templates("ann")[3:], native_rows[1:], atol=1e-6)
        for name in ("cy", "eve"):
            np.testing.assert_array_equal(gallery.templates(name), python_rows[name])

    python.enroll("fay", rng.standard_normal((1, DIM)))  # the SDK's next change: a new base and journal
    assert path.read_bytes().startswith(MAGIC_V3)
    assert Gallery.open(path, DIM).identities() == [*union, ("fay", 1)]
    again = NativeGallery(lib, path)
    assert again.counts() == (5, 8)
    again.close()


def test_the_native_core_refuses_a_corrupt_journal_as_the_sdk_does(lib, tmp_path):
    path = tmp_path / "g.efg"
    python_gallery_with_a_journal(path, np.random.default_rng(7))
    journal = bytearray(journal_path(path).read_bytes())
    journal[HEAD_BYTES + 4 + 3] ^= 0x01  # a byte of the first record's name: more records follow it
    journal_path(path).write_bytes(bytes(journal))
    with pytest.raises(GalleryError) as refused:
        Gallery.open(path, DIM)
    handle = ctypes.c_void_p()
    assert lib.edgeface_gallery_open(str(path).encode(), DIM, ctypes.byref(handle)) == GALLERY
    assert not handle
    message = lib.edgeface_last_error().decode()
    assert message == str(refused.value)
    assert message == (f"{journal_path(path)} is not a valid gallery journal (byte {HEAD_BYTES}: a record does not "
                       "match its sha256 and more records follow): re-enroll, or restore from backup")
