"""Image -> model input tensor (resize, letterbox, normalise) and the exact way back.

The resize samples pixel centres the way OpenCV's INTER_LINEAR does, so the numpy path
and the OpenCV path (used when ``cv2`` is importable) agree within one grey level. An
input spec with ``sampling: top_left`` is resized as MediaPipe's ImageToTensor does
(input pixel i at image i / scale, no half-pixel shift; numpy only), which is what
MediaPipe's models saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeface.bundle import InputSpec

try:  # an optional speed-up, never required
    import cv2 as _cv2
except ImportError:  # pragma: no cover - depends on the environment
    _cv2 = None


@dataclass(frozen=True)
class Placement:
    """Where the original image sits inside the model input (in model pixels)."""

    scale_x: float  # model pixels per original pixel
    scale_y: float
    offset_x: float
    offset_y: float
    model_width: int
    model_height: int

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) x,y points normalised to the model input back to original pixels."""
        size = np.array([self.model_width, self.model_height], np.float32)
        offset = np.array([self.offset_x, self.offset_y], np.float32)
        scale = np.array([self.scale_x, self.scale_y], np.float32)
        return (points * size - offset) / scale


@lru_cache(maxsize=32)
def _axis_weights(src: int, dst: int, channels: int = 1, top_left: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour indices and weights for a bilinear resize of one axis (half-pixel
    centres, as OpenCV's INTER_LINEAR, or ``top_left``: output i at input i * src / dst),
    repeated per channel when ``channels`` > 1 so an image row can be handled as one flat
    (W * C) vector."""
    pos = np.arange(dst) * (src / dst) if top_left else (np.arange(dst) + 0.5) * (src / dst) - 0.5
    pos = np.clip(pos, 0, src - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, src - 1)
    weight = (pos - lo).astype(np.float32)
    if channels > 1:
        offsets = np.arange(channels)
        lo = (lo[:, None] * channels + offsets).ravel()
        hi = (hi[:, None] * channels + offsets).ravel()
        weight = np.repeat(weight, channels)
    return lo, hi, weight


def resize_bilinear(image: np.ndarray, width: int, height: int, sampling: str = "half_pixel") -> np.ndarray:
    """HxWxC uint8 -> height x width x C, bilinear (uint8 from OpenCV, float32 from numpy);
    ``sampling``: see ``edgeface.bundle.InputSpec``."""
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    top_left = sampling == "top_left"
    if _cv2 is not None and not top_left:
        return _cv2.resize(image, (width, height), interpolation=_cv2.INTER_LINEAR)
    channels = image.shape[2]
    y0, y1, wy = _axis_weights(image.shape[0], height, 1, top_left)
    x0, x1, wx = _axis_weights(image.shape[1], width, channels, top_left)
    rows = image.reshape(image.shape[0], -1)
    top, bottom = rows[y0], rows[y1]  # (height, W * C) uint8: only the rows needed
    left = top[:, x0].astype(np.float32)
    top = left + (top[:, x1] - left) * wx
    left = bottom[:, x0].astype(np.float32)
    bottom = left + (bottom[:, x1] - left) * wx
    top += (bottom - top) * wy[:, None]
    return top.reshape(height, width, channels)


def placement_for(spec: InputSpec, image_height: int, image_width: int) -> Placement:
    if spec.resize == "stretch":
        return Placement(spec.width / image_width, spec.height / image_height, 0.0, 0.0,
                         spec.width, spec.height)
    scale = min(spec.width / image_width, spec.height / image_height)
    new_w = max(1, round(image_width * scale))
    new_h = max(1, round(image_height * scale))
    if spec.pad == "center":
        off_x, off_y = (spec.width - new_w) // 2, (spec.height - new_h) // 2
    else:
        off_x = off_y = 0
    return Placement(new_w / image_width, new_h / image_height, float(off_x), float(off_y),
                     spec.width, spec.height)


class Preprocessor:
    """Turns RGB uint8 images into normalised float32 batches for one model input."""

    def __init__(self, spec: InputSpec):
        self.spec = spec
        self.order = [2, 1, 0] if spec.channel_order == "BGR" else None
        # (x - mean) / std as one multiply-add; mean and std are in the model's channel order
        self.mul = 1.0 / np.asarray(spec.std, np.float32)
        self.add = -np.asarray(spec.mean, np.float32) * self.mul
        self._rows_width = -1
        self._canvas = np.empty((1, spec.height, spec.width, 3), np.float32)
        self._canvas_place: Placement | None = None

    def _rows(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        """mul and add tiled along one image row: numpy is far faster on (H, W*3) arrays
        than when broadcasting a (3,) vector over an innermost axis of length 3."""
        if self._rows_width != width:
            self._mul_row, self._add_row = np.tile(self.mul, width), np.tile(self.add, width)
            self._rows_width = width
        return self._mul_row, self._add_row

    def normalize(self, pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(..., H, W, 3) RGB values (uint8 or float) -> normalised float32 in the model's
        channel order and layout. With ``out`` (an (H, W, 3) float32 view whose rows are
        contiguous, NHWC only) the result is written there."""
        if self.order is not None:
            pixels = pixels[..., self.order]
        shape = pixels.shape
        mul, add = self._rows(shape[-2])
        flat = pixels.reshape(*shape[:-2], shape[-2] * 3)
        if out is not None:
            target = out.reshape(flat.shape)
            if not np.shares_memory(target, out):
                raise ValueError("normalize(out=...) needs a view with contiguous rows")
            np.multiply(flat, mul, out=target, dtype=np.float32)
            target += add
            return out
        result = np.multiply(flat, mul, dtype=np.float32)
        result += add
        result = result.reshape(shape)
        if self.spec.layout == "NCHW":
            result = np.ascontiguousarray(np.moveaxis(result, -1, -3))
        return result

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, Placement]:
        """One HxWx3 uint8 RGB image -> (1, ...) input batch and its placement.

        The batch is a buffer reused by the next call: consume it (the interpreter copies
        it in) before calling again.
        """
        spec = self.spec
        place = placement_for(spec, rgb.shape[0], rgb.shape[1])
        new_w = round(rgb.shape[1] * place.scale_x)
        new_h = round(rgb.shape[0] * place.scale_y)
        resized = resize_bilinear(rgb, new_w, new_h, spec.sampling)
        if spec.layout == "NCHW":  # rare on the SDK's hot path: no buffer reuse
            canvas = np.zeros((spec.height, spec.width, 3), np.float32)  # black padding
            x, y = int(place.offset_x), int(place.offset_y)
            canvas[y:y + new_h, x:x + new_w] = resized
            return self.normalize(canvas)[None], place
        if place != self._canvas_place:  # black padding, normalised, kept between calls
            self._canvas[...] = self.add
            self._canvas_place = place
        x, y = int(place.offset_x), int(place.offset_y)
        self.normalize(resized, out=self._canvas[0, y:y + new_h, x:x + new_w])
        return self._canvas, place
