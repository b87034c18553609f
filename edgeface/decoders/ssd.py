"""SSD-anchor detectors: MediaPipe's BlazeFace family and the project's own detector.

Anchors follow MediaPipe's ``SsdAnchorsCalculator`` and decoding its
``TensorsToDetectionsCalculator``; the manifest carries the same options under
snake_case names, so a MediaPipe graph config translates field by field.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from edgeface.decoders import (Detections, OutputInfo, check_anchor_count, empty_detections, logit,
                               output_ref, resolve_output)
from edgeface.errors import ManifestError
from edgeface.schema import Fields


def _layer_scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) / 2
    return min_scale + (max_scale - min_scale) * index / (count - 1)


def ssd_anchors(input_height: int, input_width: int, strides: Sequence[int], min_scale: float,
                max_scale: float, aspect_ratios: Sequence[float] = (1.0,),
                anchor_offset: tuple[float, float] = (0.5, 0.5), fixed_anchor_size: bool = False,
                interpolated_scale_aspect_ratio: float = 1.0,
                reduce_boxes_in_lowest_layer: bool = False) -> np.ndarray:
    """Anchors as an (N, 4) float32 array of (x_center, y_center, width, height), normalised.

    Consecutive layers with the same stride share one feature map, their anchors
    interleaved per cell, in MediaPipe's order (row, column, anchor).
    """
    layers = []
    for rows, cols, sizes in _feature_maps(input_height, input_width, strides, min_scale, max_scale,
                                           aspect_ratios, interpolated_scale_aspect_ratio,
                                           reduce_boxes_in_lowest_layer):
        ys, xs = np.meshgrid((np.arange(rows) + anchor_offset[1]) / rows,
                             (np.arange(cols) + anchor_offset[0]) / cols, indexing="ij")
        per_cell = len(sizes)
        wh = np.ones((per_cell, 2)) if fixed_anchor_size else np.array(sizes)
        grid = np.repeat(np.stack([xs.ravel(), ys.ravel()], 1), per_cell, axis=0)
        layers.append(np.concatenate([grid, np.tile(wh, (rows * cols, 1))], axis=1))
    return np.concatenate(layers).astype(np.float32)


def ssd_anchor_count(input_height: int, input_width: int, strides: Sequence[int],
                     aspect_ratios: Sequence[float] = (1.0,), interpolated_scale_aspect_ratio: float = 1.0,
                     reduce_boxes_in_lowest_layer: bool = False) -> int:
    """How many anchors ``ssd_anchors`` makes, computed without making them."""
    return sum(rows * cols * len(sizes) for rows, cols, sizes in _feature_maps(
        input_height, input_width, strides, 0.0, 0.0, aspect_ratios, interpolated_scale_aspect_ratio,
        reduce_boxes_in_lowest_layer))


def _feature_maps(input_height: int, input_width: int, strides: Sequence[int], min_scale: float,
                  max_scale: float, aspect_ratios: Sequence[float], interpolated_scale_aspect_ratio: float,
                  reduce_boxes_in_lowest_layer: bool) -> Iterator[tuple[int, int, list[tuple[float, float]]]]:
    """(rows, columns, anchor (width, height) per cell) of each feature map."""
    count = len(strides)
    layer = 0
    while layer < count:
        sizes: list[tuple[float, float]] = []  # (width, height) per anchor of a cell
        last = layer
        while last < count and strides[last] == strides[layer]:
            scale = _layer_scale(min_scale, max_scale, last, count)
            if last == 0 and reduce_boxes_in_lowest_layer:
                pairs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
            else:
                pairs = [(scale, ratio) for ratio in aspect_ratios]
                if interpolated_scale_aspect_ratio > 0:
                    nxt = 1.0 if last == count - 1 else _layer_scale(min_scale, max_scale, last + 1, count)
                    pairs.append((math.sqrt(scale * nxt), interpolated_scale_aspect_ratio))
            sizes += [(s * math.sqrt(r), s / math.sqrt(r)) for s, r in pairs]
            last += 1
        stride = strides[layer]
        yield math.ceil(input_height / stride), math.ceil(input_width / stride), sizes
        layer = last


def anchors_from_fields(a: Fields, input_height: int, input_width: int) -> np.ndarray:
    """Anchors from a manifest's ``decoder.anchors`` object, refused before they are made
    when there would be more than ``MAX_ANCHORS``."""
    options = dict(
        strides=a.integers("strides", lo=1),
        aspect_ratios=a.numbers("aspect_ratios", default=[1.0], lo=1e-3, hi=1e3),
        interpolated_scale_aspect_ratio=a.number("interpolated_scale_aspect_ratio", 1.0, lo=-1e3, hi=1e3),
        reduce_boxes_in_lowest_layer=a.boolean("reduce_boxes_in_lowest_layer", False),
    )
    check_anchor_count(a, "strides", ssd_anchor_count(input_height, input_width, **options))
    return ssd_anchors(
        input_height, input_width, **options,
        min_scale=a.number("min_scale", lo=0.0, hi=100.0),
        max_scale=a.number("max_scale", lo=0.0, hi=100.0),
        anchor_offset=(a.number("anchor_offset_x", 0.5, lo=0.0, hi=1.0),
                       a.number("anchor_offset_y", 0.5, lo=0.0, hi=1.0)),
        fixed_anchor_size=a.boolean("fixed_anchor_size", False),
    )


class SsdDecoder:
    """Boxes and keypoints regressed against SSD anchors, one score per anchor."""

    def __init__(self, anchors: np.ndarray, boxes_ref: str | int, scores_ref: str | int,
                 box_format: str, box_scale: Sequence[float], box_offset: int,
                 keypoint_offset: int, num_keypoints: int, score_activation: str,
                 score_clip: float | None, where: str = "decoder"):
        self.anchors = anchors
        self.boxes_ref, self.scores_ref = boxes_ref, scores_ref
        self.xy_first = box_format == "xywh"
        scale = np.asarray(box_scale, np.float32)
        # per anchor: raw x/y offsets -> normalised (times anchor size over scale) and the
        # same for width/height, so decoding is a multiply-add on the kept rows only
        self._xy_mul = anchors[:, 2:] / scale[:2]
        self._wh_mul = anchors[:, 2:] / scale[2:] / 2
        self.box_offset = box_offset
        self.keypoint_offset = keypoint_offset
        self.num_keypoints = num_keypoints
        self.sigmoid = score_activation == "sigmoid"
        self.score_clip = score_clip
        self.where = where
        self._boxes_index = 0
        self._scores_index = 1

    @classmethod
    def parse(cls, f: Fields, input_height: int, input_width: int) -> "SsdDecoder":
        outputs = f.sub("outputs")
        anchors = anchors_from_fields(f.sub("anchors"), input_height, input_width)
        num_keypoints = f.integer("num_keypoints", 0, lo=0, hi=1000)
        box_scale = f.numbers("box_scale", 4, lo=1e-3, hi=1e6)
        clip = f.number("score_clip", lo=0.0) if f.has("score_clip") else None
        return cls(anchors, output_ref(outputs, "boxes"), output_ref(outputs, "scores"),
                   box_format=f.string("box_format", "xywh", choices=("xywh", "yxhw")),
                   box_scale=box_scale, box_offset=f.integer("box_offset", 0, lo=0),
                   keypoint_offset=f.integer("keypoint_offset", 4, lo=0),
                   num_keypoints=num_keypoints,
                   score_activation=f.string("score_activation", "sigmoid", choices=("sigmoid", "none")),
                   score_clip=clip, where=f.where)

    @property
    def num_coords(self) -> int:
        return max(self.box_offset + 4, self.keypoint_offset + 2 * self.num_keypoints)

    def bind(self, outputs: Sequence[OutputInfo]) -> None:
        self._boxes_index = resolve_output(self.boxes_ref, outputs, f"{self.where}.outputs.boxes")
        self._scores_index = resolve_output(self.scores_ref, outputs, f"{self.where}.outputs.scores")
        n = len(self.anchors)
        boxes_size = int(np.prod(outputs[self._boxes_index].shape))
        scores_size = int(np.prod(outputs[self._scores_index].shape))
        if scores_size != n or boxes_size < n * self.num_coords or boxes_size % n:
            raise ManifestError(
                f"{self.where}: the anchors give {n} boxes of at least {self.num_coords} values, but "
                f"the model outputs boxes {outputs[self._boxes_index].shape} and scores "
                f"{outputs[self._scores_index].shape}: check anchors.strides and num_keypoints")

    def decode(self, outputs: Sequence[np.ndarray], score_threshold: float) -> Detections:
        n = len(self.anchors)
        scores = outputs[self._scores_index].reshape(n)
        cut = logit(score_threshold) if self.sigmoid else score_threshold
        index = np.flatnonzero(scores >= cut)
        if index.size == 0:
            return empty_detections(self.num_keypoints)
        raw = outputs[self._boxes_index].reshape(n, -1)[index].astype(np.float32)
        xy_mul, wh_mul, origin = self._xy_mul[index], self._wh_mul[index], self.anchors[index, :2]
        score = scores[index].astype(np.float32)
        if self.sigmoid:
            if self.score_clip is not None:
                score = np.clip(score, -self.score_clip, self.score_clip)
            score = 1.0 / (1.0 + np.exp(-score))
        box = raw[:, self.box_offset:self.box_offset + 4]
        if not self.xy_first:
            box = box[:, [1, 0, 3, 2]]
        centre = box[:, :2] * xy_mul + origin
        half = box[:, 2:] * wh_mul
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        k = self.num_keypoints
        kp = raw[:, self.keypoint_offset:self.keypoint_offset + 2 * k].reshape(-1, k, 2)
        if not self.xy_first:
            kp = kp[:, :, ::-1]
        keypoints = kp * xy_mul[:, None] + origin[:, None]
        return Detections(boxes.astype(np.float32), score, keypoints.astype(np.float32))
