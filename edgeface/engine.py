"""What runs a ``FaceAnalyzer``'s models: the one seam between the SDK's verbs and the
runtime under them (``FaceAnalyzerOptions.runtime``).

- ``PythonEngine`` (``runtime="python"``, the default): the numpy path, the SDK's
  ``Detector``, ``Aligner`` and ``Embedder`` over a backend model (LiteRT, ONNX Runtime,
  QNN for ``soc=``).
- ``NativeEngine`` (``runtime="native"``, ``edgeface.runtime.native_core``): the C++ core
  that phones run, through its C interface.
- ``runtime="auto"``: native where the library is built and the bundle suits it (a
  directory of TFLite models, no ``soc``), else python.

An engine gives ``keypoint_names``, ``detect(rgb) -> Detections`` and
``embed(rgb, keypoints, dim) -> (N, dim)`` unit vectors, with the options' score
threshold, face limit and flip averaging applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from edgeface.errors import BackendUnavailableError, EdgefaceError
from edgeface.results import Detections
from edgeface.tiled_search import SearchSettings, search_faces

if TYPE_CHECKING:
    from edgeface.analyzer import FaceAnalyzerOptions
    from edgeface.bundle import Bundle
    from edgeface.landmarks import Landmarks

RUNTIMES = ("python", "native", "auto")


class Engine(Protocol):
    keypoint_names: tuple[str, ...]  # () without a detector

    def detect(self, rgb: np.ndarray) -> Detections:
        """(H, W, 3) uint8 RGB -> its faces in image pixels, best first."""

    def embed(self, rgb: np.ndarray, detections: Detections, dim: int) -> np.ndarray:
        """(N, dim) unit embeddings of the detected faces."""

    def landmarks(self, rgb: np.ndarray, detections: Detections) -> Landmarks:
        """Dense landmarks of the detected faces (a bundle with models.landmarks)."""

    def follow_landmarks(self, rgb: np.ndarray, previous: Landmarks) -> Landmarks:
        """Dense landmarks of the faces whose earlier points were ``previous``."""


class PythonEngine:
    """The numpy path over backend models; ``detector``, ``embedder`` and ``aligner`` are
    the SDK objects (None where the bundle has no such model)."""

    def __init__(self, bundle: Bundle, options: FaceAnalyzerOptions):
        from edgeface.align import Aligner, landmark_aligner
        from edgeface.detect import Detector
        from edgeface.embed import Embedder
        from edgeface.landmarks import Landmarker
        from edgeface.runtime.model import Model

        manifest, threads = bundle.manifest, options.num_threads
        soc = None
        if options.soc is not None:
            from edgeface.socs import find_soc

            soc = find_soc(options.soc).part
        self.options = options
        self.detector = Detector(Model.from_bundle(bundle, manifest.detector, threads, soc),
                                 manifest.detector) if manifest.detector else None
        self.embedder = Embedder(Model.from_bundle(bundle, manifest.embedder, threads, soc),
                                 manifest.embedder, options.flip_average) if manifest.embedder else None
        self.landmarker = Landmarker(Model.from_bundle(bundle, manifest.landmarks, threads, soc),
                                     manifest.landmarks, f"{bundle.location}/{manifest.landmarks.file}") \
            if manifest.landmarks else None
        self.aligner = Aligner(manifest.embedder.alignment, self.detector.keypoint_names) \
            if self.detector and self.embedder else None
        # with a landmark model whose groups the embedder's chip names, faces align from them
        self.landmark_aligner = landmark_aligner(manifest.embedder.alignment, manifest.landmarks.point_groups) \
            if self.aligner and self.landmarker else None
        self.keypoint_names = self.detector.keypoint_names if self.detector else ()
        search = options.search or (self.detector.spec.search if self.detector else "whole")
        self.search = SearchSettings(search, options.min_face)

    def detect(self, rgb: np.ndarray) -> Detections:
        spec, options = self.detector.spec, self.options
        threshold = spec.score_threshold if options.score_threshold is None else options.score_threshold
        max_faces = options.max_faces or spec.max_faces
        return search_faces(rgb, lambda image, at: self.detector.detect(image, at, max_faces), self.search,
                            threshold, spec.nms, spec.nms_iou, max_faces)

    def embed(self, rgb: np.ndarray, detections: Detections, dim: int) -> np.ndarray:
        return self.embedder.embed_chips(self._chips(rgb, detections))

    def _chips(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        """Each face's chip, from the landmark model's group centres where the bundle's
        embedder names them and the model finds the face, else from the keypoints."""
        if self.landmark_aligner is None or not len(detections):
            return self.aligner.chips(rgb, detections.keypoints)
        landmarks = self.landmarks(rgb, detections)
        centres = np.stack([landmarks.centre(name)[:, :2] for name in self.landmark_aligner.names], axis=1)
        chips = self.landmark_aligner.chips(rgb, centres)
        lost = landmarks.presence < self.landmarker.spec.presence_threshold
        if lost.any():
            chips[lost] = self.aligner.chips(rgb, detections.keypoints[lost])
        return chips

    def landmarks(self, rgb: np.ndarray, detections: Detections) -> Landmarks:
        return self.landmarker.from_detections(rgb, detections.boxes, detections.keypoints, self.keypoint_names)

    def follow_landmarks(self, rgb: np.ndarray, previous: Landmarks) -> Landmarks:
        return self.landmarker.from_points(rgb, previous)


def create_engine(bundle: Bundle, options: FaceAnalyzerOptions) -> Engine:
    """The engine ``options.runtime`` asks for (see the module's docstring)."""
    if options.runtime not in RUNTIMES:
        raise EdgefaceError(f"runtime={options.runtime!r}: choose {', '.join(RUNTIMES)}")
    SearchSettings(options.search or "whole", options.min_face)  # a bad search or min_face, before any runtime
    if options.runtime == "python":
        return PythonEngine(bundle, options)
    problem = _native_unsuitable(bundle, options)
    if options.runtime == "auto" and problem is not None:
        return PythonEngine(bundle, options)
    if problem is not None:
        raise BackendUnavailableError(f"runtime='native': {problem}")
    from edgeface.runtime.native_core import NativeEngine

    return NativeEngine(bundle.location, options.num_threads, options.score_threshold, options.max_faces,
                        options.flip_average, options.search, options.min_face)


def _native_unsuitable(bundle: Bundle, options: FaceAnalyzerOptions) -> str | None:
    """Why the native core cannot run this bundle with these options, or None."""
    from edgeface.runtime import native_core

    if not native_core.available():
        return (f"the native library {native_core.library_path()} is not built: build it with "
                f"python3 scripts/native_build.py, or use runtime='python'")
    if options.soc is not None:
        return f"soc={options.soc!r} runs Hexagon builds, which the native core does not yet: use runtime='python'"
    if not bundle.location.is_dir():
        return f"{bundle.location} is a zip: the native core opens bundle directories; unzip it"
    if bundle.manifest.landmarks is not None:
        return f"{bundle.location} has a landmark model, which the native core does not run yet"
    formats = {m.format for m in bundle.manifest.models()}
    if formats != {"tflite"}:
        return f"{bundle.location} holds {', '.join(sorted(formats))} models; the native core runs tflite only"
    embedder = bundle.manifest.embedder
    if embedder is not None and (embedder.alignment.width, embedder.alignment.height) != \
            (embedder.input.width, embedder.input.height):
        return (f"{bundle.location}: its chips are aligned at {embedder.alignment.width}x{embedder.alignment.height} "
                f"but the embedder takes {embedder.input.width}x{embedder.input.height}; the native core warps "
                f"chips at the input size and does not resize them")
    return None
