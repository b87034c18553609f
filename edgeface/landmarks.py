"""Dense face landmarks: a crop around each face in, (x, y, z) points in image pixels out.

The crop is MediaPipe's face mesh's: a square ``roi_scale`` (1.5) times the face's longer
side, centred on the face's box and turned so that the line between two reference points
lies level. From a detection those are two detector keypoints (the eyes) and the box is
the detector's; when tracking (video), they are two of the previous frame's landmarks
(the outer eye corners) and the box is the one around all its points, so that the
detector need not run while the face stays found (``presence`` at or above the
manifest's ``presence_threshold``).

Coordinates are MediaPipe's: its normalised landmarks times the image size, with pixel
(i, j)'s centre at (i, j). ``z`` is a depth relative to the face's centre on the same
scale as x (smaller is nearer the camera).

A model may give some points twice: roughly in its points output and precisely in others
(MediaPipe's attention mesh: lips, eyes and irises, the irises only there). The
manifest's ``refinements`` say which outputs replace which points (``CropPoints``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgeface.align import warp_affine
from edgeface.bundle import LandmarksSpec, Refinement
from edgeface.detect import Runner
from edgeface.errors import EdgefaceError, ModelLoadError
from edgeface.preprocess import Preprocessor


@dataclass(frozen=True)
class Regions:
    """Square crops, one per face: centres (N, 2) in image pixels, sides (N,) in pixels,
    and angles (N,) in radians of the crop's x axis in the image (y pointing down)."""

    centres: np.ndarray
    sides: np.ndarray
    angles: np.ndarray

    def __len__(self) -> int:
        return len(self.sides)

    def matrix(self, i: int, side: int) -> np.ndarray:
        """The 2x3 map from image to crop pixels for crop ``i`` cut at ``side`` x ``side``,
        as MediaPipe's ImageToTensor samples it: pixel (i, j) sits at (i, j) on both sides,
        no half-pixel shift. The model was trained on such crops: from MediaPipe's own
        previous points this gives its next points within 0.02 % of the eye distance,
        against 0.26 % with centres at (i + 0.5, j + 0.5)."""
        cos, sin = np.cos(self.angles[i]), np.sin(self.angles[i])
        linear = (side / self.sides[i]) * np.array([[cos, sin], [-sin, cos]])
        return np.hstack([linear, (side / 2 - linear @ self.centres[i])[:, None]])


def regions_around(boxes: np.ndarray, starts: np.ndarray, ends: np.ndarray, scale: float) -> Regions:
    """Crops around (N, 4) x1, y1, x2, y2 boxes, levelled by the line from ``starts`` to
    ``ends`` ((N, 2) points each), ``scale`` times the box's longer side."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sides = scale * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    line = np.asarray(ends, np.float64) - np.asarray(starts, np.float64)
    return Regions(centres, sides, np.arctan2(line[:, 1], line[:, 0]))


@dataclass(frozen=True)
class Landmarks:
    """Dense landmarks of N faces: ``points`` (N, P, 3) float32 (x, y in image pixels, z
    relative depth in pixels), ``presence`` (N,) the model's probability that its crop held
    a face (1.0 for a model without that output), and the manifest's named point groups."""

    points: np.ndarray
    presence: np.ndarray
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.points)

    def group(self, name: str) -> np.ndarray:
        """(N, k, 3): the points of one named group (``KeyError`` naming the known ones)."""
        if name not in self.groups:
            raise KeyError(f"no point group {name!r}: the model names {', '.join(self.groups) or 'none'}")
        return self.points[:, list(self.groups[name])]

    def centre(self, name: str) -> np.ndarray:
        """(N, 3): the mean of a named group's points (an eye's centre, say)."""
        return self.group(name).mean(axis=1)

    def take(self, indices: np.ndarray) -> "Landmarks":
        return Landmarks(self.points[indices], self.presence[indices], self.groups)


class Landmarker:
    """Runs a bundle's landmark model on crops of an image."""

    def __init__(self, model: Runner, spec: LandmarksSpec, where: str = "models.landmarks"):
        self.model, self.spec = model, spec
        self.side = spec.input.width
        if spec.input.height != self.side:
            raise ModelLoadError(f"{where}: the landmark model's input is {spec.input.width}x{spec.input.height}; "
                                 f"its crop is square: fix models.landmarks.input")
        names = [o.name for o in model.outputs]
        self.crop_points = CropPoints(spec.points, spec.points_output, spec.refinements, names,
                                      [_size(o.shape) for o in model.outputs], where)
        self._presence_at = None if spec.presence_output is None else \
            _output_index(names, spec.presence_output, "presence_output", where)
        self.preprocess = Preprocessor(spec.input)

    def from_detections(self, rgb: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                        keypoint_names: tuple[str, ...]) -> Landmarks:
        """Landmarks of detected faces: (N, 4) boxes and (N, K, 2) keypoints named
        ``keypoint_names`` (which must include the manifest's ``roi_keypoints``)."""
        first, second = (keypoint_names.index(name) for name in self.spec.roi_keypoints)
        keypoints = np.asarray(keypoints, np.float64).reshape(len(boxes), len(keypoint_names), 2)
        return self.in_regions(rgb, regions_around(boxes, keypoints[:, first], keypoints[:, second],
                                                   self.spec.roi_scale))

    def from_points(self, rgb: np.ndarray, previous: Landmarks) -> Landmarks:
        """Landmarks of the faces whose points (in an earlier frame) are ``previous``: the
        crop is made from those points, no detector needed."""
        points = np.asarray(previous.points, np.float64)
        if points.ndim != 3 or points.shape[1:] != (self.spec.points, 3) or not np.isfinite(points).all():
            raise EdgefaceError(f"previous: expected (N, {self.spec.points}, 3) finite points from this model, "
                                f"got {points.shape}: pass the Landmarks an earlier call returned")
        points = points[..., :2]
        boxes = np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1)
        first, second = self.spec.roi_points
        return self.in_regions(rgb, regions_around(boxes, points[:, first], points[:, second], self.spec.roi_scale))

    def in_regions(self, rgb: np.ndarray, regions: Regions) -> Landmarks:
        """Landmarks of the face in each crop."""
        points = np.zeros((len(regions), self.spec.points, 3), np.float32)
        presence = np.ones(len(regions), np.float32)
        for i in range(len(regions)):
            matrix = regions.matrix(i, self.side)
            if not np.all(np.isfinite(matrix)) or regions.sides[i] <= 0:
                presence[i] = 0.0  # a degenerate region: no face to find
                continue
            crop = warp_affine(rgb, matrix, self.side, self.side)
            outputs = self.model.run(self.preprocess.normalize(crop)[None])
            points[i] = _to_image(self.crop_points(outputs), regions, i, self.side)
            if self._presence_at is not None:
                presence[i] = 1.0 / (1.0 + np.exp(-float(outputs[self._presence_at].ravel()[0])))
        return Landmarks(points, presence, self.spec.point_groups)


class CropPoints:
    """The model's outputs -> (points, 3) in crop pixels: the points output's values, then
    each refinement's in the manifest's order. Checked against the model's output sizes
    when the bundle loads, so that every point gets a value."""

    def __init__(self, points: int, points_output: str, refinements: Sequence[Refinement], names: list[str],
                 sizes: list[int], where: str):
        """``names`` and ``sizes``: the model's outputs and their values per image."""
        self.points = points
        self._main_at = _output_index(names, points_output, "points_output", where)
        size = sizes[self._main_at]
        given = size // 3
        if size % 3 or given > points or (given < points and not refinements):
            raise ModelLoadError(f"{where}: output {points_output} holds {size} values, not the 3 x "
                                 f"{points} of models.landmarks.points")
        covered = set(range(given))
        self._steps = []  # (output index, point indices, values per point, depth_from)
        for i, refinement in enumerate(refinements):
            key = f"refinements[{i}].output"
            at = _output_index(names, refinement.output, key, where)
            count = len(refinement.points)
            if sizes[at] not in (2 * count, 3 * count):
                raise ModelLoadError(f"{where}: output {refinement.output} holds {sizes[at]} values, not 2 or 3 "
                                     f"for each of the {count} points of models.landmarks.refinements[{i}]")
            per_point = sizes[at] // count
            new = set(refinement.points) - covered
            if new and per_point == 2 and not refinement.depth_from:
                raise ModelLoadError(f"{where}: output {refinement.output} gives points (e.g. {min(new)}) no "
                                     f"other output gives, with no depth: set models.landmarks.refinements[{i}]"
                                     f".depth_from")
            covered |= set(refinement.points)
            self._steps.append((at, np.asarray(refinement.points), per_point, np.asarray(refinement.depth_from)))
        missing = sorted(set(range(points)) - covered)
        if missing:
            raise ModelLoadError(f"{where}: no output gives point {missing[0]} of the {points} of "
                                 f"models.landmarks.points: fix points or refinements")

    def __call__(self, outputs: list[np.ndarray]) -> np.ndarray:
        main = np.asarray(outputs[self._main_at], np.float32).reshape(-1, 3)
        points = np.zeros((self.points, 3), np.float32)
        points[:len(main)] = main
        for at, indices, per_point, depth_from in self._steps:
            values = np.asarray(outputs[at], np.float32).reshape(len(indices), per_point)
            points[indices, :per_point] = values
            if len(depth_from):
                points[indices, 2] = points[depth_from, 2].mean()
        return points


def _size(shape) -> int:
    return int(np.prod([abs(int(d)) for d in shape[1:]]))


def _to_image(crop_points: np.ndarray, regions: Regions, i: int, side: int) -> np.ndarray:
    """Crop pixels -> image pixels (the inverse of ``Regions.matrix``); z scaled as x."""
    cos, sin = np.cos(regions.angles[i]), np.sin(regions.angles[i])
    scale = regions.sides[i] / side
    local = (crop_points[:, :2].astype(np.float64) - side / 2) * scale
    out = np.empty(crop_points.shape, np.float32)
    out[:, 0] = regions.centres[i, 0] + cos * local[:, 0] - sin * local[:, 1]
    out[:, 1] = regions.centres[i, 1] + sin * local[:, 0] + cos * local[:, 1]
    out[:, 2] = crop_points[:, 2] * scale
    return out


def _output_index(names: list[str], name: str, key: str, where: str) -> int:
    if name not in names:
        raise ModelLoadError(f"{where}: the model has no output {name!r} (models.landmarks.{key}); "
                             f"its outputs are {', '.join(names)}")
    return names.index(name)
