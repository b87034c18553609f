"""The bundle: ``manifest.json`` plus model files, as a directory or a zip of one.

The manifest is the contract between the toolchain and the SDK: everything model
specific (input size, normalisation, decoder family and anchors, thresholds, the
alignment template) lives here, never in code. ``docs/bundle.md`` documents every field.
Each model file carries a sha256 that is checked when the file is read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from edgeface.errors import BundleError, ChecksumError, ManifestError
from edgeface.fsutil import atomic_write_bytes, current_umask
from edgeface.schema import Fields

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.signing import KeySources, PublicKey

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MODEL_FORMATS = ("tflite", "onnx")
ACCELERATORS = ("qnn-htp",)


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

    @classmethod
    def parse(cls, f: Fields) -> "InputSpec":
        return cls(
            height=f.integer("height", lo=1, hi=8192),
            width=f.integer("width", lo=1, hi=8192),
            layout=f.string("layout", "NHWC", choices=("NHWC", "NCHW")),
            dtype=f.string("dtype", "float32", choices=("float32", "uint8", "int8")),
            channel_order=f.string("channel_order", "RGB", choices=("RGB", "BGR")),
            mean=tuple(f.numbers("mean", 3)),
            std=tuple(_positive(f, "std")),
            resize=f.string("resize", "letterbox", choices=("letterbox", "stretch")),
            pad=f.string("pad", "center", choices=("center", "corner")),
        )


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


@dataclass(frozen=True)
class DetectorSpec(ModelSpec):
    decoder: dict[str, Any]  # validated by the decoder family's own parser
    keypoint_names: tuple[str, ...]
    score_threshold: float
    nms_iou: float
    nms: str  # "weighted" (MediaPipe's blending) or "hard"
    max_faces: int


@dataclass(frozen=True)
class AlignmentSpec:
    """The face chip the embedder was trained on: its size and named template points."""

    width: int
    height: int
    template: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class EmbedderSpec(ModelSpec):
    embedding_size: int
    output: str | None  # output tensor name; None means the model's only output
    alignment: AlignmentSpec
    verify_threshold: float  # cosine similarity at or above which two faces match
    verify_far: float | None  # the false-accept rate the threshold was calibrated at


@dataclass(frozen=True)
class Manifest:
    name: str
    description: str
    detector: DetectorSpec | None
    embedder: EmbedderSpec | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    def models(self) -> list[ModelSpec]:
        return [m for m in (self.detector, self.embedder) if m is not None]


def parse_manifest(data: Any, source: str = MANIFEST_NAME) -> Manifest:
    """Validate a decoded manifest; raises ``ManifestError`` naming the bad field."""
    top = Fields(data, "manifest", source)
    version = top.integer("schema_version")
    if version != SCHEMA_VERSION:
        raise top.fail("schema_version", f"this edgeface reads version {SCHEMA_VERSION}, the bundle has "
                       f"{version}: rebuild the bundle or upgrade edgeface")
    models = top.sub("models")
    unknown = sorted(set(models.data) - {"detector", "embedder"})
    if unknown:
        raise models.fail(unknown[0], "unknown model role (expected detector or embedder)")
    if not models.data:
        raise top.fail("models", "must name at least one model (detector or embedder)")
    detector = _parse_detector(models.sub("detector")) if models.has("detector") else None
    embedder = _parse_embedder(models.sub("embedder")) if models.has("embedder") else None
    return Manifest(name=top.string("name"), description=top.string("description", ""),
                    detector=detector, embedder=embedder, raw=data)


def _file_and_hash(f: Fields) -> tuple[str, str]:
    file = f.string("file")
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in file:
        raise f.fail("file", f"must be a relative path inside the bundle, got {file!r}")
    sha = f.string("sha256").lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise f.fail("sha256", "expected 64 hex digits")
    return file, sha


def _common(f: Fields, role: str) -> dict[str, Any]:
    file, sha = _file_and_hash(f)
    targets = f.sub("targets") if f.has("targets") else None
    return dict(role=role, file=file, sha256=sha, format=f.string("format", choices=MODEL_FORMATS),
                input=InputSpec.parse(f.sub("input")),
                targets={soc: _parse_target(targets.sub(soc), soc) for soc in targets.data} if targets else {})


def _parse_target(f: Fields, soc: str) -> TargetSpec:
    file, sha = _file_and_hash(f)
    return TargetSpec(soc=soc, file=file, sha256=sha, format=f.string("format", choices=("onnx",)),
                      accelerator=f.string("accelerator", choices=ACCELERATORS),
                      precision=f.string("precision", choices=("w8a8", "w8a16", "fp16")),
                      htp_arch=f.integer("htp_arch", lo=60, hi=200), soc_model=f.integer("soc_model", lo=0))


def _parse_detector(f: Fields) -> DetectorSpec:
    # Imported here: the decoders import this module's types.
    from edgeface.decoders import parse_decoder

    common = _common(f, "detector")
    decoder = f.sub("decoder")
    keypoint_names = tuple(f.strings("keypoint_names", []))
    parsed = parse_decoder(decoder, common["input"].height, common["input"].width)
    if keypoint_names and len(keypoint_names) != parsed.num_keypoints:
        raise f.fail("keypoint_names", f"names {len(keypoint_names)} keypoints but the decoder "
                     f"produces {parsed.num_keypoints}")
    return DetectorSpec(
        **common,
        decoder=decoder.data,
        keypoint_names=keypoint_names,
        score_threshold=f.number("score_threshold", lo=0.0, hi=1.0),
        nms_iou=f.number("nms_iou", lo=0.0, hi=1.0),
        nms=f.string("nms", "hard", choices=("hard", "weighted")),
        max_faces=f.integer("max_faces", 100, lo=1),
    )


def _parse_embedder(f: Fields) -> EmbedderSpec:
    align = f.sub("alignment")
    template_fields = align.sub("template")
    template = {name: tuple(template_fields.numbers(name, 2)) for name in template_fields.data}
    if len(template) < 2:
        raise align.fail("template", "needs at least 2 named points")
    return EmbedderSpec(
        **_common(f, "embedder"),
        embedding_size=f.integer("embedding_size", lo=1),
        output=f.string("output", None) if f.has("output") else None,
        alignment=AlignmentSpec(width=align.integer("width", lo=8, hi=1024),
                                height=align.integer("height", lo=8, hi=1024), template=template),
        verify_threshold=f.number("verify_threshold", lo=-1.0, hi=1.0),
        verify_far=f.number("verify_far", lo=0.0, hi=1.0) if f.has("verify_far") else None,
    )


def _positive(f: Fields, key: str) -> list[float]:
    values = f.numbers(key, 3)
    if any(v <= 0 for v in values):
        raise f.fail(key, "every value must be > 0")
    return values


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

    def __repr__(self) -> str:
        return f"Bundle({str(self.location)!r}, name={self.manifest.name!r})"


class _Reader:
    def __init__(self, location: Path):
        self.location = location

    def read(self, name: str, optional: bool = False) -> bytes | None:
        """The file's bytes; None for an ``optional`` file the bundle lacks."""
        try:
            return self._read(name)
        except (FileNotFoundError, KeyError):
            if optional:
                return None
            raise BundleError(f"{self.location}: {name} is named in {MANIFEST_NAME} but missing: "
                              f"rebuild or re-download the bundle") from None
        except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise BundleError(f"{self.location}: cannot read {name} ({exc}): "
                              f"rebuild or re-download the bundle") from None

    def _read(self, name: str) -> bytes:
        raise NotImplementedError


class _DirReader(_Reader):
    def _read(self, name: str) -> bytes:
        return (self.location / name).read_bytes()


class _ZipReader(_Reader):
    def _read(self, name: str) -> bytes:
        with zipfile.ZipFile(self.location) as archive:
            return archive.read(name)


def load_bundle(path: str | Path, trusted_keys: "KeySources | None" = None) -> Bundle:
    """Open a bundle directory or .zip; validates the manifest (model files are checked
    when they are read). With ``trusted_keys`` (public key files or ``edgeface.signing.
    PublicKey``s) a bundle none of them signed raises ``SignatureError``."""
    location = Path(path)
    if location.is_dir():
        reader: _Reader = _DirReader(location)
    elif location.is_file() and zipfile.is_zipfile(location):
        reader = _ZipReader(location)
    elif location.exists():
        raise BundleError(f"{location}: not a bundle (expected a directory with {MANIFEST_NAME}, "
                          f"or a .zip of one)")
    else:
        raise BundleError(f"{location}: no such bundle: check the path given to --bundle")
    raw = reader.read(MANIFEST_NAME)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{location}/{MANIFEST_NAME}: larger than {MAX_MANIFEST_BYTES} bytes")
    signed_by = None
    if trusted_keys is not None:  # checked before parsing: the bytes parsed are the bytes verified
        from edgeface.signing import SIGNATURE_NAME, check_signature

        signed_by = check_signature(location, raw, reader.read(SIGNATURE_NAME, optional=True), trusted_keys)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"{location}/{MANIFEST_NAME}: not valid JSON ({exc})") from None
    return Bundle(location, parse_manifest(data, f"{location}/{MANIFEST_NAME}"), reader, raw, signed_by)


def write_bundle(out_dir: str | Path, manifest: dict[str, Any], files: dict[str, bytes]) -> Path:
    """Write a bundle directory: fills in each model's sha256, validates, then swaps it
    into place whole, so a reader never sees a half-written bundle."""
    manifest = json.loads(json.dumps(manifest))  # a deep copy we may fill in
    manifest.setdefault("schema_version", SCHEMA_VERSION)
    for role, model in manifest.get("models", {}).items():
        entries = {f"models.{role}": model, **{f"models.{role}.targets.{soc}": target
                                               for soc, target in model.get("targets", {}).items()}}
        for where, entry in entries.items():
            if entry["file"] not in files:
                raise BundleError(f"{where}.file names {entry['file']!r}, which was not given")
            entry["sha256"] = hashlib.sha256(files[entry["file"]]).hexdigest()
    parse_manifest(manifest)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staging.chmod(0o777 & ~current_umask())
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
        atomic_write_bytes(staging / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
