"""Manifest settings of known detector families, for converting, training and importing models.

The model cards' SDK-side data (``edgeface.cards``): keypoint names, the ArcFace template,
anchor settings and the whole detector manifest entry of each preset, with no TensorFlow and no toolchain
import, so that the SDK, the converters and the model definitions all read them here.

Converters rename and reorder output tensors, so a preset names its outputs by role and
``detector_entry`` finds each one by shape in the model actually produced.
"""

from __future__ import annotations

from typing import Sequence

from edgeface.errors import ManifestError

BLAZEFACE_KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"]
FIVE_KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"]

# The ArcFace/InsightFace 112x112 alignment template, in the subject's left/right terms.
ARCFACE_TEMPLATE = {
    "right_eye": (38.2946, 51.6963),
    "left_eye": (73.5318, 51.5014),
    "nose_tip": (56.0252, 71.7366),
    "mouth_right": (41.5493, 92.3655),
    "mouth_left": (70.7299, 92.2041),
}

# (x - 127.5) / 127.5 on RGB: what every edgeface architecture and MediaPipe's BlazeFace take,
# and the normalisation assumed for a model that comes without a manifest.
SIGNED_UNIT = {"mean": [127.5] * 3, "std": [127.5] * 3}

# MediaPipe face_detection_short_range anchors; edgeface's 128x128 BlazeFace trains on them too.
SHORT_RANGE_ANCHORS = {"strides": [8, 16, 16, 16], "min_scale": 0.1484375, "max_scale": 0.75,
                       "anchor_offset_x": 0.5, "anchor_offset_y": 0.5, "aspect_ratios": [1.0],
                       "fixed_anchor_size": True, "interpolated_scale_aspect_ratio": 1.0}
# MediaPipe face_detection_back (256x256): the same two maps at strides 16 and 32.
BACK_ANCHORS = {**SHORT_RANGE_ANCHORS, "strides": [16, 32, 32, 32], "min_scale": 0.15625}
# MediaPipe face_detection_full_range: one stride-4 map.
FULL_RANGE_ANCHORS = {**SHORT_RANGE_ANCHORS, "strides": [4], "interpolated_scale_aspect_ratio": 0.0}


def _ssd_preset(size: int, anchors: dict, keypoint_names: list[str], score_threshold: float) -> dict:
    """The detector entry of a ``size`` square BlazeFace-style SSD model on ``anchors``
    (box_scale = input size, sigmoid scores, weighted NMS)."""
    return {
        "input": {"height": size, "width": size, **SIGNED_UNIT, "resize": "letterbox", "pad": "center"},
        "decoder": {"family": "ssd", "anchors": dict(anchors),
                    "box_format": "xywh", "box_scale": [float(size)] * 4, "num_keypoints": len(keypoint_names),
                    "score_activation": "sigmoid", "score_clip": 100.0},
        "keypoint_names": list(keypoint_names),
        "score_threshold": score_threshold, "nms_iou": 0.3, "nms": "weighted", "max_faces": 100,
    }


# MediaPipe face_detection_short_range / full_range graph options.
PRESETS = {
    "blazeface-short": _ssd_preset(128, SHORT_RANGE_ANCHORS, BLAZEFACE_KEYPOINTS, 0.5),
    "blazeface-full": _ssd_preset(192, FULL_RANGE_ANCHORS, BLAZEFACE_KEYPOINTS, 0.6),
    "scrfd": {
        "input": {"height": 640, "width": 640, "mean": [127.5] * 3, "std": [128.0] * 3,
                  "resize": "letterbox", "pad": "corner"},
        "decoder": {"family": "scrfd", "strides": [8, 16, 32], "anchors_per_cell": 2,
                    "num_keypoints": 5, "score_activation": "none"},
        "keypoint_names": FIVE_KEYPOINTS,
        "score_threshold": 0.5, "nms_iou": 0.4, "nms": "hard", "max_faces": 100,
    },
}


def anchor_config(input_size: int) -> dict:
    """The ``decoder.anchors`` manifest entry of edgeface's BlazeFace built for ``input_size``."""
    return dict(BACK_ANCHORS if input_size >= 256 else SHORT_RANGE_ANCHORS)


# The detectors edgeface trains (edgeface.models.blazeface, edgeface.train) decode with their
# own anchor settings; known here so that convert and compile find them by family name too.
TRAINED_PRESETS = {f"edgeface-ssd-{size}": _ssd_preset(size, anchor_config(size), FIVE_KEYPOINTS, 0.5)
                   for size in (128, 256)}
PRESETS.update(TRAINED_PRESETS)


def preset_name(input_size: int) -> str:
    """The trained preset of edgeface's BlazeFace built for ``input_size``."""
    return "edgeface-ssd-256" if input_size >= 256 else "edgeface-ssd-128"


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= abs(d) or 1
    return n


def _find(outputs: Sequence[tuple[str, Sequence[int]]], rows: int, width: int, what: str,
          taken: set[str]) -> str:
    """The one output holding ``rows`` x ``width`` values whose last dimension is ``width``."""
    found = [name for name, shape in outputs if name not in taken and _size(shape) == rows * width
             and (abs(shape[-1]) == width or (width == 1 and abs(shape[-1]) == rows))]
    if len(found) != 1:
        listed = ", ".join(f"{n} {tuple(s)}" for n, s in outputs)
        raise ManifestError(f"cannot tell which output is the {what} ({rows} x {width} values): "
                            f"{len(found)} candidates among {listed}")
    taken.add(found[0])
    return found[0]


def detector_entry(family: str, outputs: Sequence[tuple[str, Sequence[int]]], height: int,
                   width: int) -> dict:
    """The manifest's detector fields (less file, format and input) for a model of a known
    family, with output tensor names taken from ``outputs`` ((name, shape) pairs)."""
    if family not in PRESETS:
        raise ManifestError(f"unknown detector family {family!r}: choose one of {', '.join(PRESETS)}")
    preset = {k: v for k, v in PRESETS[family].items() if k != "input"}
    decoder = dict(preset["decoder"])
    taken: set[str] = set()
    if decoder["family"] == "ssd":
        from edgeface.decoders.ssd import anchors_from_fields
        from edgeface.schema import Fields

        anchors = len(anchors_from_fields(Fields(decoder["anchors"], f"presets.{family}.anchors"),
                                          height, width))
        coords = 4 + 2 * decoder["num_keypoints"]
        decoder["outputs"] = {"boxes": _find(outputs, anchors, coords, "boxes", taken),
                              "scores": _find(outputs, anchors, 1, "scores", taken)}
        decoder["box_scale"] = [float(width), float(height), float(width), float(height)]
    else:
        per_cell, k = decoder["anchors_per_cell"], decoder["num_keypoints"]
        rows = [(height // s) * (width // s) * per_cell for s in decoder["strides"]]
        decoder["outputs"] = {
            "scores": [_find(outputs, n, 1, f"stride-{s} scores", taken) for n, s in zip(rows, decoder["strides"])],
            "boxes": [_find(outputs, n, 4, f"stride-{s} boxes", taken) for n, s in zip(rows, decoder["strides"])],
            "keypoints": [_find(outputs, n, 2 * k, f"stride-{s} keypoints", taken)
                          for n, s in zip(rows, decoder["strides"])],
        }
    decoder["preset"] = family  # recorded: compile finds the family again by this name
    preset["decoder"] = decoder
    return preset

