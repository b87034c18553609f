"""Drawing tracks onto frames: a box per face in its track's colour, a label with the
track id, the name and similarity (or "unknown"), and the keypoints. Pillow (already an
edgeface dependency) draws, so annotating needs neither OpenCV nor a font file."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from edgeface.video.tracker import TrackState

# Distinct, saturated colours; a track keeps its colour for its whole life.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def label(track: TrackState) -> str:
    name = track.identity or "unknown"
    similarity = f" {track.similarity:.2f}" if track.similarity is not None else ""
    return f"#{track.track_id} {name}{similarity}"


def annotate(frame: np.ndarray, tracks: Sequence[TrackState]) -> np.ndarray:
    """A copy of ``frame`` (HxWx3 uint8 RGB) with ``tracks`` drawn on it."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(frame))
    draw = ImageDraw.Draw(image)
    font = _font(max(12, min(frame.shape[:2]) // 32))
    for track in tracks:
        colour = PALETTE[track.track_id % len(PALETTE)]
        x0, y0, x1, y1 = track.bbox
        width = max(2, int(round((x1 - x0) / 60)))
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        r = width + 1
        for x, y in track.keypoints:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        text = label(track)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tx, ty = x0, max(0.0, y0 - (bottom - top) - 2 * width)
        draw.rectangle((tx, ty, tx + right - left + 2 * width, ty + bottom - top + 2 * width), fill=colour)
        draw.text((tx + width - left, ty + width - top), text, fill=(0, 0, 0), font=font)
    return np.asarray(image)
