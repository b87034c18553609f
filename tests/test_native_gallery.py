"""The native core's galleries against the Python SDK's, through ctypes on the release
library: one file format both ways, one writer lock between them (a native save waits for
a Python writer and merges its changes), and one rule for identity names."""

import ctypes
import random
import threading

import numpy as np
import pytest

from edgeface.errors import GalleryError
from edgeface.fsutil import writer_lock
from edgeface.gallery import Gallery, _check_name
from tests.native_support import build_trees

DIM = 16
OK, ARGUMENT, GALLERY = 0, 1, 10


class NativeGallery:
    """A thin ctypes handle over edgeface_gallery_* (test-only: the SDK's Gallery is Python)."""

    def __init__(self, lib, path=None):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        status = (lib.edgeface_gallery_open(str(path).encode(), DIM, ctypes.byref(self.handle)) if path
                  else lib.edgeface_gallery_create(DIM, ctypes.byref(self.handle)))
        assert status == OK, lib.edgeface_last_error()

    def enroll(self, name: bytes, rows: np.ndarray) -> int:
        rows = np.ascontiguousarray(rows, np.float32)
        pointer = rows.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        return self.lib.edgeface_gallery_enroll(self.handle, name, pointer, rows.size, len(rows), None)

    def save(self, path=None) -> int:
        return self.lib.edgeface_gallery_save(self.handle, str(path).encode() if path else None)

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
        np.testing.assert_allclose(reopened._templates(name), python._templates(name), atol=1e-6)


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
        python._write(path)  # the Python save's own write, under the lock it holds
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
            _check_name(name)
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


def test_a_fingerprinted_gallery_is_written_byte_for_byte_alike_and_refused_alike(lib, tmp_path, fixture_bundle):
    from edgeface import FaceAnalyzer

    rows = np.eye(128, dtype=np.float32)[[0, 5, 9]] * 3  # both sides scale these to exactly the same unit rows
    analyzers = [native_analyzer(lib, fixture_bundle(name)) for name in ("blob_blazeface", "blob_blazeface_int8")]
    native, handle = NativeGallery.__new__(NativeGallery), ctypes.c_void_p()
    native.lib, native.handle = lib, handle
    assert lib.edgeface_gallery_create(128, ctypes.byref(handle)) == OK
    assert lib.edgeface_gallery_bind(handle, analyzers[0]) == OK, lib.edgeface_last_error()
    assert native.enroll("ann".encode(), rows[:2]) == OK and native.enroll("bob".encode(), rows[2:]) == OK
    assert native.save(tmp_path / "native.efg") == OK, lib.edgeface_last_error()

    sdk = FaceAnalyzer.create_from_bundle(fixture_bundle())
    python = Gallery(128, tmp_path / "python.efg", embedder=sdk.embedder_fingerprint)
    python.enroll("ann", rows[:2])
    python.enroll("bob", rows[2:])
    python.save()
    assert (tmp_path / "native.efg").read_bytes() == (tmp_path / "python.efg").read_bytes()

    assert lib.edgeface_gallery_bind(handle, analyzers[1]) == GALLERY
    native_message = lib.edgeface_last_error().decode()
    other = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_blazeface_int8"))
    with pytest.raises(GalleryError) as refused:
        Gallery.open(tmp_path / "native.efg", embedder=other.embedder_fingerprint)
    assert native_message == str(refused.value)  # one message, naming native.efg, both embedders and the fix
    native.close()
    for analyzer in analyzers:
        lib.edgeface_analyzer_destroy(analyzer)
