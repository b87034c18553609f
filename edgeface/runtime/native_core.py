"""The native runtime (``native/``, libedgeface.so) from Python, through ctypes over its C
interface (``native/include/edgeface.h``): what ``FaceAnalyzerOptions(runtime="native")``
runs. Only this module loads the library, and only when asked: ``import edgeface`` does
not.

The library is found at ``$EDGEFACE_NATIVE_LIBRARY``, else in a source checkout's release
build (``native/build/release/src/core/libedgeface.so``, made by
``python3 scripts/native_build.py``). Its statuses become the SDK's exceptions with the C
message (``ManifestError`` keeps the field's dotted path in it).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import weakref
from pathlib import Path

import numpy as np

from edgeface.errors import (BackendUnavailableError, BundleError, ChecksumError, EdgefaceError, GalleryError,
                             ImageError, InferenceError, ManifestError, ModelLoadError)
from edgeface.results import Detections

LIBRARY_ENV = "EDGEFACE_NATIVE_LIBRARY"
BUILT_LIBRARY = Path(__file__).resolve().parents[2] / "native" / "build" / "release" / "src" / "core" / "libedgeface.so"

# edgeface_status -> the SDK's exception class (ARGUMENT, OUT_OF_MEMORY, INTERNAL: EdgefaceError)
_ERRORS = {2: BundleError, 3: ManifestError, 4: ChecksumError, 5: ModelLoadError, 6: InferenceError, 9: ImageError,
           10: GalleryError}
_PIXEL_RGB = 0
_SEARCH = {None: 0, "whole": 1, "auto": 2, "all": 3}  # edgeface_search; None: the bundle's


class _Image(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int32), ("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("pixels", ctypes.c_void_p), ("stride", ctypes.c_size_t), ("size", ctypes.c_size_t),
                ("chroma", ctypes.c_void_p), ("chroma_stride", ctypes.c_size_t), ("chroma_size", ctypes.c_size_t),
                ("rotation", ctypes.c_int32), ("yuv_full_range", ctypes.c_int32)]


class _Options(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int32), ("score_threshold", ctypes.c_double), ("max_faces", ctypes.c_int32),
                ("flip_average", ctypes.c_int32), ("accelerator", ctypes.c_int32), ("search", ctypes.c_int32),
                ("min_face", ctypes.c_int32)]


class _Faces(ctypes.Structure):  # the arrays as addresses: _floats copies them out
    _fields_ = [("count", ctypes.c_size_t), ("num_keypoints", ctypes.c_int32),
                ("boxes", ctypes.c_void_p), ("scores", ctypes.c_void_p), ("keypoints", ctypes.c_void_p),
                ("embedding_size", ctypes.c_int32), ("embeddings", ctypes.c_void_p)]


def library_path() -> Path:
    configured = os.environ.get(LIBRARY_ENV)
    return Path(configured) if configured else BUILT_LIBRARY


def available() -> bool:
    """Whether the native library is there to load (it may still fail to load)."""
    return library_path().is_file()


@functools.lru_cache(maxsize=None)
def _load(path: Path) -> ctypes.CDLL:
    if not path.is_file():
        raise BackendUnavailableError(f"runtime='native': the native library {path} is not built: build it with "
                                      f"python3 scripts/native_build.py (or set ${LIBRARY_ENV} to a libedgeface.so)")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise BackendUnavailableError(f"runtime='native': cannot load {path} ({exc}): rebuild it with "
                                      f"python3 scripts/native_build.py") from None
    p = ctypes.POINTER
    status = ctypes.c_int32
    signatures = {
        "edgeface_last_error": (ctypes.c_char_p, []),
        "edgeface_bundle_open": (status, [ctypes.c_char_p, p(ctypes.c_void_p)]),
        "edgeface_bundle_close": (None, [ctypes.c_void_p]),
        "edgeface_analyzer_options_default": (None, [p(_Options)]),
        "edgeface_analyzer_create": (status, [ctypes.c_void_p, p(_Options), p(ctypes.c_void_p)]),
        "edgeface_analyzer_destroy": (None, [ctypes.c_void_p]),
        "edgeface_analyzer_keypoint_name": (status, [ctypes.c_void_p, ctypes.c_int32, p(ctypes.c_char_p)]),
        "edgeface_analyzer_detect": (status, [ctypes.c_void_p, p(_Image), p(_Faces)]),
        "edgeface_analyzer_embed_faces": (status, [ctypes.c_void_p, p(_Image), p(ctypes.c_float), ctypes.c_size_t,
                                                   p(ctypes.c_float), ctypes.c_size_t]),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = result, arguments
    return lib


def library() -> ctypes.CDLL:
    return _load(library_path())


def _check(lib: ctypes.CDLL, status: int) -> None:
    if status != 0:
        message = (lib.edgeface_last_error() or b"").decode("utf-8", "replace")
        raise _ERRORS.get(status, EdgefaceError)(message or f"edgeface status {status}")


def _view_of(rgb: np.ndarray, image: _Image) -> None:
    """Points ``image`` (an edgeface_image) at an (H, W, 3) uint8 C-contiguous array (no copy)."""
    image.height, image.width = rgb.shape[:2]
    image.pixels = rgb.__array_interface__["data"][0]
    image.stride = image.width * 3
    image.size = rgb.nbytes


def _floats(address: int | None, count: int) -> np.ndarray:
    """``count`` floats at ``address`` (the analyzer's result arrays), copied out."""
    if count == 0:
        return np.zeros(0, np.float32)
    return np.frombuffer(bytearray(ctypes.string_at(address, 4 * count)), np.float32)


class NativeEngine:
    """A bundle directory's detector and embedder in the native core: ``detect`` and
    ``embed`` as the SDK's Python engine gives them. Calls from several threads take
    turns (the native analyzer is one per thread)."""

    def __init__(self, bundle_dir: Path, num_threads: int = 1, score_threshold: float | None = None,
                 max_faces: int | None = None, flip_average: bool = False, search: str | None = None,
                 min_face: int = 40):
        lib = library()
        self._lib = lib
        self._lock = threading.Lock()
        bundle = ctypes.c_void_p()
        _check(lib, lib.edgeface_bundle_open(str(bundle_dir).encode(), ctypes.byref(bundle)))
        try:
            options = _Options()
            lib.edgeface_analyzer_options_default(ctypes.byref(options))
            options.num_threads = num_threads
            options.score_threshold = -1.0 if score_threshold is None else score_threshold
            options.max_faces = max_faces or 0
            options.flip_average = int(flip_average)
            options.search = _SEARCH[search]
            options.min_face = min_face
            analyzer = ctypes.c_void_p()
            _check(lib, lib.edgeface_analyzer_create(bundle, ctypes.byref(options), ctypes.byref(analyzer)))
        finally:
            lib.edgeface_bundle_close(bundle)  # the analyzer keeps what it needs
        self._analyzer = analyzer
        self._release = weakref.finalize(self, lib.edgeface_analyzer_destroy, analyzer)
        # reused by every call (under the lock): making ctypes structures costs microseconds
        self._image = _Image(format=_PIXEL_RGB, yuv_full_range=1)
        self._faces = _Faces()
        self._image_ref, self._faces_ref = ctypes.byref(self._image), ctypes.byref(self._faces)
        self.keypoint_names = self._keypoint_names()

    def _keypoint_names(self) -> tuple[str, ...]:
        names, name = [], ctypes.c_char_p()
        while self._lib.edgeface_analyzer_keypoint_name(self._analyzer, len(names), ctypes.byref(name)) == 0:
            names.append(name.value.decode())
        return tuple(names)

    def detect(self, rgb: np.ndarray) -> Detections:
        """(H, W, 3) uint8 RGB -> its faces in image pixels, best first."""
        rgb = np.ascontiguousarray(rgb)
        with self._lock:
            _view_of(rgb, self._image)
            _check(self._lib, self._lib.edgeface_analyzer_detect(self._analyzer, self._image_ref, self._faces_ref))
            faces = self._faces
            n, k = faces.count, faces.num_keypoints
            boxes, scores = _floats(faces.boxes, 4 * n), _floats(faces.scores, n)
            keypoints = _floats(faces.keypoints, n * k * 2)
        return Detections(boxes.reshape(n, 4), scores, keypoints.reshape(n, k, 2), self.keypoint_names)

    def embed(self, rgb: np.ndarray, detections: Detections, dim: int) -> np.ndarray:
        """(N, D) unit embeddings of the detected faces, aligned from their keypoints."""
        rgb = np.ascontiguousarray(rgb)
        points = np.ascontiguousarray(detections.keypoints, np.float32)
        out = np.zeros((len(points), dim), np.float32)
        as_floats = ctypes.POINTER(ctypes.c_float)
        with self._lock:
            _view_of(rgb, self._image)
            _check(self._lib, self._lib.edgeface_analyzer_embed_faces(
                self._analyzer, self._image_ref, points.ctypes.data_as(as_floats), len(points),
                out.ctypes.data_as(as_floats), out.size))
        return out

    def close(self) -> None:
        self._release()
