"""Calibration sets for post-training quantisation, and real face images available offline.

A calibration batch must be normalised exactly as the SDK normalises images at inference
time, or the quantisation ranges fit the wrong distribution: images go through
``edgeface.image.read_image`` and ``edgeface.preprocess.Preprocessor``, the inference
code path itself. Batches are always (N, H, W, 3) float32 NHWC (what the TFLite converter's
representative dataset and onnx2tf's ``-cind`` take), whatever the model's own layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from edgeface.align import warp_affine
from edgeface.bundle import InputSpec
from edgeface.cards.presets import SIGNED_UNIT
from edgeface.errors import EdgefaceError, ImageError
from edgeface.image import read_image
from edgeface.preprocess import Preprocessor, resize_bilinear

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# The astronaut's face in skimage.data.astronaut() (512x512): forehead to chin, framed
# like the LFW crops (rows, columns), checked by eye.
ASTRONAUT_FACE = (slice(55, 195), slice(165, 305))
# A landmark model's crop is 1.5 times the detector's box, which is about 0.8 of a
# forehead-to-chin frame such as the LFW crops: 1.2 frames a side.
LANDMARK_CROP_SCALE = 1.2


class CalibrationError(EdgefaceError):
    """A calibration set is empty, unreadable or does not fit the model's input."""


def default_spec(height: int, width: int, layout: str = "NHWC") -> InputSpec:
    """The input spec for a model without a manifest: stretch resize, RGB,
    (x - 127.5) / 127.5."""
    if layout not in ("NHWC", "NCHW"):
        raise CalibrationError(f"layout={layout!r}: expected NHWC or NCHW")
    if height < 1 or width < 1:
        raise CalibrationError(f"input size {width}x{height}: both sides must be >= 1")
    return InputSpec(height=int(height), width=int(width), layout=layout, dtype="float32",
                     channel_order="RGB", mean=tuple(SIGNED_UNIT["mean"]), std=tuple(SIGNED_UNIT["std"]),
                     resize="stretch", pad="center")


def sample_indices(n: int, size: int, seed: int) -> np.ndarray:
    """``min(size, n)`` distinct indices out of ``n``, chosen by ``seed``, ascending."""
    if size < 1:
        raise CalibrationError(f"calibration size {size}: must be at least 1")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


def find_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted, by suffix (any case)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _image_list(folder_or_paths: str | Path | Iterable[str | Path]) -> tuple[list[Path], str]:
    if isinstance(folder_or_paths, (str, Path)):
        where = Path(folder_or_paths)
        if where.is_dir():
            files = find_images(where)
            if not files:
                raise CalibrationError(f"{where}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder or "
                                       f"below it: put calibration images there, or pass --calibration FILE.npy")
            return files, str(where)
        if where.is_file():
            return [where], str(where)
        raise CalibrationError(f"{where}: no such calibration folder or file")
    files = [Path(p) for p in folder_or_paths]
    if not files:
        raise CalibrationError("the calibration image list is empty: give at least one image")
    return files, "the calibration list"


def calibration_from_images(folder_or_paths: str | Path | Iterable[str | Path], spec: InputSpec,
                            size: int, seed: int) -> np.ndarray:
    """``size`` images (all, if fewer) sampled with ``seed`` from a folder (recursive) or
    a list of files, normalised as the SDK does for ``spec``: (N, H, W, 3) float32 NHWC."""
    files, where = _image_list(folder_or_paths)
    chosen = [files[i] for i in sample_indices(len(files), size, seed)]
    pre = Preprocessor(spec)
    out = np.empty((len(chosen), spec.height, spec.width, 3), np.float32)
    for k, path in enumerate(chosen):
        try:
            rgb = read_image(path)
        except ImageError as exc:
            raise ImageError(f"{exc} (calibration image from {where}): remove or replace the file") from None
        batch, _ = pre(rgb)  # a buffer the next call reuses: copied out here
        out[k] = np.moveaxis(batch[0], 0, -1) if spec.layout == "NCHW" else batch[0]
    return out


def calibration_from_npy(path: str | Path, size: int, seed: int, shape: tuple[int, int, int]) -> np.ndarray:
    """A calibration set from an .npy file of already-normalised inputs, (N, H, W, 3) or
    (N, 3, H, W) (or one (H, W, 3) sample): ``size`` samples chosen with ``seed``, as
    (N, H, W, 3) float32. ``shape`` is the model input's (H, W, 3)."""
    path = Path(path)
    h, w, c = (int(v) for v in shape)
    if c != 3:
        raise CalibrationError(f"shape={tuple(shape)}: calibration sets are for 3-channel (H, W, 3) inputs")
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such calibration file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise CalibrationError(f"{path}: not a readable .npy array ({exc}): save it with numpy.save") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise CalibrationError(f"{path}: expected a numeric array, got dtype {getattr(array, 'dtype', '?')}")
    if array.ndim == 3:
        array = array[None]
    if array.ndim == 4 and array.shape[1:] == (h, w, 3):
        pass
    elif array.ndim == 4 and array.shape[1:] == (3, h, w):
        array = np.moveaxis(array, 1, -1)
    else:
        raise CalibrationError(f"{path}: shape {array.shape} does not fit the model input: expected "
                               f"(N, {h}, {w}, 3) NHWC or (N, 3, {h}, {w}) NCHW")
    if len(array) == 0:
        raise CalibrationError(f"{path}: holds no samples")
    chosen = np.ascontiguousarray(array[sample_indices(len(array), size, seed)], dtype=np.float32)
    if not np.isfinite(chosen).all():
        raise CalibrationError(f"{path}: has NaN or inf values: fix the calibration data")
    return chosen


# ---------------------------------------------------------------- real faces, offline

def _lfw_faces() -> np.ndarray:
    from skimage import data

    lfw = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    gray = np.clip(np.rint(lfw * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def face_images() -> list[np.ndarray]:
    """Real face images shipped with scikit-image: the astronaut (512x512, one face) and
    the 100 LFW face crops (25x25 grayscale, as RGB), all HxWx3 uint8."""
    return [_astronaut()] + list(_lfw_faces())


def _resize_u8(image: np.ndarray, height: int, width: int) -> np.ndarray:
    out = resize_bilinear(np.ascontiguousarray(image), width, height)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if out.dtype != np.uint8 else out


def face_chips(size: tuple[int, int]) -> np.ndarray:
    """(101, h, w, 3) uint8 face crops for embedder fidelity: the astronaut's face, then
    the 100 LFW faces, resized to ``size`` = (h, w)."""
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise CalibrationError(f"face chip size {tuple(size)}: both sides must be >= 1")
    faces = [_astronaut()[ASTRONAUT_FACE]] + list(_lfw_faces())
    return np.stack([_resize_u8(f, h, w) for f in faces])


def landmark_crops(side: int, scale: float = LANDMARK_CROP_SCALE) -> np.ndarray:
    """(101, side, side, 3) uint8 crops framed as a landmark model (MediaPipe's face mesh)
    sees a face: the astronaut's face and the 100 LFW faces, each centred in a square
    ``scale`` times its forehead-to-chin frame, sampled as the SDK samples its crops
    (``edgeface.landmarks.Regions``: outside the photograph is black)."""
    from edgeface.landmarks import Regions

    if side < 1 or scale <= 0:
        raise CalibrationError(f"landmark crop side {side}, scale {scale}: both must be positive")
    rows, cols = ASTRONAUT_FACE
    framed = [(_astronaut(), (cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2, rows.stop - rows.start)]
    framed += [(face, (face.shape[1] - 1) / 2, (face.shape[0] - 1) / 2, face.shape[0]) for face in _lfw_faces()]
    crops = np.empty((len(framed), side, side, 3), np.uint8)
    for k, (image, x, y, frame) in enumerate(framed):
        region = Regions(np.array([[x, y]]), np.array([scale * frame]), np.zeros(1))
        crops[k] = warp_affine(image, region.matrix(0, side), side, side)
    return crops
