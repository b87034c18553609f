"""SCRFD (InsightFace): anchor-free box distances and keypoint offsets per stride.

Each stride has three outputs (scores, box distances, keypoint offsets), each with
``anchors_per_cell`` rows per feature-map cell, distances in units of the stride.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.decoders import (Detections, OutputInfo, check_anchor_count, empty_detections, logit,
                               resolve_output)
from edgeface.errors import ManifestError
from edgeface.schema import Fields


class ScrfdDecoder:
    def __init__(self, input_height: int, input_width: int, strides: Sequence[int],
                 anchors_per_cell: int, num_keypoints: int,
                 refs: dict[str, list[str | int]], score_activation: str, where: str = "decoder"):
        self.height, self.width = input_height, input_width
        self.strides = list(strides)
        self.num_keypoints = num_keypoints
        self.refs = refs
        self.sigmoid = score_activation == "sigmoid"
        self.where = where
        self._index: dict[str, list[int]] = {}
        centres = []
        for s in self.strides:
            ys, xs = np.meshgrid(np.arange(input_height // s), np.arange(input_width // s), indexing="ij")
            cell = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32) * s
            centres.append(np.repeat(cell, anchors_per_cell, axis=0))
        self.counts = [len(c) for c in centres]
        self.centres = np.concatenate(centres)  # (N, 2) pixels of the model input
        self.stride_of = np.concatenate([np.full(n, s, np.float32) for n, s in zip(self.counts, self.strides)])
        self.norm = np.array([input_width, input_height], np.float32)

    @classmethod
    def parse(cls, f: Fields, input_height: int, input_width: int) -> "ScrfdDecoder":
        strides = f.integers("strides", [8, 16, 32], lo=1)
        outputs = f.sub("outputs")
        num_keypoints = f.integer("num_keypoints", 5, lo=0, hi=1000)
        kinds = ("scores", "boxes", "keypoints") if num_keypoints else ("scores", "boxes")
        refs = {}
        for kind in kinds:
            value = outputs.data.get(kind)
            if not (isinstance(value, list) and len(value) == len(strides) and all(
                    isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)):
                raise outputs.fail(kind, f"expected {len(strides)} output names or indices, one per stride")
            refs[kind] = value
        for s in strides:
            if input_height % s or input_width % s:
                raise f.fail("strides", f"the input size {input_width}x{input_height} must be a "
                             f"multiple of every stride ({s})")
        per_cell = f.integer("anchors_per_cell", 2, lo=1, hi=64)
        check_anchor_count(f, "strides", sum((input_height // s) * (input_width // s) * per_cell
                                             for s in strides))
        return cls(input_height, input_width, strides, per_cell, num_keypoints, refs,
                   f.string("score_activation", "none", choices=("sigmoid", "none")), f.where)

    def bind(self, outputs: Sequence[OutputInfo]) -> None:
        widths = {"scores": 1, "boxes": 4, "keypoints": 2 * self.num_keypoints}
        self._index = {}  # a new dict: copies of one parsed decoder are bound to different models
        for kind, refs in self.refs.items():
            indices = [resolve_output(r, outputs, f"{self.where}.outputs.{kind}") for r in refs]
            for i, n in zip(indices, self.counts):
                if int(np.prod(outputs[i].shape)) != n * widths[kind]:
                    raise ManifestError(
                        f"{self.where}.outputs.{kind}: output {outputs[i].name!r} has shape "
                        f"{outputs[i].shape}, expected {n} x {widths[kind]} values for this stride: "
                        f"check strides, anchors_per_cell and the order of outputs")
            self._index[kind] = indices

    def _gather(self, outputs: Sequence[np.ndarray], kind: str, width: int) -> np.ndarray:
        return np.concatenate([outputs[i].reshape(-1, width) for i in self._index[kind]])

    def decode(self, outputs: Sequence[np.ndarray], score_threshold: float) -> Detections:
        scores = self._gather(outputs, "scores", 1)[:, 0]
        cut = logit(score_threshold) if self.sigmoid else score_threshold
        index = np.flatnonzero(scores >= cut)
        if index.size == 0:
            return empty_detections(self.num_keypoints)
        score = scores[index].astype(np.float32)
        if self.sigmoid:
            score = 1.0 / (1.0 + np.exp(-score))
        centre = self.centres[index]
        stride = self.stride_of[index][:, None]
        dist = self._gather(outputs, "boxes", 4)[index] * stride
        boxes = np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1) / np.tile(self.norm, 2)
        k = self.num_keypoints
        if k:
            offsets = self._gather(outputs, "keypoints", 2 * k)[index].reshape(-1, k, 2)
            keypoints = (centre[:, None, :] + offsets * stride[:, :, None]) / self.norm
        else:
            keypoints = np.zeros((len(index), 0, 2), np.float32)
        return Detections(boxes.astype(np.float32), score, keypoints.astype(np.float32))
