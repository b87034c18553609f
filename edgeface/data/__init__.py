"""Datasets for training and evaluating face models (toolchain side, numpy level).

Readers for the formats people have (WIDER FACE, RetinaFace label.txt, CSV, identity
folders, LFW pairs.txt) and a built-in synthetic face generator, all returning the types
in ``edgeface.data.types``. TensorFlow is imported only by ``edgeface.data.pipelines``
functions, when called. See docs/data.md.

Specs accepted by the loaders, besides paths:

- ``"synthetic"`` or ``"synthetic:N"`` with optional ``:key=value`` options, e.g.
  ``"synthetic:5000:size=256:seed=3"``. Detection: N images (default 1000), options
  ``size`` (128), ``max_faces`` (3), ``seed`` (0). Recognition: N identities (default
  100), options ``per_identity`` (20), ``size`` (112), ``seed`` (0). Pairs: N pairs per
  fold (default 60, half same, half different), options ``identities`` (100), ``size``
  (112), ``seed`` (0); pair identities are disjoint from the training identities.
"""

from __future__ import annotations

from pathlib import Path

from edgeface.data.types import (
    FLIP_PERMUTATION,
    KEYPOINT_NAMES,
    NUM_KEYPOINTS,
    DatasetError,
    DetectionDataset,
    DetectionSample,
    DetectionSubset,
    IdentitySample,
    Pair,
    RecognitionDataset,
)

__all__ = [
    "KEYPOINT_NAMES", "NUM_KEYPOINTS", "FLIP_PERMUTATION", "DatasetError",
    "DetectionSample", "DetectionSubset", "IdentitySample", "DetectionDataset", "RecognitionDataset", "Pair",
    "load_detection", "load_recognition", "load_pairs", "SyntheticFaces",
    "detection_pipeline", "recognition_pipeline", "cache_in_memory",
]


def __getattr__(name: str):
    # Lazy: importing edgeface.data stays cheap (no OpenCV, no TensorFlow).
    if name == "SyntheticFaces":
        from edgeface.data.synthetic import SyntheticFaces
        return SyntheticFaces
    if name in ("detection_pipeline", "recognition_pipeline"):
        from edgeface.data import pipelines
        return getattr(pipelines, name)
    raise AttributeError(f"module 'edgeface.data' has no attribute {name!r}")


def cache_in_memory(dataset):
    """Wrap a dataset so each sample is read / rendered once and then kept in memory
    (about H x W x 3 bytes a sample): later epochs cost only the augmentation."""
    from edgeface.data.readers import CachedDataset
    return CachedDataset(dataset)


def load_detection(path_or_spec: str | Path, images_root: str | Path | None = None,
                   **options) -> DetectionDataset:
    """A detection dataset from a spec or annotation file, chosen by format:

    - ``"synthetic[:N][:key=value...]"``: the built-in generator (see module docs).
    - a WIDER FACE ``wider_face_*_bbx_gt.txt`` (boxes only; keypoints NaN). Images under
      ``images_root``, by default the first of ``<file dir>/images``,
      ``<file dir>/../WIDER_<split>/images`` that exists. The evaluation toolkit's
      ``wider_face_<split>.mat`` and ``wider_{easy,medium,hard}_<split>.mat``, in
      ``wider_mat`` (a folder) or found beside the file or in
      ``<file dir>/../eval_tools/ground_truth``, become the dataset's ``subsets``
      (``edgeface.data.wider_mat``).
    - a RetinaFace ``label.txt`` (``# image_path`` lines, then ``x y w h`` + 5 landmarks);
      images under ``images_root``, by default ``<file dir>/images``.
      A directory holding ``label.txt`` is accepted too.
    - a ``.csv`` of ``image,x1,y1,x2,y2[,k0x,k0y,...,k4x,k4y]`` (one face per row, rows of
      one image grouped; an image with no box: a row with the other cells empty); image
      paths relative to ``images_root``, by default the CSV's directory.
    """
    from edgeface.data import readers
    return readers.load_detection(path_or_spec, images_root, **options)


def load_recognition(path_or_spec: str | Path, **options) -> RecognitionDataset:
    """A recognition dataset: ``"synthetic[:N]..."`` or an identity-folder root
    (``root/<identity>/<image>``, identities sorted by name -> labels 0..K-1)."""
    from edgeface.data import readers
    return readers.load_recognition(path_or_spec, **options)


def load_pairs(path: str | Path, images_root: str | Path | None = None,
               **options) -> list[Pair]:
    """Verification pairs: an LFW ``pairs.txt`` (10 folds, images at
    ``images_root/<name>/<name>_%04d.jpg``; ``images_root`` defaults to ``<file dir>/lfw``
    or the file's directory), or ``"synthetic[:pairs_per_fold]..."``."""
    from edgeface.data import readers
    return readers.load_pairs(path, images_root, **options)
