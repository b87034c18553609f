"""WIDER FACE's easy / medium / hard evaluation subsets, read from the ``.mat`` files of the
official evaluation toolkit (``eval_tools/ground_truth/`` of the WIDER FACE downloads):

- ``wider_face_<split>.mat``: ``event_list`` (a cell per event: ``'0--Parade'``),
  ``file_list`` (per event, a cell of image names without extension) and ``face_bbx_list``
  (per event, per image, an (M, 4) array of ``x y w h`` boxes: every face of the image);
- ``wider_{easy,medium,hard}_<split>.mat``: ``gt_list``, nested the same way: per image,
  the 1-based numbers of the faces that count for that subset. The image's other faces are
  ignored: a detection matched to one is neither a true nor a false positive.

The subsets' ground truth is ``face_bbx_list`` itself, as in the toolkit, so the face
numbers always line up (the ``*_bbx_gt.txt`` reader drops invalid and empty boxes). scipy
(``scipy.io.loadmat``) is imported only when such files are read.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from edgeface.data.types import DatasetError, DetectionSubset

SUBSET_NAMES = ("easy", "medium", "hard")


def subset_file(name: str, split: str) -> str:
    return f"wider_{name}_{split}.mat"


def ground_truth_file(split: str) -> str:
    return f"wider_face_{split}.mat"


def find_mat_folder(annotation: Path, split: str) -> Path | None:
    """The folder holding subset files for ``annotation``: beside it, or
    ``../eval_tools/ground_truth`` (the official zips unpacked side by side); None if neither."""
    for folder in (annotation.parent, annotation.parent.parent / "eval_tools" / "ground_truth"):
        if any((folder / subset_file(name, split)).is_file() for name in SUBSET_NAMES):
            return folder
    return None


def read_wider_subsets(folder: Path, split: str, image_names: list[str],
                       annotation: Path) -> dict[str, DetectionSubset]:
    """The easy / medium / hard subsets (those whose file is in ``folder``) of a dataset
    whose images are ``image_names`` (the annotation file's paths, e.g.
    ``0--Parade/0_Parade_marchingband_1_849.jpg``)."""
    folder = Path(folder)
    names = ", ".join([ground_truth_file(split)] + [subset_file(n, split) for n in SUBSET_NAMES])
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder; wider_mat= (--wider-mat) is the folder holding {names} "
                           f"(eval_tools/ground_truth in the WIDER FACE downloads)")
    present = [n for n in SUBSET_NAMES if (folder / subset_file(n, split)).is_file()]
    if not present:
        raise DatasetError(f"{folder}: none of {', '.join(subset_file(n, split) for n in SUBSET_NAMES)} is "
                           f"there; wider_mat= (--wider-mat) is the folder holding {names}")
    truth = folder / ground_truth_file(split)
    if not truth.is_file():
        raise DatasetError(f"{truth}: missing; the easy / medium / hard lists number the faces of this file: "
                           f"put it beside {subset_file(present[0], split)} (both are in eval_tools/ground_truth)")
    images, boxes, counts = _ground_truth(truth, image_names, annotation)
    return {name: _subset(folder / subset_file(name, split), truth, images, boxes, counts) for name in present}


def _ground_truth(path: Path, image_names: list[str], annotation: Path
                  ) -> tuple[list[int], list[np.ndarray], list[int]]:
    """(dataset index of each image, its boxes x1 y1 x2 y2, images per event), in file order."""
    mat = _load(path, ("event_list", "file_list", "face_bbx_list"))
    events = _cells(mat["event_list"], path, "event_list")
    files = _cells(mat["file_list"], path, "file_list", len(events), "event_list")
    faces = _cells(mat["face_bbx_list"], path, "face_bbx_list", len(events), "event_list")
    index = {_stem(name): i for i, name in enumerate(image_names)}
    images, boxes, counts = [], [], []
    for e, event in enumerate(events, 1):
        event = _text(event, path, f"event_list{{{e}}}")
        names = _cells(files[e - 1], path, f"file_list{{{e}}}")
        per_image = _cells(faces[e - 1], path, f"face_bbx_list{{{e}}}", len(names), f"file_list{{{e}}}")
        counts.append(len(names))
        for j, name in enumerate(names, 1):
            key = f"{event}/{_text(name, path, f'file_list{{{e}}}{{{j}}}')}"
            if key not in index:
                raise DatasetError(f"{path}: image {key!r} is not in {annotation}: give the annotation file of the "
                                   f"same split, or wider_mat= (--wider-mat) the .mat files of its split")
            images.append(index[key])
            boxes.append(_boxes(per_image[j - 1], path, f"face_bbx_list{{{e}}}{{{j}}}"))
    return images, boxes, counts


def _subset(path: Path, truth: Path, images: list[int], boxes: list[np.ndarray],
            counts: list[int]) -> DetectionSubset:
    mat = _load(path, ("gt_list",))
    events = _cells(mat["gt_list"], path, "gt_list", len(counts), f"{truth.name}'s event_list")
    faces_per_image = iter(len(b) for b in boxes)
    ignore = []
    for e, (event, n) in enumerate(zip(events, counts), 1):
        lists = _cells(event, path, f"gt_list{{{e}}}", n, f"{truth.name}'s file_list{{{e}}}")
        for j, numbers in enumerate(lists, 1):
            ignore.append(_ignore_mask(numbers, next(faces_per_image), path, f"gt_list{{{e}}}{{{j}}}", truth))
    return DetectionSubset(list(images), list(boxes), ignore)


# ----------------------------------------------------------------- MATLAB values

def _load(path: Path, names: tuple[str, ...]) -> dict:
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError:
        raise DatasetError(f"{path}: reading the WIDER FACE .mat files needs scipy: pip install "
                           f"'edgeface[toolchain]' (or scipy)") from None

    try:
        mat = loadmat(str(path))
    except NotImplementedError:  # MATLAB v7.3 (HDF5)
        raise DatasetError(f"{path}: a MATLAB v7.3 file, which scipy cannot read: save it with "
                           f"save(..., '-v7') or use the toolkit's original file") from None
    except (MatReadError, ValueError, TypeError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable MATLAB .mat file ({exc}); expected the WIDER FACE "
                           f"evaluation toolkit's file") from None
    missing = [n for n in names if n not in mat]
    if missing:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "nothing"
        raise DatasetError(f"{path}: no {' or '.join(missing)} variable (the file holds {found}); expected the "
                           f"WIDER FACE evaluation toolkit's file")
    return mat


def _cells(value, path: Path, what: str, expected: int | None = None, against: str = "") -> list:
    """The elements of a MATLAB cell array (loaded as a numpy object array)."""
    if not (isinstance(value, np.ndarray) and value.dtype == object):
        raise DatasetError(f"{path}: {what} is not a cell array (got {_kind(value)}); expected the WIDER FACE "
                           f"evaluation toolkit's file")
    cells = list(value.ravel())
    if expected is not None and len(cells) != expected:
        raise DatasetError(f"{path}: the number of cells in {what} ({len(cells)}) differs from {against} "
                           f"({expected}); are the files from the same WIDER FACE split and release?")
    return cells


def _text(value, path: Path, what: str) -> str:
    while isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "OU":
        value = value.ravel()[0]
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise DatasetError(f"{path}: {what} should be a name (text), got {_kind(value)}")


def _boxes(value, path: Path, what: str) -> np.ndarray:
    """``x y w h`` rows -> (M, 4) float64 x1 y1 x2 y2."""
    try:
        b = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        b = None
    if b is not None and b.size == 0:
        return np.zeros((0, 4))
    if b is None or b.ndim != 2 or b.shape[1] != 4 or not np.isfinite(b).all():
        raise DatasetError(f"{path}: {what} should be an (M, 4) array of 'x y w h' boxes, got {_kind(value)}")
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _ignore_mask(value, count: int, path: Path, what: str, truth: Path) -> np.ndarray:
    """(count,) bool: True for the faces that ``value`` (1-based face numbers) leaves out."""
    try:
        numbers = np.asarray(value, np.float64).ravel()
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: {what} should list face numbers, got {_kind(value)}") from None
    bad = numbers[(numbers != np.round(numbers)) | (numbers < 1) | (numbers > count) | ~np.isfinite(numbers)]
    if len(bad):
        raise DatasetError(f"{path}: {what} lists face {bad[0]:g}, but that image has {count} faces in "
                           f"{truth.name} (numbers 1..{count}); are the files from the same release?")
    ignore = np.ones(count, bool)
    ignore[numbers.astype(int) - 1] = False
    return ignore


def _kind(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return type(value).__name__


def _stem(name: str) -> str:
    """An image path without its extension, '/'-separated: the toolkit's event/file key."""
    return PurePosixPath(name.replace("\\", "/")).with_suffix("").as_posix()
