"""``FaceAnalyzer``: the SDK's one-stop API, image in, faces out.

    analyzer = FaceAnalyzer.create_from_options(FaceAnalyzerOptions(bundle="bundle/"))
    for face in analyzer.analyze(image):
        print(face.bbox, face.score, face.identity)

Under the per-face verbs (``detect``, ``analyze``, ``verify``, ``identify``) is an array
path for code that keeps faces in numpy (video mode, evaluation, applications):

    detections = analyzer.detect_arrays(image)              # Detections: boxes, scores, keypoints
    embeddings = analyzer.embed_faces(image, detections)    # (N, D) unit vectors
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from edgeface.bundle import Bundle, load_bundle
from edgeface.engine import create_engine
from edgeface.errors import BundleError, EdgefaceError, GalleryError, SignatureError
from edgeface.image import DEFAULT_MAX_PIXELS, to_rgb
from edgeface.results import Detection, Detections, Face, Verification
from edgeface.signing import KeySources, PublicKey, trusted_keys, trusted_keys_from_env

if TYPE_CHECKING:
    from edgeface.landmarks import Landmarks


class NoFaceError(EdgefaceError):
    """An operation needed a face and the image has none the detector can find."""


@dataclass(frozen=True)
class FaceAnalyzerOptions:
    """How to create a ``FaceAnalyzer``; consumed at creation (frozen, as MediaPipe's task
    options are): for other settings create another analyzer, e.g. from
    ``dataclasses.replace(options, max_faces=1)``."""

    bundle: str | Path
    num_threads: int = 1
    score_threshold: float | None = None  # None: the manifest's
    max_faces: int | None = None  # None: the manifest's
    flip_average: bool = False  # average the embeddings of each chip and its mirror image
    color: str = "rgb"  # what image arrays hold: rgb, bgr, rgba, bgra or gray
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    gallery: str | Path | None = None  # a gallery file, or a vector database URI, to identify faces against
    # Run the bundle's builds for this Snapdragon SoC's Hexagon NPU (e.g. "SM8650"; needs
    # the qnn extra; on x86_64 the HTP simulator). None: the portable models.
    soc: str | None = None
    # Refuse a bundle that none of these public keys signed (key files, or
    # edgeface.signing.PublicKey). None: the key files $EDGEFACE_TRUSTED_KEYS lists; when
    # that is unset too, unsigned bundles load.
    trusted_keys: KeySources | None = None
    # What runs the models (edgeface.engine): "python" (numpy + LiteRT), "native" (the C++
    # core phones run; build it with scripts/native_build.py), or "auto" (native where it
    # is built and the bundle suits it).
    runtime: str = "python"
    # Where to look for faces (edgeface.tiled_search): "whole" runs the detector once on
    # the whole image; "all" also on a pyramid of tiles, to find faces down to
    # ``min_face`` pixels wide in large photos; "auto" as "all" unless the whole-image
    # pass found a face over 35 % of the image's shorter side (a selfie stays one pass).
    # None: the bundle's ``models.detector.search`` ("auto" in the default bundle).
    search: str | None = None
    min_face: int = 40


def required_keys(options: FaceAnalyzerOptions) -> list[PublicKey] | None:
    """The keys a bundle must be signed with under these options, or None."""
    if options.trusted_keys is not None:
        return trusted_keys(options.trusted_keys)
    return trusted_keys_from_env()


def _check_signer(bundle: Bundle, keys: list[PublicKey] | None) -> None:
    """A bundle opened elsewhere (``FaceAnalyzer(bundle, options)``) must still have been
    verified against one of the keys the options require."""
    if keys is not None and bundle.signed_by not in keys:
        raise SignatureError(f"{bundle.location}: trusted keys are required but this bundle was opened without "
                             f"checking its signature against them: open it with load_bundle(path, "
                             f"trusted_keys=...), or use FaceAnalyzer.create_from_options")


class FaceAnalyzer:
    def __init__(self, bundle: Bundle, options: FaceAnalyzerOptions):
        _check_signer(bundle, required_keys(options))
        self.bundle = bundle
        self.options = options
        self._engine = create_engine(bundle, options)
        # the Python runtime's SDK objects, for code that reaches into them (None under native)
        self.detector = getattr(self._engine, "detector", None)
        self.embedder = getattr(self._engine, "embedder", None)
        self.aligner = getattr(self._engine, "aligner", None)
        self._gallery = None
        if options.gallery is not None:
            self._gallery = self._open_gallery(options.gallery)

    @classmethod
    def create_from_options(cls, options: FaceAnalyzerOptions) -> "FaceAnalyzer":
        return cls(load_bundle(options.bundle, trusted_keys=required_keys(options)), options)

    @classmethod
    def create_from_bundle(cls, bundle: str | Path, **options) -> "FaceAnalyzer":
        return cls.create_from_options(FaceAnalyzerOptions(bundle=bundle, **options))

    # -- detection ---------------------------------------------------------------

    def _rgb(self, image: object, color: str | None, name: str) -> np.ndarray:
        return to_rgb(image, color or self.options.color, self.options.max_image_pixels, name)

    def _require(self, role: str):
        """The manifest's spec of ``role``; a clear error when the bundle has none."""
        spec = getattr(self.bundle.manifest, role)
        if spec is None:
            raise BundleError(f"{self.bundle.location}: this bundle has no {role}, which this "
                              f"operation needs: use a bundle with models.{role}")
        return spec

    def detect_arrays(self, image: object, color: str | None = None) -> Detections:
        """The faces in ``image`` (HxWx3 uint8 RGB unless ``color`` says otherwise) as
        arrays in image pixels, best first, keypoints named as the detector names them."""
        return self._detect(self._rgb(image, color, "image"))

    def _detect(self, rgb: np.ndarray) -> Detections:
        self._require("detector")
        return self._engine.detect(rgb)

    def detect(self, image: object, color: str | None = None) -> list[Detection]:
        """Faces in ``image`` (HxWx3 uint8 RGB unless ``color`` says otherwise), best first."""
        return self.detect_arrays(image, color).faces()

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        """The names of the detector's keypoints, in the order ``Detections`` holds them."""
        self._require("detector")
        return self._engine.keypoint_names

    @property
    def has_detector(self) -> bool:
        return self.bundle.manifest.detector is not None

    @property
    def has_landmarks(self) -> bool:
        return self.bundle.manifest.landmarks is not None

    @property
    def aligns_from(self) -> str:
        """What the recognizer's chip is aligned from: "landmarks" (the centres of the
        landmark model's point groups the embedder's ``alignment.landmark_template`` names,
        where the bundle has such a model and the Python runtime runs it), else "keypoints"
        (the detector's)."""
        return "landmarks" if getattr(self._engine, "landmark_aligner", None) is not None else "keypoints"

    @property
    def has_embedder(self) -> bool:
        return self.bundle.manifest.embedder is not None

    @property
    def embedding_size(self) -> int:
        """The length of this bundle's embeddings."""
        return self._require("embedder").embedding_size

    @property
    def embedder_fingerprint(self):
        """What a gallery records of this bundle's embedder, so that embeddings of another
        model are never searched against its templates (edgeface.gallery)."""
        from edgeface.gallery import EmbedderFingerprint

        spec = self._require("embedder")
        return EmbedderFingerprint(self.bundle.manifest.name, spec.sha256, spec.embedding_size)

    # -- landmarks ------------------------------------------------------------------

    def landmarks_arrays(self, image: object, detections: Detections | None = None,
                         color: str | None = None) -> "Landmarks":
        """Dense landmarks (``edgeface.landmarks.Landmarks``: (N, P, 3) points in image
        pixels with relative depth, presence, named point groups) of the faces
        ``detections`` found in ``image`` (default: those ``detect_arrays`` finds), in
        their order. Needs a bundle with ``models.landmarks`` (``edgeface models fetch
        face-mesh``)."""
        rgb = self._rgb(image, color, "image")
        self._require("landmarks")
        if detections is None:
            detections = self._detect(rgb)
        else:
            self._check_detections(detections)
        return self._engine.landmarks(rgb, detections)

    def follow_landmarks(self, image: object, previous: "Landmarks", color: str | None = None) -> "Landmarks":
        """The landmarks of the faces whose points on an earlier frame were ``previous``,
        without running the detector (video: the crop comes from the previous points, as
        in MediaPipe's face mesh). A face that left its crop gets a low ``presence``."""
        rgb = self._rgb(image, color, "image")
        self._require("landmarks")
        return self._engine.follow_landmarks(rgb, previous)

    # -- embedding ------------------------------------------------------------------

    def embed_faces(self, image: object, detections: Detections, color: str | None = None) -> np.ndarray:
        """(N, D) unit embeddings of the faces ``detections`` found in ``image`` (by
        ``detect_arrays`` or any detector giving this bundle's keypoints), in their order."""
        rgb = self._rgb(image, color, "image")
        self._check_detections(detections)
        return self._embed(rgb, detections)

    def _check_detections(self, detections: object) -> None:
        """Detections ``embed_faces`` can align: this detector's keypoints, by name."""
        if not isinstance(detections, Detections):
            raise EdgefaceError(f"detections: expected edgeface.results.Detections (from detect_arrays), "
                                f"got {type(detections).__name__}")
        names = self.keypoint_names
        shape = np.shape(detections.keypoints)
        if len(shape) != 3 or shape[1:] != (len(names), 2) or detections.keypoint_names not in ((), names):
            got = ", ".join(detections.keypoint_names) or f"{shape} unnamed"
            raise EdgefaceError(f"detections: keypoints {got} are not this detector's ({', '.join(names)}): "
                                f"embed the faces detect_arrays finds, or give their keypoints in that order")

    def _embed(self, rgb: np.ndarray, detections: Detections) -> np.ndarray:
        dim = self._require("embedder").embedding_size
        self._require("detector")
        return self._engine.embed(rgb, detections, dim)

    def embed(self, image: object, color: str | None = None) -> np.ndarray:
        """(N, D) unit embeddings of the faces ``detect`` finds, in the same order."""
        rgb = self._rgb(image, color, "image")
        return self._embed(rgb, self._detect(rgb))

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embed already-aligned (N, h, w, 3) uint8 RGB chips (the Python runtime's verb:
        the native core aligns from the image itself, see ``embed_faces``)."""
        self._require("embedder")
        if self.embedder is None:
            raise EdgefaceError("embed_chips: the native runtime embeds faces from the image (embed_faces, analyze); "
                                "for aligned chips use runtime='python'")
        return self.embedder.embed_chips(np.asarray(chips, np.uint8))

    def analyze(self, image: object, color: str | None = None) -> list[Face]:
        """Detect, align and embed every face; name it when a gallery is open."""
        return self._faces(image, color, top_k=1)

    def _faces(self, image: object, color: str | None, top_k: int) -> list[Face]:
        """Every face with its embedding and its ``top_k`` gallery matches (none without a
        gallery)."""
        rgb = self._rgb(image, color, "image")
        detections = self._detect(rgb)
        embeddings = self._embed(rgb, detections)
        matches = [()] * len(embeddings)
        if self._gallery is not None and len(embeddings):
            matches = self._gallery.search(embeddings, top_k=top_k, threshold=self.threshold)
        return [Face.of(d, e, tuple(m)) for d, e, m in zip(detections.faces(), embeddings, matches)]

    # -- matching --------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """Cosine similarity at or above which two faces are the same person."""
        return self._require("embedder").verify_threshold

    def best_face_embedding(self, image: object, color: str | None = None, name: str = "image") -> np.ndarray:
        """The embedding of the highest-scoring face; ``NoFaceError`` when there is none."""
        rgb = self._rgb(image, color, name)
        detections = self._detect(rgb)
        if len(detections) == 0:
            raise NoFaceError(f"{name}: no face found: use an image where the face is larger, "
                              f"sharper or better lit, or lower the score threshold")
        return self._embed(rgb, detections.take(np.array([0])))[0]

    def verify(self, image_a: object, image_b: object, color: str | None = None) -> Verification:
        """1:1 verification of the best face in each image."""
        a = self.best_face_embedding(image_a, color, "image A")
        b = self.best_face_embedding(image_b, color, "image B")
        similarity = float(np.dot(a, b))
        return Verification(similarity, similarity >= self.threshold, self.threshold)

    @property
    def gallery(self):
        if self._gallery is None:
            raise EdgefaceError("no gallery is open: pass gallery=PATH in FaceAnalyzerOptions, "
                                "or call open_gallery(PATH) or use_gallery(GALLERY)")
        return self._gallery

    def _open_gallery(self, path: str | Path):
        from edgeface.gallery import Gallery

        return Gallery.open(path, dim=self.embedding_size, embedder=self.embedder_fingerprint)

    def open_gallery(self, path: str | Path):
        self._gallery = self._open_gallery(path)
        return self._gallery

    def use_gallery(self, gallery):
        """Identify against ``gallery``, an ``edgeface.Gallery`` already in memory (built
        in code, shared by several analyzers, or received from another process) instead
        of a file; returns it. Its templates must come from this bundle's embedder, as a
        file opened with ``open_gallery`` must (a gallery that records none adopts it)."""
        from edgeface.gallery.api import GalleryAPI

        if not isinstance(gallery, GalleryAPI):
            raise GalleryError(f"use_gallery: expected an edgeface.Gallery, got {type(gallery).__name__}: "
                               f"for a gallery file or URI use open_gallery(PATH)")
        gallery.bind(self.embedder_fingerprint)
        self._gallery = gallery
        return gallery

    def enroll(self, name: str, images: Iterable[object], color: str | None = None) -> int:
        """Add the best face of each image as a template of ``name``; returns its template
        count. A gallery with a file has the enrolment on disk when this returns; one in
        memory keeps it until ``gallery.save(PATH)``."""
        embeddings = [self.best_face_embedding(img, color, f"image {i + 1} of {name}")
                      for i, img in enumerate(images)]
        if not embeddings:
            raise EdgefaceError(f"enroll {name!r}: no images given")
        return self.gallery.enroll(name, np.stack(embeddings), embedder=self.embedder_fingerprint)

    def identify(self, image: object, top_k: int = 5, color: str | None = None) -> list[Face]:
        """Every face with its ``top_k`` gallery matches at or above the threshold
        (``Face.matches``, best first; a face also unpacks as ``face, matches``)."""
        self.gallery  # raises a clear error when none is open
        return self._faces(image, color, top_k)
