"""The bundle: ``manifest.json`` plus model files, as a directory or a zip of one.

The manifest is the contract between the toolchain and the SDK: everything model
specific (input size, normalisation, decoder family and anchors, thresholds, the
alignment template) lives here, never in code. ``docs/bundle.md`` documents every field.
Each model file carries a sha256 that is checked when the file is read.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import weakref
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator

try:
    import lzma
except ImportError:  # pragma: no cover - a Python built without it; zipfile then refuses LZMA
    lzma = None

from edgeface.errors import BundleError, ChecksumError, ManifestError, SignatureError, clip, show
from edgeface.fsutil import atomic_write_bytes, current_umask, directory_lock, exchange_paths
from edgeface.schema import Fields
from edgeface.tiled_search import SEARCHES

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.signing import KeySources, PublicKey

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"  # optional: edgeface.signing
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024 * 1024  # per model file: real ones are up to ~100 MB
# Bounds on what a manifest may ask for, so that an untrusted one cannot make the SDK
# allocate without limit or divide by almost nothing (docs/bundle.md lists them).
MAX_INPUT_SIDE = 2048  # a float32 input of 2048x2048x3 is 48 MiB
MEAN_RANGE = (-1e4, 1e4)
STD_RANGE = (1e-3, 1e4)
MAX_TEMPLATE_POINTS = 100
MIN_TEMPLATE_SPACING = 1.0  # pixels between any two alignment template points
MAX_EMBEDDING_SIZE = 65536
MAX_FACES = 10000
MAX_LANDMARKS = 10000  # points a landmark model gives (MediaPipe's face mesh: 468, or 478 with irises)
MAX_POINT_GROUPS = 100
MAX_REFINEMENTS = 16  # outputs refining points (MediaPipe's attention mesh: lips, two eyes, two irises)
MODEL_FORMATS = ("tflite", "onnx")
ACCELERATORS = ("qnn-htp",)


def _extra(f: Fields, known: tuple[str, ...]) -> dict[str, Any]:
    """The keys of ``f`` that this edgeface does not read (a newer writer's fields), kept
    so that writing a parsed manifest back loses nothing."""
    return {key: copy.deepcopy(value) for key, value in f.data.items() if key not in known}


def _with_extra(known: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``known`` fields (None ones left out: they are optional) after the kept unknown ones."""
    return {**copy.deepcopy(extra), **{key: value for key, value in known.items() if value is not None}}


@dataclass(frozen=True)
class InputSpec:
    """How an image becomes the model's input tensor."""

    height: int
    width: int
    layout: str  # "NHWC" or "NCHW"
    dtype: str  # "float32", "uint8" or "int8": checked against the model on load
    channel_order: str  # "RGB" or "BGR"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str  # "letterbox" keeps the aspect ratio and pads; "stretch" does not
    pad: str  # where a letterbox puts the image: "center" or "corner" (top-left)
    # where the resize samples: "half_pixel" (input pixel i at image (i + 0.5) / scale - 0.5,
    # OpenCV's resize) or "top_left" (at i / scale: MediaPipe's ImageToTensor, what its
    # models were trained on)
    sampling: str = field(default="half_pixel", kw_only=True)
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # unknown keys, kept

    KEYS = ("height", "width", "layout", "dtype", "channel_order", "mean", "std", "resize", "pad", "sampling")
    SAMPLINGS = ("half_pixel", "top_left")

    @classmethod
    def parse(cls, f: Fields) -> "InputSpec":
        return cls(
            height=f.integer("height", lo=1, hi=MAX_INPUT_SIDE),
            width=f.integer("width", lo=1, hi=MAX_INPUT_SIDE),
            layout=f.string("layout", "NHWC", choices=("NHWC", "NCHW")),
            dtype=f.string("dtype", "float32", choices=("float32", "uint8", "int8")),
            channel_order=f.string("channel_order", "RGB", choices=("RGB", "BGR")),
            mean=tuple(f.numbers("mean", 3, lo=MEAN_RANGE[0], hi=MEAN_RANGE[1])),
            std=tuple(f.numbers("std", 3, lo=STD_RANGE[0], hi=STD_RANGE[1])),
            resize=f.string("resize", "letterbox", choices=("letterbox", "stretch")),
            pad=f.string("pad", "center", choices=("center", "corner")),
            sampling=f.string("sampling", "half_pixel", choices=cls.SAMPLINGS),
            extra=_extra(f, cls.KEYS),
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``input`` object: ``InputSpec.parse`` of it gives this spec back
        (``sampling`` written only when it is not the default, as manifests before it)."""
        data = {key: getattr(self, key) for key in self.KEYS if key != "sampling"}
        if self.sampling != "half_pixel":
            data["sampling"] = self.sampling
        return _with_extra(data | {"mean": list(self.mean), "std": list(self.std)}, self.extra)


@dataclass(frozen=True)
class TargetSpec:
    """A model compiled for one accelerator, e.g. a QNN context for a Snapdragon's HTP.
    It takes the same input and gives the same outputs as the model's portable file."""

    soc: str  # the SoC part number it was built for: SM8650
    file: str
    sha256: str
    format: str  # "onnx" (an EPContext model)
    accelerator: str  # "qnn-htp"
    precision: str  # w8a8, w8a16, fp16
    htp_arch: int
    soc_model: int
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # unknown keys, kept

    KEYS = ("file", "sha256", "format", "accelerator", "precision", "htp_arch", "soc_model")

    def to_dict(self) -> dict[str, Any]:
        """The target's entry under ``targets.<soc>`` (the SoC is its key, not a field)."""
        return _with_extra({key: getattr(self, key) for key in self.KEYS}, self.extra)


@dataclass(frozen=True)
class ModelSpec:
    """What every model entry has: its file and how to feed it, and any builds of it for
    specific accelerators (``targets``, by SoC part number)."""

    role: str
    file: str
    sha256: str
    format: str
    input: InputSpec
    targets: dict[str, TargetSpec]
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # unknown keys, kept

    KEYS = ("file", "sha256", "format", "input", "targets")

    def to_dict(self) -> dict[str, Any]:
        """The model's entry under ``models.<role>`` (the role is its key, not a field)."""
        common = {"file": self.file, "sha256": self.sha256, "format": self.format, "input": self.input.to_dict(),
                  "targets": {soc: t.to_dict() for soc, t in self.targets.items()} or None}
        return _with_extra(common | self._role_fields(), self.extra)

    def _role_fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class DecoderSpec:
    """A detector's ``decoder`` object, validated once by its family's parser: ``settings``
    is the object as the manifest has it (unknown keys included), ``decoder`` the parsed
    decoder (anchors made) that every ``Detector`` of this spec copies and binds."""

    settings: dict[str, Any]
    decoder: Any = field(compare=False, repr=False)  # edgeface.decoders.Decoder, not yet bound

    @classmethod
    def parse(cls, f: Fields, input: InputSpec) -> "DecoderSpec":
        """Validate a ``decoder`` object with its family's parser, for a model of ``input``."""
        # Imported here: the decoders import this module's types.
        from edgeface.decoders import parse_decoder

        parsed = parse_decoder(f, input.height, input.width)
        if f.has("preset"):
            f.string("preset")
        return cls(settings=copy.deepcopy(f.data), decoder=parsed)

    @property
    def family(self) -> str:
        return self.settings["family"]

    @property
    def preset(self) -> str | None:
        """The preset (edgeface.cards.presets) the settings were made from, when a
        writer recorded it."""
        return self.settings.get("preset")

    @property
    def num_keypoints(self) -> int:
        return self.decoder.num_keypoints

    def bound(self, outputs) -> Any:
        """A decoder of these settings bound to a loaded model's outputs (``OutputInfo``s)."""
        decoder = copy.copy(self.decoder)
        decoder.bind(outputs)
        return decoder

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.settings)


@dataclass(frozen=True)
class DetectorSpec(ModelSpec):
    decoder: DecoderSpec
    keypoint_names: tuple[str, ...]
    score_threshold: float
    nms_iou: float
    nms: str  # "weighted" (MediaPipe's blending) or "hard"
    max_faces: int
    # Where the SDK looks for faces unless told (edgeface.tiled_search): "whole", or "auto"
    # for a detector whose tiled search was measured (the default bundle's BlazeFace).
    search: str

    KEYS = ModelSpec.KEYS + ("decoder", "keypoint_names", "score_threshold", "nms_iou", "nms", "max_faces", "search")

    def _role_fields(self) -> dict[str, Any]:
        return {"decoder": self.decoder.to_dict(), "keypoint_names": list(self.keypoint_names) or None,
                "score_threshold": self.score_threshold, "nms_iou": self.nms_iou, "nms": self.nms,
                "max_faces": self.max_faces, "search": self.search}


@dataclass(frozen=True)
class AlignmentSpec:
    """The face chip the embedder was trained on: its size and named template points
    (where the detector's keypoints of those names belong in the chip) and, optionally,
    ``landmark_template``: where the centres of a landmark model's point groups of those
    names belong, used instead when the bundle has a landmark model with those groups."""

    width: int
    height: int
    template: dict[str, tuple[float, float]]
    landmark_template: dict[str, tuple[float, float]] = field(default_factory=dict, kw_only=True)
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # unknown keys, kept

    KEYS = ("width", "height", "template", "landmark_template")

    def to_dict(self) -> dict[str, Any]:
        data = {"width": self.width, "height": self.height,
                "template": {name: list(point) for name, point in self.template.items()}}
        if self.landmark_template:
            data["landmark_template"] = {name: list(point) for name, point in self.landmark_template.items()}
        return _with_extra(data, self.extra)


@dataclass(frozen=True)
class EmbedderSpec(ModelSpec):
    embedding_size: int
    output: str | None  # output tensor name; None means the model's only output
    alignment: AlignmentSpec
    verify_threshold: float  # cosine similarity at or above which two faces match
    verify_far: float | None  # the false-accept rate the threshold was calibrated at

    KEYS = ModelSpec.KEYS + ("embedding_size", "output", "alignment", "verify_threshold", "verify_far")

    def _role_fields(self) -> dict[str, Any]:
        return {"embedding_size": self.embedding_size, "output": self.output, "alignment": self.alignment.to_dict(),
                "verify_threshold": self.verify_threshold, "verify_far": self.verify_far}


@dataclass(frozen=True)
class Refinement:
    """A second output of a landmark model that gives some points more precisely
    (MediaPipe's attention mesh: lips, eyes and irises). It holds 2 (x, y) or 3 (x, y, z)
    values per point of ``points``, which replace those points' values; ``depth_from``
    (optional) sets their z to the mean z of those points instead, for points the main
    output does not give (the irises)."""

    output: str
    points: tuple[int, ...]
    depth_from: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"output": self.output, "points": list(self.points)}
        if self.depth_from:
            data["depth_from"] = list(self.depth_from)
        return data


@dataclass(frozen=True)
class LandmarksSpec(ModelSpec):
    """A dense face landmark model (MediaPipe's face mesh): it takes a square crop around
    one face, turned so that the eyes lie level, and gives ``points`` (x, y, z) in crop
    pixels, z a relative depth on the same scale, and a face-presence logit."""

    points: int
    points_output: str  # the output tensor of points x 3 values
    presence_output: str | None  # the output tensor of one face-presence logit, if the model has one
    presence_threshold: float  # presence probability under which a face is lost (tracking restarts)
    # the crop: a square ``roi_scale`` times the face's longer side, centred on its box and
    # turned by the line from the first to the second of the detector's ``roi_keypoints``,
    # or, when tracking from the previous frame, of the points ``roi_points``
    roi_scale: float
    roi_keypoints: tuple[str, str]
    roi_points: tuple[int, int]
    # named sets of point indices (eye contours, lips, ...): what alignment and the derived
    # signals (head pose, blinks, smile) read, so that no index is hard-coded in the SDK
    point_groups: dict[str, tuple[int, ...]]
    # outputs applied in order over the points output's values (its first points; the
    # refinements give the rest)
    refinements: tuple[Refinement, ...] = ()

    KEYS = ModelSpec.KEYS + ("points", "points_output", "presence_output", "presence_threshold", "roi_scale",
                             "roi_keypoints", "roi_points", "point_groups", "refinements")

    def _role_fields(self) -> dict[str, Any]:
        return {"points": self.points, "points_output": self.points_output, "presence_output": self.presence_output,
                "presence_threshold": self.presence_threshold, "roi_scale": self.roi_scale,
                "roi_keypoints": list(self.roi_keypoints), "roi_points": list(self.roi_points),
                "point_groups": {name: list(group) for name, group in self.point_groups.items()} or None,
                "refinements": [r.to_dict() for r in self.refinements] or None}


ROLES = ("detector", "embedder", "landmarks")


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest. Top-level keys this edgeface does not read (``source``,
    ``training``, a newer writer's fields) are kept in ``extra``; ``raw`` is the decoded
    JSON it was parsed from, for reading only (write through ``to_dict``)."""

    name: str
    description: str
    detector: DetectorSpec | None
    embedder: EmbedderSpec | None
    landmarks: LandmarksSpec | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # unknown keys, kept

    KEYS = ("schema_version", "name", "description", "models")

    def models(self) -> list[ModelSpec]:
        return [m for m in (self.detector, self.embedder, self.landmarks) if m is not None]

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON data: ``parse_manifest(m.to_dict()) == m``."""
        return _with_extra({"schema_version": SCHEMA_VERSION, "name": self.name, "description": self.description,
                            "models": {m.role: m.to_dict() for m in self.models()}}, self.extra)

    def __post_init__(self) -> None:
        if not self.raw:  # built in code, not parsed: raw is what would be written
            object.__setattr__(self, "raw", self.to_dict())

    def with_model(self, model: ModelSpec) -> "Manifest":
        """This manifest with ``model`` in its role (replacing the one there)."""
        return dataclasses.replace(self, raw={}, **{model.role: model})


def parse_manifest(data: Any, source: str = MANIFEST_NAME) -> Manifest:
    """Validate a decoded manifest; raises ``ManifestError`` naming the bad field."""
    top = Fields(data, "manifest", source)
    version = top.integer("schema_version")
    if version != SCHEMA_VERSION:
        raise top.fail("schema_version", f"this edgeface reads version {SCHEMA_VERSION}, the bundle has "
                       f"{version}: rebuild the bundle or upgrade edgeface")
    models = top.sub("models")
    unknown = sorted(set(models.data) - set(ROLES))
    if unknown:
        raise models.fail(unknown[0], "unknown model role (expected detector, embedder or landmarks)")
    if not models.data:
        raise top.fail("models", "must name at least one model (detector, embedder or landmarks)")
    detector = _parse_detector(models.sub("detector")) if models.has("detector") else None
    embedder = _parse_embedder(models.sub("embedder")) if models.has("embedder") else None
    landmarks = _parse_landmarks(models.sub("landmarks")) if models.has("landmarks") else None
    if landmarks is not None and detector is not None:
        missing = [name for name in landmarks.roi_keypoints if detector.keypoint_names
                   and name not in detector.keypoint_names]
        if missing:
            raise models.sub("landmarks").fail("roi_keypoints", f"{missing[0]!r} is not one of the detector's "
                                               f"keypoint_names ({', '.join(detector.keypoint_names)})")
    return Manifest(name=top.string("name"), description=top.string("description", ""),
                    detector=detector, embedder=embedder, landmarks=landmarks, raw=data,
                    extra=_extra(top, Manifest.KEYS))


def _file_and_hash(f: Fields) -> tuple[str, str]:
    file = f.string("file")
    if not _is_member_path(file):
        raise f.fail("file", f"must be a relative path inside the bundle, got {file!r}")
    sha = f.string("sha256").lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise f.fail("sha256", "expected 64 hex digits")
    return file, sha


def _is_member_path(file: str) -> bool:
    """Whether a manifest's ``file`` is a relative path that stays inside the bundle."""
    path = PurePosixPath(file)
    return not (path.is_absolute() or ".." in path.parts or not path.parts or "\\" in file)


def _common(f: Fields, role: str, kind: type[ModelSpec]) -> dict[str, Any]:
    """The fields every model entry has, and the entry's unknown keys for a ``kind`` spec."""
    file, sha = _file_and_hash(f)
    targets = f.sub("targets") if f.has("targets") else None
    return dict(role=role, file=file, sha256=sha, format=f.string("format", choices=MODEL_FORMATS),
                input=InputSpec.parse(f.sub("input")),
                targets={soc: _parse_target(targets.sub(soc), soc) for soc in targets.data} if targets else {},
                extra=_extra(f, kind.KEYS))


def _parse_target(f: Fields, soc: str) -> TargetSpec:
    file, sha = _file_and_hash(f)
    return TargetSpec(soc=soc, file=file, sha256=sha, format=f.string("format", choices=("onnx",)),
                      accelerator=f.string("accelerator", choices=ACCELERATORS),
                      precision=f.string("precision", choices=("w8a8", "w8a16", "fp16")),
                      htp_arch=f.integer("htp_arch", lo=60, hi=200), soc_model=f.integer("soc_model", lo=0),
                      extra=_extra(f, TargetSpec.KEYS))


def _parse_detector(f: Fields) -> DetectorSpec:
    common = _common(f, "detector", DetectorSpec)
    decoder = DecoderSpec.parse(f.sub("decoder"), common["input"])
    keypoint_names = tuple(f.strings("keypoint_names", []))
    if keypoint_names and len(keypoint_names) != decoder.num_keypoints:
        raise f.fail("keypoint_names", f"names {len(keypoint_names)} keypoints but the decoder "
                     f"produces {decoder.num_keypoints}")
    return DetectorSpec(
        **common,
        decoder=decoder,
        keypoint_names=keypoint_names,
        score_threshold=f.number("score_threshold", above=0.0, below=1.0),
        nms_iou=f.number("nms_iou", above=0.0, hi=1.0),
        nms=f.string("nms", "hard", choices=("hard", "weighted")),
        max_faces=f.integer("max_faces", 100, lo=1, hi=MAX_FACES),
        search=f.string("search", "whole", choices=SEARCHES),
    )


def _parse_embedder(f: Fields) -> EmbedderSpec:
    return EmbedderSpec(
        **_common(f, "embedder", EmbedderSpec),
        embedding_size=f.integer("embedding_size", lo=1, hi=MAX_EMBEDDING_SIZE),
        output=f.string("output", None) if f.has("output") else None,
        alignment=_parse_alignment(f.sub("alignment")),
        # a cosine similarity: at or below 0 about half of all strangers would match
        verify_threshold=f.number("verify_threshold", above=0.0, hi=1.0),
        verify_far=f.number("verify_far", lo=0.0, hi=1.0) if f.has("verify_far") else None,
    )


def _parse_landmarks(f: Fields) -> LandmarksSpec:
    common = _common(f, "landmarks", LandmarksSpec)
    points = f.integer("points", lo=2, hi=MAX_LANDMARKS)
    roi_keypoints = f.strings("roi_keypoints")
    if len(roi_keypoints) != 2 or roi_keypoints[0] == roi_keypoints[1]:
        raise f.fail("roi_keypoints", "expected two different keypoint names (the line that levels the crop)")
    roi_points = f.integers("roi_points", lo=0)
    if len(roi_points) != 2 or roi_points[0] == roi_points[1] or max(roi_points) >= points:
        raise f.fail("roi_points", f"expected two different point indices below {points}")
    groups = f.sub("point_groups") if f.has("point_groups") else None
    point_groups = {}
    if groups is not None:
        if len(groups.data) > MAX_POINT_GROUPS:
            raise f.fail("point_groups", f"at most {MAX_POINT_GROUPS} groups, got {len(groups.data)}")
        for name in groups.data:
            indices = groups.integers(name, lo=0)
            if not indices or max(indices) >= points:
                raise groups.fail(name, f"expected a non-empty list of point indices below {points}")
            point_groups[name] = tuple(indices)
    return LandmarksSpec(
        refinements=_parse_refinements(f, points),
        **common,
        points=points,
        points_output=f.string("points_output"),
        presence_output=f.string("presence_output", None) if f.has("presence_output") else None,
        presence_threshold=f.number("presence_threshold", 0.5, above=0.0, below=1.0),
        roi_scale=f.number("roi_scale", lo=1.0, hi=4.0),
        roi_keypoints=(roi_keypoints[0], roi_keypoints[1]),
        roi_points=(roi_points[0], roi_points[1]),
        point_groups=point_groups,
    )


def _parse_refinements(f: Fields, points: int) -> tuple[Refinement, ...]:
    if not f.has("refinements"):
        return ()
    items = f.data["refinements"]
    if not isinstance(items, list) or not items or len(items) > MAX_REFINEMENTS:
        raise f.fail("refinements", f"expected a list of 1 to {MAX_REFINEMENTS} objects (output, points, "
                                    f"depth_from), got {show(items)}")
    refinements = []
    for i, item in enumerate(items):
        r = Fields(item, f"{f.where}.refinements[{i}]", f.source)
        indices = r.integers("points", lo=0)
        if max(indices) >= points or len(set(indices)) != len(indices):
            raise r.fail("points", f"expected different point indices below {points}")
        depth_from = r.integers("depth_from", lo=0) if r.has("depth_from") else []
        if depth_from and max(depth_from) >= points:
            raise r.fail("depth_from", f"expected point indices below {points}")
        unknown = sorted(set(r.data) - {"output", "points", "depth_from"})
        if unknown:
            raise r.fail(unknown[0], "unknown key (expected output, points, depth_from)")
        refinements.append(Refinement(output=r.string("output"), points=tuple(indices),
                                      depth_from=tuple(depth_from)))
    return tuple(refinements)


def _parse_alignment(align: Fields) -> AlignmentSpec:
    """The chip and its template: at least 2 points, inside the chip and apart from each
    other, so that the similarity transform onto them is well defined."""
    width, height = align.integer("width", lo=8, hi=1024), align.integer("height", lo=8, hi=1024)
    template = _parse_template(align, "template", width, height)
    landmark_template = _parse_template(align, "landmark_template", width, height) \
        if align.has("landmark_template") else {}
    return AlignmentSpec(width=width, height=height, template=template, landmark_template=landmark_template,
                         extra=_extra(align, AlignmentSpec.KEYS))


def _parse_template(align: Fields, key: str, width: int, height: int) -> dict[str, tuple[float, float]]:
    points = align.sub(key)
    template = {name: tuple(points.numbers(name, 2)) for name in points.data}
    if not 2 <= len(template) <= MAX_TEMPLATE_POINTS:
        raise align.fail(key, f"needs 2 to {MAX_TEMPLATE_POINTS} named points, got {len(template)}")
    for name, (x, y) in template.items():
        if not (0 <= x <= width and 0 <= y <= height):
            raise points.fail(name, f"({x}, {y}) is outside the {width}x{height} chip")
    names = list(template)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if math.dist(template[a], template[b]) < MIN_TEMPLATE_SPACING:
                raise points.fail(b, f"is less than {MIN_TEMPLATE_SPACING} pixel from {a}: "
                                  f"template points must be distinct")
    return template


class Bundle:
    """An opened bundle: its manifest, and checked access to its files.

    ``manifest_bytes`` are exactly what ``manifest`` was parsed from (what a signature
    covers); ``signed_by`` is the trusted key whose signature was verified, or None when
    the bundle was opened without ``trusted_keys``."""

    def __init__(self, location: Path, manifest: Manifest, reader: "_Reader", manifest_bytes: bytes = b"",
                 signed_by: "PublicKey | None" = None):
        self.location = location
        self.manifest = manifest
        self._reader = reader
        self.manifest_bytes = manifest_bytes
        self.signed_by = signed_by

    def read_model(self, spec: ModelSpec | TargetSpec) -> bytes:
        """The bytes of a model (or target) file, after checking them against the
        manifest's sha256."""
        data = self._reader.read(spec.file)
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256:
            raise ChecksumError(
                f"{self.location}: {spec.file} does not match its sha256 in {MANIFEST_NAME} "
                f"(the file is corrupt, truncated or was replaced): rebuild or re-download the bundle")
        return data

    def specs(self) -> Iterator[ModelSpec | TargetSpec]:
        """Every model and every accelerator build of it (``targets``), in manifest order."""
        for model in self.manifest.models():
            yield model
            yield from model.targets.values()

    def files(self, include_targets: bool = True, roles: tuple[str, ...] = ROLES) -> dict[str, bytes]:
        """The checked bytes of the model files of ``roles``, and of their accelerator
        builds unless ``include_targets`` is false: what ``write_bundle`` needs to write
        this bundle's models elsewhere."""
        specs = [m for m in self.manifest.models() if m.role in roles]
        if include_targets:
            specs += [t for m in specs for t in m.targets.values()]
        return {spec.file: self.read_model(spec) for spec in specs}

    def read_signature(self) -> bytes | None:
        """The bytes of ``manifest.json.sig`` (bounded), or None for an unsigned bundle;
        ``signed_by`` says whether it was verified."""
        from edgeface.signing import MAX_SIGNATURE_BYTES

        return self._reader.read(SIGNATURE_NAME, MAX_SIGNATURE_BYTES, optional=True)

    def __repr__(self) -> str:
        return f"Bundle({str(self.location)!r}, name={self.manifest.name!r})"


class _Reader:
    """Reads the members of one opened bundle, each bounded in size before it is read."""

    def __init__(self, location: Path):
        self.location = location

    def read(self, name: str, limit: int = MAX_FILE_BYTES, optional: bool = False) -> bytes | None:
        """The member's bytes (at most ``limit``); None for an ``optional`` one the bundle lacks."""
        with self._errors(name, optional):
            return self._read(name, limit)
        return None  # an optional member that is missing

    @contextlib.contextmanager
    def _errors(self, name: str, optional: bool = False) -> Iterator[None]:
        """Turns the ways reading ``name`` fails into a BundleError naming it (a missing
        ``optional`` member is no error: the block is left without a value)."""
        try:
            yield
        except (FileNotFoundError, KeyError):
            if optional:
                return
            raise BundleError(f"{self.location}: {name} is named in {MANIFEST_NAME} but missing: "
                              f"rebuild or re-download the bundle") from None
        except (OSError, zipfile.BadZipFile, ValueError, EOFError, RuntimeError, NotImplementedError,
                *_DECOMPRESSION_ERRORS) as exc:
            raise BundleError(f"{self.location}: cannot read {name} ({exc}): "
                              f"rebuild or re-download the bundle") from None

    def _read(self, name: str, limit: int) -> bytes:
        raise NotImplementedError

    def hold(self, names: list[str]) -> None:
        """Pin the files the manifest names to this opening of the bundle (see _DirReader)."""

    def replaced(self) -> bool:
        """Whether the bundle at ``location`` is no longer the one this reader opened."""
        return False

    def close(self) -> None:
        self._closer()

    def _too_large(self, name: str, limit: int) -> BundleError:
        size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
        return BundleError(f"{self.location}: {name} is larger than {size}, edgeface's "
                           f"limit for this bundle member (docs/bundle.md): not a bundle it can load")


class _DirReader(_Reader):
    """A directory bundle, opened once: the manifest and the files read later come from
    that same directory even if a writer swaps a new bundle in meanwhile (write_bundle
    does so atomically and then deletes the old one, whose files this reader keeps open).

    Members are opened without following symbolic links in any path component, and only
    regular files are read, so a bundle cannot make edgeface read ``/dev/zero``, block on
    a FIFO or hash a file outside the bundle."""

    def __init__(self, location: Path):
        super().__init__(location)
        self.dir_fd = os.open(location, os.O_RDONLY | os.O_DIRECTORY)
        status = os.fstat(self.dir_fd)
        self.identity = (status.st_dev, status.st_ino)
        self.held: dict[str, int] = {}
        self._closer = weakref.finalize(self, _close_fds, self.held, self.dir_fd)

    def hold(self, names: list[str]) -> None:
        """Open every named file now, so that read() can still read this bundle's files
        after a writer swapped a new bundle in and deleted this one."""
        for name in names:
            if name in self.held:
                continue
            with self._errors(name):
                try:
                    self.held[name] = self._open(name)
                except FileNotFoundError:
                    if self.replaced():
                        raise
                    # else missing from the bundle: reported when it is read

    def replaced(self) -> bool:
        try:
            status = os.stat(self.location)
        except OSError:
            return True
        return (status.st_dev, status.st_ino) != self.identity

    def _read(self, name: str, limit: int) -> bytes:
        try:
            fd = self._open(name)
        except FileNotFoundError:
            if name not in self.held or not self.replaced():
                raise
            return _read_fd(self.held[name], limit, lambda: self._too_large(name, limit))
        try:
            return _read_fd(fd, limit, lambda: self._too_large(name, limit))
        finally:
            os.close(fd)

    def _open(self, name: str) -> int:
        """A descriptor of the regular file ``name`` inside the bundle directory."""
        *folders, leaf = PurePosixPath(name).parts
        parent, opened = self.dir_fd, []
        try:
            for folder in folders:
                parent = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
                opened.append(parent)
            fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # what O_NOFOLLOW gives on a link
                what = "a symbolic link" if self._through_link(name) else "under a file, not a folder,"
                raise self._not_regular(name, what) from None
            raise
        finally:
            for folder_fd in opened:
                os.close(folder_fd)
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            os.close(fd)
            raise self._not_regular(name, _KINDS.get(kind, "not a regular file"))
        return fd

    def _through_link(self, name: str) -> bool:
        """Whether ``name`` or a folder on its way is a symbolic link (for the message)."""
        path = self.location
        for part in PurePosixPath(name).parts:
            path = path / part
            if path.is_symlink():
                return True
        return False

    def _not_regular(self, name: str, what: str) -> BundleError:
        return BundleError(f"{self.location}: {name} is {what}; a bundle may hold regular files "
                           f"only: copy the real file into the bundle")


_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link"}


def _read_fd(fd: int, limit: int, too_large) -> bytes:
    """At most ``limit`` bytes of a regular file, refused before reading when its size
    says it is larger, and at ``limit + 1`` bytes when it grew meanwhile."""
    if os.fstat(fd).st_size > limit:
        raise too_large()
    chunks, total = [], 0
    while True:
        chunk = os.pread(fd, min(1 << 20, limit + 1 - total), total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise too_large()


def _close_fds(held: dict[str, int], dir_fd: int) -> None:
    for fd in held.values():
        os.close(fd)
    os.close(dir_fd)


class _ZipReader(_Reader):
    """A zip bundle, opened once (a zip replaced by a rename is read whole from the old
    or the new file). Members are checked before anything is decompressed: no duplicate
    names (tools disagree about which one counts), no encryption, a compression method
    Python reads, a declared size within the limit; the decompressed stream is cut off
    at the limit too, since declared sizes can lie."""

    def __init__(self, location: Path):
        super().__init__(location)
        try:
            self.archive = zipfile.ZipFile(location)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise BundleError(f"{location}: not a readable zip ({exc}): rebuild or re-download "
                              f"the bundle") from None
        self._closer = weakref.finalize(self, self.archive.close)
        seen: set[str] = set()
        for info in self.archive.infolist():
            if info.filename in seen:
                self.close()
                raise BundleError(f"{location}: holds {info.filename} more than once: a bundle zip "
                                  f"must name each member once; rebuild it")
            seen.add(info.filename)

    def _read(self, name: str, limit: int) -> bytes:
        info = self.archive.getinfo(name)
        if info.flag_bits & 0x1:
            raise BundleError(f"{self.location}: {name} is encrypted; bundles must not be: "
                              f"zip it again without a password")
        if info.compress_type not in _ZIP_METHODS:
            raise BundleError(f"{self.location}: {name} uses zip compression method "
                              f"{info.compress_type}, which edgeface cannot read: zip it again "
                              f"with deflate or no compression")
        if info.file_size > limit:
            raise self._too_large(name, limit)
        with self.archive.open(info) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise self._too_large(name, limit)
        return data


_DECOMPRESSION_ERRORS = (zlib.error, *((lzma.LZMAError,) if lzma else ()))  # bz2's are OSErrors
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _open_reader(location: Path) -> _Reader:
    if location.is_dir():
        try:
            return _DirReader(location)
        except OSError as exc:
            raise BundleError(f"{location}: cannot open the bundle directory ({exc.strerror}): "
                              f"check its permissions") from None
    if location.is_file() and zipfile.is_zipfile(location):
        return _ZipReader(location)
    if location.exists():
        raise BundleError(f"{location}: not a bundle (expected a directory with {MANIFEST_NAME}, "
                          f"or a .zip of one)")
    raise BundleError(f"{location}: no such bundle: check the path given to --bundle")


def load_bundle(path: str | Path, trusted_keys: "KeySources | None" = None) -> Bundle:
    """Open a bundle directory or .zip; validates the manifest (model files are checked
    when they are read). With ``trusted_keys`` (public key files or ``edgeface.signing.
    PublicKey``s) a bundle none of them signed raises ``SignatureError``. A bundle that a
    writer replaces meanwhile is opened again."""
    location = Path(path)
    for attempt in range(_OPEN_ATTEMPTS):
        reader = _open_reader(location)
        try:
            raw = reader.read(MANIFEST_NAME, MAX_MANIFEST_BYTES)
            # checked before parsing: the bytes parsed are the bytes verified
            signed_by = _check_signer(location, raw, reader, trusted_keys) if trusted_keys is not None else None
            data = _decode_manifest(raw, location)
            # the files first, the (slower) validation after: the sooner they are open, the
            # less likely a writer has deleted them meanwhile
            reader.hold(sorted(_named_files(data) or ()))
            manifest = parse_manifest(data, f"{location}/{MANIFEST_NAME}")
            return Bundle(location, manifest, reader, raw, signed_by)
        except BundleError:
            replaced = reader.replaced()  # asked while the reader still holds its directory
            reader.close()
            if attempt == _OPEN_ATTEMPTS - 1 or not replaced:
                raise
    raise AssertionError("unreachable")


_OPEN_ATTEMPTS = 10  # a retry needs a writer to finish a whole replacement within one load


def _check_signer(location: Path, raw: bytes, reader: _Reader, trusted_keys: "KeySources") -> "PublicKey":
    from edgeface.signing import MAX_SIGNATURE_BYTES, check_signature

    try:
        signature = reader.read(SIGNATURE_NAME, MAX_SIGNATURE_BYTES, optional=True)
    except BundleError as exc:  # oversized, a link, a FIFO: a signature file that cannot be one
        raise SignatureError(str(exc)) from None
    return check_signature(location, raw, signature, trusted_keys)


def _decode_manifest(raw: bytes, location: Path) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, an integer of > 4300 digits
        raise ManifestError(f"{location}/{MANIFEST_NAME}: not valid JSON ({clip(str(exc))})") from None


def write_bundle(out_dir: str | Path, manifest: Manifest | dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write a bundle directory: fills in each model's sha256, validates, then swaps it
    into place whole, so a reader never sees a half-written bundle. ``manifest`` is a
    ``Manifest`` (``dataclasses.replace`` one to edit it) or its JSON data; of ``files``
    only those it names are written (a replaced target's old file is left out), so the
    bundle can be replaced later.

    ``out_dir`` may exist only as an empty directory or as a bundle (nothing in it but
    manifest.json and the files that manifest names): anything else is refused, never
    deleted. Writers replacing bundles in one directory take turns (a lock on it)."""
    if isinstance(manifest, Manifest):
        manifest = manifest.to_dict()
    manifest = _with_checksums(manifest, files)
    parse_manifest(manifest)
    out = Path(out_dir)
    check_replaceable(out)  # before the work of staging; again under the lock
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise _write_error(out, exc) from None
    try:
        staging.chmod(0o777 & ~current_umask())
        named = _named_files(manifest)
        for name, data in files.items():
            if str(PurePosixPath(name)) in named:
                atomic_write_bytes(staging / name, data)
        atomic_write_bytes(staging / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
        with directory_lock(out.parent):
            check_replaceable(out)
            old = _swap_in(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _write_error(out, exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None and _replaceable(old):  # what the swap moved aside: the previous bundle
        shutil.rmtree(old, ignore_errors=True)
    return out


def combine(detector: Bundle, embedder: Bundle | None, out_dir: str | Path, name: str | None = None,
            description: str | None = None, extra: dict[str, Any] | None = None,
            landmarks: Bundle | None = None) -> Path:
    """Write a bundle with the detector of ``detector``, the embedder of ``embedder`` (if
    given) and the landmark model of ``landmarks`` (default: the detector bundle's own, which
    crops by that detector's keypoints, if it has one), entries, files and accelerator
    builds as they are (``extra``: top-level fields such as ``source``)."""
    det = detector.manifest.detector
    emb = embedder.manifest.embedder if embedder is not None else None
    marks = (landmarks or detector).manifest.landmarks
    if det is None:
        raise BundleError(f"{detector.location}: this bundle has no detector")
    if embedder is not None and emb is None:
        raise BundleError(f"{embedder.location}: this bundle has no embedder")
    if landmarks is not None and marks is None:
        raise BundleError(f"{landmarks.location}: this bundle has no landmark model")
    if emb is None and landmarks is None:
        raise BundleError("combine: give an embedder bundle, a landmarks bundle or both to add to the detector")
    parts = [(detector, ("detector",) if landmarks is not None else ("detector", "landmarks"))]
    parts += [(bundle, (role,)) for bundle, role in ((embedder, "embedder"), (landmarks, "landmarks"))
              if bundle is not None]
    files: dict[str, bytes] = {}
    for bundle, roles in parts:
        more = bundle.files(roles=roles)
        clash = sorted(set(files) & set(more))
        if clash:
            raise BundleError(f"{bundle.location} has a file named {clash[0]} as another bundle does: cannot combine")
        files.update(more)
    added = " with the ".join(n for n in (emb and f"{embedder.manifest.name} embedder",
                                           landmarks and f"{landmarks.manifest.name} landmarks") if n)
    manifest = Manifest(name=name or "+".join(b.manifest.name for b, _ in parts),
                        description=description if description is not None else
                        f"{detector.manifest.name} detector with the {added}",
                        detector=det, embedder=emb, landmarks=marks, extra=extra or {})
    return write_bundle(out_dir, manifest, files)


def _with_checksums(manifest: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
    """A deep copy of ``manifest`` with the sha256 of each model and target file filled in."""
    manifest = json.loads(json.dumps(manifest))  # a copy, as the JSON it will be (tuples become lists)
    manifest.setdefault("schema_version", SCHEMA_VERSION)
    for role, model in manifest.get("models", {}).items():
        entries = {f"models.{role}": model, **{f"models.{role}.targets.{soc}": target
                                               for soc, target in model.get("targets", {}).items()}}
        for where, entry in entries.items():
            if entry["file"] not in files:
                raise BundleError(f"{where}.file names {entry['file']!r}, which was not given")
            entry["sha256"] = hashlib.sha256(files[entry["file"]]).hexdigest()
    return manifest


def _write_error(out: Path, exc: OSError) -> BundleError:
    return BundleError(f"{out}: cannot write the bundle ({exc.strerror or exc}): check that "
                       f"{out.parent} is a writable directory with free space")


def _swap_in(staging: Path, out: Path) -> Path | None:
    """Put the finished ``staging`` directory at ``out``; returns where the bundle it
    replaced now is (None if there was none). Where the system can exchange two paths
    atomically, readers of ``out`` always find a whole bundle; else there is a moment
    between two renames when ``out`` does not exist."""
    if not out.exists():
        os.rename(staging, out)
        return None
    if exchange_paths(staging, out):
        return staging
    aside = staging.with_name(staging.name + ".old")
    os.rename(out, aside)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(aside, out)
        raise
    return aside


def check_replaceable(out: Path) -> None:
    """Refuse ``out`` as a place to write a bundle unless replacing it loses nothing but a
    bundle (``write_bundle`` checks this too; a fetcher checks it before its long work)."""
    if out.is_symlink():
        raise BundleError(f"{out}: is a symbolic link: give the directory it points to, or a new path")
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out}: exists and is not a directory: choose a new or empty directory "
                          f"for the bundle")
    if not _replaceable(out):
        raise BundleError(f"{out}: exists and is not a bundle (it holds files that no {MANIFEST_NAME} "
                          f"there names): edgeface replaces a bundle directory whole, so it will not "
                          f"write there; choose a new or empty directory")


def _replaceable(path: Path) -> bool:
    """Whether replacing ``path`` loses nothing but a bundle: it does not exist, or is an
    empty directory, or holds nothing but its manifest.json and the files that names."""
    if not path.exists():
        return True
    if path.is_symlink() or not path.is_dir():
        return False
    names = _manifest_members(path / MANIFEST_NAME)
    if names is None:
        return not any(path.iterdir())
    folders = {str(parent) for name in names for parent in PurePosixPath(name).parents}
    for here, dirs, found in os.walk(path):
        relative = PurePosixPath(Path(here).relative_to(path).as_posix())
        if any(str(relative / d) not in folders for d in dirs) or any(
                str(relative / f) not in names for f in found):
            return False
    return True


def _manifest_members(manifest_path: Path) -> set[str] | None:
    """The paths a bundle's manifest.json names, itself and its signature included; None when it is not a
    small regular file of JSON with a schema_version and models."""
    try:
        if not manifest_path.is_file() or manifest_path.is_symlink() or \
                manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        names = _named_files(json.loads(manifest_path.read_bytes()))
    except (OSError, ValueError, RecursionError):
        return None
    return None if names is None else {MANIFEST_NAME, SIGNATURE_NAME} | names


def _named_files(data: Any) -> set[str] | None:
    """The model and target files a decoded manifest names (normalised, only those inside
    the bundle); None unless it has a schema_version and models. Read leniently: a bundle
    of another schema version or with a bad field still names its files."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or "schema_version" not in data:
        return None  # not an edgeface manifest
    entries = [m for m in models.values() if isinstance(m, dict)]
    for model in list(entries):
        targets = model.get("targets")
        entries += [t for t in (targets.values() if isinstance(targets, dict) else ()) if isinstance(t, dict)]
    files = [e["file"] for e in entries if isinstance(e.get("file"), str)]
    return {str(PurePosixPath(f)) for f in files if _is_member_path(f)}
