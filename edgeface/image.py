"""Checking and converting the images users pass in, and reading image files.

``read_image`` gives the pixels an image viewer shows, or an ``ImageError``:

- The size is checked from the file's header, before any pixel is decoded. Pillow's
  process-wide ``Image.MAX_IMAGE_PIXELS`` is left as the application set it: Pillow
  still warns over it and refuses over twice it (reported here as over the limit).
- The EXIF orientation is applied, so faces are upright and boxes are in the
  coordinates of the image as viewed.
- High bit depths are scaled to 8 bits. 16-bit samples keep their top byte (``x >> 8``,
  as Pillow does for 16-bit colour PNGs); 32-bit integer samples the same when they fit
  0..65535, else they are stretched from their minimum to their maximum. Float samples
  are multiplied by 255 when all lie in [0, 1], else stretched the same way; NaN or
  infinite samples are refused.
- Multi-frame files (GIF, TIFF, APNG, MPO, ...): the first frame.
- Alpha is dropped: transparent pixels keep their stored colour.
- EPS files are refused: Pillow decodes them by running Ghostscript, an outside program.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import numpy as np

from edgeface.errors import ImageError

COLOR_FORMATS = ("rgb", "bgr", "rgba", "bgra", "gray")
DEFAULT_MAX_PIXELS = 64_000_000
# One channel of 16-bit, 32-bit integer or float samples: scaled to 8 bits here, not clipped by Pillow.
HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
EXTERNAL_DECODERS = ("EPS",)  # Pillow formats decoded by running another program
# What Pillow raises on damaged files, besides its DecompressionBombError (TypeError: a TIFF
# whose strip offsets are stored as floats).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, TypeError)


def to_rgb(image: object, color: str = "rgb", max_pixels: int = DEFAULT_MAX_PIXELS,
           name: str = "image") -> np.ndarray:
    """A contiguous HxWx3 uint8 RGB view or copy of ``image``.

    ``color`` says what the array holds: "rgb" (HxWx3), "bgr" (HxWx3, as OpenCV reads),
    "rgba"/"bgra" (HxWx4) or "gray" (HxW or HxWx1).
    """
    if color not in COLOR_FORMATS:
        raise ImageError(f"color={color!r} is not one of {', '.join(COLOR_FORMATS)}")
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, got {type(image).__name__}: "
                         f"decode files with edgeface.image.read_image(path)")
    if image.dtype != np.uint8:
        raise ImageError(f"{name}: expected dtype uint8, got {image.dtype}: convert with "
                         f"np.clip(image * 255, 0, 255).astype(np.uint8) for 0..1 floats")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = {"gray": None, "rgb": 3, "bgr": 3, "rgba": 4, "bgra": 4}[color]
    got = image.shape[2] if image.ndim == 3 else None
    if image.ndim not in (2, 3) or got != channels:
        want = "HxW" if channels is None else f"HxWx{channels}"
        raise ImageError(f"{name}: shape {image.shape} does not fit color={color!r} (expected {want}): "
                         f"pass the color flag that matches the array")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"{name}: the image is empty (shape {image.shape})")
    _check_pixels(image.shape[1], image.shape[0], max_pixels, name)
    if color == "gray":
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif color in ("bgr", "bgra"):
        image = image[:, :, 2::-1]
    elif color == "rgba":
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def _check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    """Refuse an image over ``max_pixels`` (a bound on the memory decoding it takes)."""
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}x{height} is over the limit of {max_pixels} "
                         f"pixels: downscale it, or raise max_image_pixels")


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file (PNG, JPEG, TIFF, BMP, ... via Pillow) to HxWx3 uint8 RGB,
    upright and scaled to 8 bits as the module docstring says."""
    from PIL import ImageOps

    with _opened(path, max_pixels) as img:
        with _decoding(path):
            ImageOps.exif_transpose(img, in_place=True)
            samples = np.asarray(img if img.mode in HIGH_DEPTH_MODES else img.convert("RGB"))
    if samples.ndim == 2:
        return to_rgb(_to_uint8(samples, str(path)), "gray", max_pixels, str(path))
    return to_rgb(samples, max_pixels=max_pixels, name=str(path))


def probe_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) as stored, read from the header alone after the checks that
    ``read_image`` makes before decoding: a regular file, a known format, within ``max_pixels``."""
    with _opened(path, max_pixels) as img:
        return img.size


@contextlib.contextmanager
def _opened(path: str | Path, max_pixels: int):
    """The Pillow image of ``path`` with only its header read, checked before any decoding."""
    try:
        from PIL import Image
    except ImportError:
        raise ImageError("reading image files needs Pillow: pip install pillow") from None
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file" if not path.exists() else
                         f"{path}: not a regular file: pass an image file")
    with _decoding(path):
        img = Image.open(path)
    with img:
        if img.format in EXTERNAL_DECODERS:
            raise ImageError(f"{path}: {img.format} images are decoded by running an outside program, "
                             f"which edgeface does not do: convert it to PNG or JPEG")
        _check_pixels(img.width, img.height, max_pixels, str(path))
        yield img


@contextlib.contextmanager
def _decoding(path: Path):
    """Pillow's errors on a damaged, unsupported or oversized file, as an ImageError naming it."""
    from PIL import Image

    try:
        yield
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: over the limit of Pillow's decompression bomb check (twice "
                         f"PIL.Image.MAX_IMAGE_PIXELS, which the application sets: {exc}): downscale it") from None
    except DECODE_ERRORS as exc:
        raise ImageError(f"{path}: cannot decode this image ({type(exc).__name__}: {exc})") from None


def _to_uint8(samples: np.ndarray, name: str) -> np.ndarray:
    """8-bit samples from one channel of 16-bit, 32-bit integer or float ones (the rules are
    in the module docstring)."""
    if samples.dtype.kind == "f":
        if not np.isfinite(samples).all():
            raise ImageError(f"{name}: has NaN or infinite pixel values: save it with finite ones")
        if samples.min() >= 0 and samples.max() <= 1:
            return np.rint(samples * 255).astype(np.uint8)
    elif samples.min() >= 0 and samples.max() <= 0xFFFF:
        return (samples >> 8).astype(np.uint8)
    return _stretched(samples)


def _stretched(samples: np.ndarray) -> np.ndarray:
    """Samples mapped linearly from their minimum..maximum onto 0..255 (a flat image gives 0)."""
    low, high = float(samples.min()), float(samples.max())
    scale = 255 / (high - low) if high > low else 0.0
    return np.rint((samples.astype(np.float32) - low) * scale).astype(np.uint8)
