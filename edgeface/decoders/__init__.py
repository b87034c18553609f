"""Detection decoders: raw model outputs -> boxes, scores and keypoints.

Each family reads its parameters from the manifest's ``decoder`` object, so a new model
of a known family needs a manifest, not code. Decoders work in coordinates normalised
to the model input ([0, 1] on both axes); ``edgeface.preprocess`` maps them back to the
original image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from edgeface.errors import ManifestError
from edgeface.results import Detections
from edgeface.schema import Fields

# Most anchors (candidate boxes) a manifest may imply: its decoder allocates a few dozen
# bytes per anchor before any image is seen. SCRFD at 2048x2048 has 172,032.
MAX_ANCHORS = 500_000


@dataclass(frozen=True)
class OutputInfo:
    name: str
    shape: tuple[int, ...]


class Decoder(Protocol):
    num_keypoints: int

    def bind(self, outputs: Sequence[OutputInfo]) -> None:
        """Resolve the manifest's output references against the loaded model, checking shapes."""

    def decode(self, outputs: Sequence[np.ndarray], score_threshold: float) -> Detections:
        """Candidates scoring at least ``score_threshold``."""


def parse_decoder(f: Fields, input_height: int, input_width: int) -> Decoder:
    from edgeface.decoders.scrfd import ScrfdDecoder
    from edgeface.decoders.ssd import SsdDecoder

    families = {"ssd": SsdDecoder, "scrfd": ScrfdDecoder}
    family = f.string("family", choices=tuple(families))
    return families[family].parse(f, input_height, input_width)


def check_anchor_count(f: Fields, key: str, count: int) -> None:
    """Refuse decoder settings that imply more than MAX_ANCHORS anchors, before allocating."""
    if count > MAX_ANCHORS:
        raise f.fail(key, f"imply {count} anchors for this input size, more than edgeface's limit of "
                     f"{MAX_ANCHORS}: use larger strides or a smaller input")


def resolve_output(ref: str | int, outputs: Sequence[OutputInfo], where: str) -> int:
    """Index of the output a manifest names by tensor name or by position."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        if 0 <= ref < len(outputs):
            return ref
    else:
        for i, out in enumerate(outputs):
            if out.name == ref:
                return i
    names = ", ".join(repr(o.name) for o in outputs)
    raise ManifestError(f"{where}: the model has no output {ref!r} (its outputs: {names})")


def output_ref(f: Fields, key: str) -> str | int:
    value = f.data.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise f.fail(key, f"expected an output tensor name or index, got {value!r}")
    return value


def logit(p: float) -> float:
    """The raw score a sigmoid maps to ``p``: thresholding logits skips most sigmoids."""
    p = min(max(p, 1e-7), 1 - 1e-7)
    return float(np.log(p / (1 - p)))


def empty_detections(num_keypoints: int) -> Detections:
    return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                         np.zeros((0, num_keypoints, 2), np.float32))
