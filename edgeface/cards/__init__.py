"""Model cards: one registered card per architecture edgeface builds, with all its facts.

A card says what a model is (``detector`` or ``embedder``, the bundle's words), what it
takes (input size and normalisation), how its outputs are read (decoder preset, keypoint
names), how an embedder's faces are aligned (template), what calibrates it for int8, how
it is evaluated, and which function builds it. ``create_model``, ``edgeface models list``,
the training ``--arch`` choices and export all read the cards.

This package is on the SDK side of docs/architecture.md's rule: data only, no TensorFlow.
The builder is a ``"module:function"`` reference that only the toolchain
(``edgeface.models.create_model``) imports. Detector presets, keypoint names, anchors and
the ArcFace template live in ``edgeface.cards.presets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeface.cards.presets import ARCFACE_TEMPLATE, FIVE_KEYPOINTS, PRESETS
from edgeface.errors import EdgefaceError

KINDS = ("detector", "embedder")


@dataclass(frozen=True)
class ModelCard:
    name: str  # what `create_model` and `--arch` take
    kind: str  # one of KINDS
    description: str  # one line, for `edgeface models list`
    builder: str  # "module:function" that builds the Keras model (imported by the toolchain only)
    input: dict  # the manifest's input normalisation: mean, std, resize, pad
    input_size: int  # default square input size
    keypoint_names: tuple[str, ...]  # detector: what it predicts; embedder: what it is aligned by
    calibration: str  # what int8 calibration and fidelity checks feed it
    evaluation: str  # how a trained model is scored
    preset: str | None = None  # detector: its decoder preset in edgeface.cards.presets.PRESETS
    alignment_template: dict = field(default_factory=dict)  # embedder: keypoint -> (x, y) at 112x112

    def input_fields(self, input_size: int | None = None) -> dict:
        """The manifest ``input`` fields for a model built at ``input_size`` (default: the card's)."""
        size = input_size or self.input_size
        return {"height": size, "width": size, **self.input}


_CARDS: dict[str, ModelCard] = {}


def register_card(card: ModelCard) -> ModelCard:
    """Add ``card`` to the registry (a name is registered once)."""
    if card.name in _CARDS:
        raise ValueError(f"model card {card.name!r} is registered twice")
    _CARDS[card.name] = card
    return card


def get_card(name: str) -> ModelCard:
    if name not in _CARDS:
        raise EdgefaceError(f"unknown architecture {name!r}: choose one of {', '.join(_CARDS)}")
    return _CARDS[name]


def all_cards() -> dict[str, ModelCard]:
    return dict(_CARDS)


def names_of_kind(kind: str) -> list[str]:
    return [name for name, card in _CARDS.items() if card.kind == kind]


def choices_text(kind: str) -> str:
    """The architectures of ``kind`` for help texts: "a (128x128) or b (256x256)" for
    detectors (built for one size each), "a, b or c" for embedders."""
    shown = [f"{name} ({_CARDS[name].input_size}x{_CARDS[name].input_size})" if kind == "detector" else name
             for name in names_of_kind(kind)]
    return " or ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)


# (x - 127.5) / 127.5 on RGB: what every edgeface architecture is trained with.
_SIGNED_UNIT = {"mean": [127.5] * 3, "std": [127.5] * 3}
_EMBEDDER_INPUT = {**_SIGNED_UNIT, "resize": "stretch", "pad": "center"}  # aligned chips
_EMBEDDER_FACTS = {"kind": "embedder", "input": _EMBEDDER_INPUT, "input_size": 112,
                   "keypoint_names": tuple(FIVE_KEYPOINTS), "alignment_template": ARCFACE_TEMPLATE,
                   "calibration": "up to 100 aligned validation chips (pair images), resized to the input",
                   "evaluation": "verification on the validation pairs: accuracy, TAR at the run's FAR, threshold"}


def _detector_facts(preset: str) -> dict:
    """A detector card's facts that its decoder preset already says."""
    fields = PRESETS[preset]
    return {"kind": "detector", "preset": preset, "input_size": fields["input"]["height"],
            "input": {k: v for k, v in fields["input"].items() if k not in ("height", "width")},
            "keypoint_names": tuple(fields["keypoint_names"]),
            "calibration": "up to 100 validation images through the SDK's letterbox preprocessing",
            "evaluation": "detection AP and keypoint error on the validation set, through the SDK's decoder"}


register_card(ModelCard(
    name="mobilefacenet", builder="edgeface.models.mobilefacenet:mobilefacenet",
    description="MobileFaceNet recognizer, 112x112 -> 128/512-d, PReLU (~1 M params)", **_EMBEDDER_FACTS))
register_card(ModelCard(
    name="mobilefacenet_int8", builder="edgeface.models.mobilefacenet:mobilefacenet_int8",
    description="MobileFaceNet with ReLU6, for int8 on XNNPACK and the Hexagon HTP", **_EMBEDDER_FACTS))
register_card(ModelCard(
    name="blazeface", builder="edgeface.models.blazeface:blazeface",
    description="BlazeFace-style SSD detector, 128x128, 896 anchors, box + keypoints",
    **_detector_facts("edgeface-ssd-128")))
register_card(ModelCard(
    name="blazeface_256", builder="edgeface.models.blazeface:blazeface_256",
    description="BlazeFace back-camera / full-range SSD detector, 256x256, 896 anchors (strides 16, 32)",
    **_detector_facts("edgeface-ssd-256")))
register_card(ModelCard(
    name="edgeface_xs", builder="edgeface.models.edgeface_xs:edgeface_xs",
    description="EdgeFace-style hybrid recognizer (depthwise conv + attention + low-rank linear), "
                "112x112 -> 512-d, ~1.8 M params", **_EMBEDDER_FACTS))
register_card(ModelCard(
    name="edgeface_xs_int8", builder="edgeface.models.edgeface_xs:edgeface_xs_int8",
    description="EdgeFace-XS with BatchNorm, ReLU6 and sigmoid-gated attention, for int8 on XNNPACK "
                "and the Hexagon HTP", **_EMBEDDER_FACTS))
