"""Checking and converting the images users pass in, and reading image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeface.errors import ImageError

COLOR_FORMATS = ("rgb", "bgr", "rgba", "bgra", "gray")
DEFAULT_MAX_PIXELS = 64_000_000


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
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: {image.shape[1]}x{image.shape[0]} is over the limit of {max_pixels} "
                         f"pixels: downscale it, or raise max_image_pixels")
    if color == "gray":
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif color in ("bgr", "bgra"):
        image = image[:, :, 2::-1]
    elif color == "rgba":
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file (PNG, JPEG, BMP, ... via Pillow) to HxWx3 uint8 RGB."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImageError("reading image files needs Pillow: pip install pillow") from None
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path}: cannot decode this image ({exc})") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: over the limit of {max_pixels} pixels: downscale it") from None
    return to_rgb(rgb, max_pixels=max_pixels, name=str(path))
