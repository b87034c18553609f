"""Small faces in large photos: the detector run over a pyramid of tiles.

A detector sees the whole image squeezed into its input (BlazeFace: 128x128), so on a
1280x960 photo a 100 px face is 10 input pixels wide, below what the model finds. The
search runs the detector on the whole image first (the single pass, all a selfie
needs), then on square tiles whose side halves at each level, down to the smallest tile
in which a face of ``min_face`` pixels is still a quarter of the side (the size the
short-range model finds best). Tiles of a level overlap by half their side, so any face
up to half a tile's side lies whole inside some tile; a detection touching a tile's
inner border (one that is not the image's edge) is a cut face, dropped because a
neighbouring tile sees it whole. Tiled levels keep only detections scoring at least
``tile_score_threshold`` (many small windows offer many chances of a false face), and
all levels are merged by the detector's own suppression.

Measured with ``scripts/bench_photos.py``'s composites (faces 40-300 px on 1280x960):
the whole-image pass finds 18 % of the faces; the pyramid down to 160 px tiles with a
tiled threshold of 0.7 finds 96 % with 0.5 false faces per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from edgeface.decoders.nms import suppress
from edgeface.errors import EdgefaceError
from edgeface.results import Detections

SEARCHES = ("whole", "auto", "all")
FACE_PER_TILE = 4  # the smallest tile's side, in faces of min_face pixels
BORDER_PX = 2.0  # a box this close to a tile's inner border is a face the border cut


@dataclass(frozen=True)
class SearchSettings:
    """How far the search goes. ``search``: "whole" runs the detector on the whole image
    only; "all" runs every level; "auto" stops after the whole image when it found a face
    at least ``stop_fraction`` of the image's shorter side wide (a selfie or a portrait:
    the photo is about that face, and its latency stays the single pass's)."""

    search: str = "whole"
    min_face: int = 40  # pixels: the narrowest face the tiled levels look for
    tile_score_threshold: float = 0.7
    stop_fraction: float = 0.35

    def __post_init__(self):
        if self.search not in SEARCHES:
            raise EdgefaceError(f"search={self.search!r}: choose {', '.join(SEARCHES)}")
        if not 8 <= self.min_face <= 4096:
            raise EdgefaceError(f"min_face={self.min_face}: a face width in pixels, 8..4096")
        if not 0.0 <= self.tile_score_threshold <= 1.0:
            raise EdgefaceError(f"tile_score_threshold={self.tile_score_threshold}: a score, 0..1")
        if not 0.0 < self.stop_fraction <= 1.0:
            raise EdgefaceError(f"stop_fraction={self.stop_fraction}: a fraction of the image's shorter side, 0..1")


@dataclass(frozen=True)
class Tile:
    """A window of the image, in pixels: its top-left corner and size."""

    x: int
    y: int
    width: int
    height: int


def _starts(length: int, side: int) -> list[int]:
    """Where windows of ``side`` (at most ``length``) start along one axis: every half
    side, and one flush with the far end."""
    if side >= length:
        return [0]
    starts = list(range(0, length - side + 1, max(side // 2, 1)))
    if starts[-1] + side < length:
        starts.append(length - side)
    return starts


def tile_levels(width: int, height: int, min_face: int) -> Iterator[list[Tile]]:
    """The tiles of each level below the whole image, coarsest first: sides of half the
    image's longer side, then halving, while a tile is at least ``FACE_PER_TILE`` faces
    of ``min_face`` pixels wide."""
    side = max(width, height) // 2
    while side >= FACE_PER_TILE * min_face:
        w, h = min(side, width), min(side, height)
        yield [Tile(x, y, w, h) for y in _starts(height, h) for x in _starts(width, w)]
        side //= 2


def _uncut(found: Detections, tile: Tile, width: int, height: int) -> np.ndarray:
    """A mask of the detections (in tile pixels) that no inner border of the tile cuts."""
    x1, y1, x2, y2 = found.boxes.T
    cut = np.zeros(len(found), bool)
    if tile.x > 0:
        cut |= x1 <= BORDER_PX
    if tile.y > 0:
        cut |= y1 <= BORDER_PX
    if tile.x + tile.width < width:
        cut |= x2 >= tile.width - BORDER_PX
    if tile.y + tile.height < height:
        cut |= y2 >= tile.height - BORDER_PX
    return ~cut


def _moved(found: Detections, tile: Tile) -> Detections:
    """Tile pixels -> image pixels."""
    shift = np.array([tile.x, tile.y], np.float32)
    return Detections(found.boxes + np.tile(shift, 2), found.scores, found.keypoints + shift, found.keypoint_names)


def _concat(parts: list[Detections]) -> Detections:
    return Detections(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                      np.concatenate([p.keypoints for p in parts]), parts[0].keypoint_names)


def search_faces(rgb: np.ndarray, detect: Callable[[np.ndarray, float | None], Detections],
                 settings: SearchSettings, score_threshold: float, nms: str, nms_iou: float,
                 max_faces: int) -> Detections:
    """The faces in ``rgb`` (H, W, 3) found by ``detect(image, score_threshold)`` (one
    pass of the detector, image pixels, suppressed) over the pyramid ``settings`` asks
    for, merged by ``nms`` at ``nms_iou``, best first, at most ``max_faces``."""
    whole = detect(rgb, score_threshold)
    height, width = rgb.shape[:2]
    if settings.search == "whole" or (settings.search == "auto" and len(whole) and
                                      (whole.boxes[:, 2] - whole.boxes[:, 0]).max()
                                      >= settings.stop_fraction * min(width, height)):
        return whole
    parts = [whole]
    tiled_threshold = max(score_threshold, settings.tile_score_threshold)
    for level in tile_levels(width, height, settings.min_face):
        for tile in level:
            found = detect(rgb[tile.y:tile.y + tile.height, tile.x:tile.x + tile.width], tiled_threshold)
            if len(found):
                parts.append(_moved(found.take(_uncut(found, tile, width, height)), tile))
    merged = suppress(_concat(parts), nms, nms_iou, max_faces)
    return Detections(merged.boxes, merged.scores, merged.keypoints, whole.keypoint_names)
