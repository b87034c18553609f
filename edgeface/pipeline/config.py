"""The pipeline's configuration: dataclasses whose fields carry their own documentation.

One source for the fields, their types, defaults and help: ``default_config_text()``
renders the documented YAML (``edgeface pipeline --print-default-config``) from these
dataclasses, and ``parse_config`` validates a user's YAML against them, naming the field
(``recognizer.epochs``) in every error. Every numeric field carries its range
(``doc(..., lo=1, hi=4096)``): a value outside it, or not finite, is refused by name.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from edgeface.cards import choices_text, names_of_kind
from edgeface.errors import EdgefaceError, clip, show, show_name


class PipelineConfigError(EdgefaceError):
    """A pipeline config file or field is wrong."""


@dataclass(frozen=True)
class Range:
    """The values a numeric field (or each item of a list of numbers) may take: from ``lo``
    (excluded when ``lo_open``) to ``hi``."""

    lo: float
    hi: float
    lo_open: bool = False

    def contains(self, value: float) -> bool:
        return (self.lo < value if self.lo_open else self.lo <= value) and value <= self.hi

    def describe(self) -> str:
        lower = ("positive" if self.lo == 0 else f"more than {_number(self.lo)}") if self.lo_open \
            else f"at least {_number(self.lo)}"
        return f"{lower} and at most {_number(self.hi)}"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def doc(default: Any, text: str, lo: Optional[float] = None, hi: Optional[float] = None,
        lo_open: bool = False) -> Any:
    """A dataclass field with its help text (rendered as a YAML comment) and, for a number,
    its range."""
    metadata = {"doc": text}
    if lo is not None:
        metadata["range"] = Range(lo, hi, lo_open)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, text: str) -> Any:
    return field(default_factory=cls, metadata={"doc": text})


@dataclass
class DataSection:
    detector: str = doc("synthetic:1600", "Detector training set: 'synthetic[:N][:key=value...]' (the built-in "
                        "generated faces, docs/data.md), a WIDER FACE *_bbx_gt.txt, a RetinaFace label.txt or a CSV.")
    recognizer: str = doc("synthetic:200:per_identity=20:size=64", "Recognizer training set: 'synthetic:IDENTITIES"
                          "[:per_identity=N]...' or an identity-folder root (root/<identity>/<image>).")
    detector_val: Optional[str] = doc(None, "Detector validation set (int8 calibration, per-epoch AP); null: "
                                      "held-out synthetic faces, or 5% of a real set.")
    recognizer_val: Optional[str] = doc(None, "Recognizer validation pairs (LFW pairs.txt or 'synthetic:...') for "
                                        "the verify threshold; null: held-out synthetic identities.")


@dataclass
class DetectorSection:
    arch: str = doc("blazeface", f"{choices_text('detector')}.")
    epochs: int = doc(4, "Training epochs (a checkpoint after each: an interrupted run resumes there).",
                      lo=1, hi=10_000)
    steps_per_epoch: Optional[int] = doc(100, "Steps per epoch; null: one pass over the data.", lo=1, hi=10_000_000)
    batch: int = doc(32, "Batch size.", lo=1, hi=4096)
    lr: float = doc(0.004, "Peak learning rate (warm-up, then cosine).", lo=0, hi=10, lo_open=True)
    loss: str = doc("focal", "Classification loss: focal or ohem.")
    box_loss: str = doc("smooth_l1", "Box regression loss: smooth_l1 or giou.")


@dataclass
class RecognizerSection:
    arch: str = doc("edgeface_xs_int8", f"{choices_text('embedder')}.")
    input_size: int = doc(64, "Input size in pixels (the architectures' native size is 112).", lo=32, hi=512)
    embedding_size: int = doc(128, "Embedding length.", lo=8, hi=4096)
    epochs: int = doc(4, "Training epochs.", lo=1, hi=10_000)
    steps_per_epoch: Optional[int] = doc(100, "Steps per epoch; null: one pass over the data.", lo=1, hi=10_000_000)
    batch: int = doc(32, "Batch size.", lo=1, hi=4096)
    lr: float = doc(0.002, "Peak learning rate.", lo=0, hi=10, lo_open=True)
    loss: str = doc("arcface", "arcface, cosface or softmax.")
    far: float = doc(0.001, "False-accept rate the bundle's verify_threshold is calibrated at.", lo=0, hi=0.5,
                     lo_open=True)


@dataclass
class QuantizeSection:
    precisions: list[str] = doc(["fp32", "fp16", "int8"], "TFLite artifacts to build (fp32 is always built: it is "
                                "the reference): fp32, fp16, int8, int8-qat.")
    max_drop: float = doc(0.02, "The shipped TFLite artifact per model is the smallest whose metric (detector AP, "
                          "verification accuracy) is within this of fp32's and whose fidelity gate passed.",
                          lo=0.0, hi=1.0)


@dataclass
class HexagonSection:
    socs: list[str] = doc(["SM8650"], "Qualcomm SoCs to compile QNN context binaries for (device_profiles/socs.yaml;"
                          " [] skips the Hexagon stages).")
    precisions: list[str] = doc(["w8a8", "fp16"], "HTP precisions to try, in order (w8a8, w8a16, fp16): per model "
                                "and SoC the first that passes its fidelity gate is put in the bundle.")


@dataclass
class EvaluateSection:
    detection: str = doc("synthetic:150:seed=104729", "Detection test set (AP at IoU 0.5, keypoint NME): same "
                         "formats as data.detector; never the training images.")
    pairs: str = doc("synthetic:20:identities=80:size=64:seed=130363", "Verification test pairs (10-fold accuracy, "
                     "TAR@FAR): LFW pairs.txt or 'synthetic:PAIRS_PER_FOLD:...'.")
    htp: bool = doc(True, "Also evaluate every compiled context in the HTP simulator (about 0.3 s per inference "
                    "on this project's 2-core machine: the test sets above are sized for it).")


@dataclass
class BenchSection:
    profiles: list[str] = doc(["all"], "Device profiles to estimate latency for and check budgets on "
                              "(edgeface profiles list); [all]: every shipped profile.")
    use_cases: list[str] = doc([], "Use cases to check (face_unlock, ar_camera, gallery_identify); []: every use "
                               "case each profile budgets.")
    host_threads: list[int] = doc([1], "Thread counts to measure on this host.", lo=1, hi=256)
    runs: int = doc(30, "Timed runs per host measurement.", lo=1, hi=100_000)
    hub: bool = doc(False, "Also profile on Qualcomm AI Hub's real devices (needs the hub extra, an account and "
                    "a token; the profiles' hub devices).")


@dataclass
class PipelineConfig:
    name: str = doc("default", "A name for the run (used in bundle names).")
    seed: int = doc(0, "Seed for weights, data order and augmentation: the same config gives the same outputs.",
                    lo=0, hi=2**32 - 1)
    threads: int = doc(2, "Threads for TFLite / simulator inference in the evaluation stages.", lo=1, hi=256)
    data: DataSection = section(DataSection, "Training data.")
    detector: DetectorSection = section(DetectorSection, "Detector training.")
    recognizer: RecognizerSection = section(RecognizerSection, "Recognizer training.")
    quantize: QuantizeSection = section(QuantizeSection, "TFLite quantization and conversion.")
    hexagon: HexagonSection = section(HexagonSection, "Qualcomm Hexagon (QNN context binaries, offline).")
    evaluate: EvaluateSection = section(EvaluateSection, "Evaluation of every artifact with the same metrics.")
    bench: BenchSection = section(BenchSection, "Latency: measured on this host, estimated for every profile.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------- rendering

def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _render(obj: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        help_text = f.metadata.get("doc", "")
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}# {help_text}")
            lines.append(f"{pad}{f.name}:")
            _render(value, indent + 2, lines)
        else:
            limits = f.metadata.get("range")
            bounds = f" ({limits.describe()})" if limits is not None else ""
            lines.append(f"{pad}{f.name}: {_yaml_value(value)}  # {help_text}{bounds}")


def default_config_text() -> str:
    """The default configuration as documented YAML: every field, its default and meaning."""
    lines = ["# edgeface pipeline configuration (edgeface pipeline --config FILE).",
             "# Every field is optional: a missing field takes the default shown here.", ""]
    _render(PipelineConfig(), 0, lines)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ validation

def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if typing.get_origin(tp) is list:
        return f"a list of {_type_name(typing.get_args(tp)[0]).removeprefix('an ').removeprefix('a ')}s"
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _is_number(value: Any) -> bool:
    """An int, or a finite float (an int is never NaN; a huge one would overflow isfinite)."""
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _check_value(value: Any, tp: Any, where: str, source: str, limits: Optional[Range] = None) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _check_value(value, args[0], where, source, limits)
    if origin is list:
        if not isinstance(value, list):
            raise PipelineConfigError(f"{source}: {where}: expected {_type_name(tp)}, got {show(value)}")
        (item,) = typing.get_args(tp)
        return [_check_value(v, item, f"{where}[{i}]", source, limits) for i, v in enumerate(value)]
    ok = (isinstance(value, bool) if tp is bool else
          _is_number(value) and not isinstance(value, bool) if tp is float else
          isinstance(value, int) and not isinstance(value, bool) if tp is int else isinstance(value, tp))
    if not ok:
        wanted = "a finite number" if tp is float else _type_name(tp)
        raise PipelineConfigError(f"{source}: {where}: expected {wanted}, got {show(value)}")
    if limits is not None and not limits.contains(value):
        raise PipelineConfigError(f"{source}: {where}: must be {limits.describe()}, got {show(value)}")
    return float(value) if tp is float else value


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise PipelineConfigError(f"{source}: {prefix.rstrip('.') or 'the file'}: expected a mapping of fields, "
                                  f"got {show(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        where = f"{prefix}{show_name(key)}"
        if key not in known:
            raise PipelineConfigError(f"{source}: {where}: unknown field; {prefix.rstrip('.') or 'the top level'} has "
                                      f"{', '.join(known)} (edgeface pipeline --print-default-config shows them)")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            values[key] = _build(tp, value if value is not None else {}, f"{where}.", source)
        else:
            values[key] = _check_value(value, tp, where, source, known[key].metadata.get("range"))
    return cls(**values)


def _choices(where: str, values: list[str], allowed, source: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise PipelineConfigError(f"{source}: {where}: {clip(', '.join(map(show_name, bad)), 120)} unknown; "
                                  f"choose from "
                                  f"{', '.join(allowed)}")


def validate(config: PipelineConfig, source: str = "config") -> PipelineConfig:
    """Check values against what the toolkit knows (architectures, precisions, SoCs, profiles)."""
    from edgeface.bench.profiles import USE_CASES

    _choices("detector.arch", [config.detector.arch], names_of_kind("detector"), source)
    _choices("detector.loss", [config.detector.loss], ("focal", "ohem"), source)
    _choices("detector.box_loss", [config.detector.box_loss], ("smooth_l1", "giou"), source)
    _choices("recognizer.arch", [config.recognizer.arch], names_of_kind("embedder"), source)
    _choices("recognizer.loss", [config.recognizer.loss], ("arcface", "cosface", "softmax"), source)
    _choices("quantize.precisions", config.quantize.precisions, ("fp32", "fp16", "int8", "int8-qat"), source)
    _choices("hexagon.precisions", config.hexagon.precisions, ("w8a8", "w8a16", "fp16"), source)
    _choices("bench.use_cases", config.bench.use_cases, tuple(USE_CASES), source)
    _known_socs(config.hexagon.socs, source)
    _known_profiles(config.bench.profiles, source)
    if config.hexagon.socs and not config.hexagon.precisions:
        raise PipelineConfigError(f"{source}: hexagon.precisions: empty; give at least one, or hexagon.socs: []")
    return config


def _known_socs(socs: list[str], source: str) -> None:
    from edgeface.socs import find_soc

    for i, soc in enumerate(socs):
        try:
            find_soc(soc)
        except EdgefaceError as exc:
            raise PipelineConfigError(f"{source}: hexagon.socs[{i}]: {exc}") from None


def _known_profiles(names: list[str], source: str) -> None:
    from edgeface.bench.profiles import load_profile

    for i, name in enumerate(names):
        if name.lower() == "all":
            continue
        try:
            load_profile(name)
        except EdgefaceError as exc:
            raise PipelineConfigError(f"{source}: bench.profiles[{i}]: {exc}") from None


def parse_config(data: Any, source: str = "config") -> PipelineConfig:
    """A validated config from parsed YAML (None: the defaults)."""
    return validate(_build(PipelineConfig, data if data is not None else {}, "", source), source)


def load_config(path: Optional[Path]) -> PipelineConfig:
    """The config in ``path`` (None: the defaults)."""
    if path is None:
        return parse_config(None, "default config")
    from edgeface.safe_yaml import load_yaml_file

    try:
        data = load_yaml_file(path, PipelineConfigError, f"--config {path}")
    except FileNotFoundError:
        raise PipelineConfigError(f"--config {path}: no such file (edgeface pipeline --print-default-config "
                                  f"> {path} writes a starting point)") from None
    return parse_config(data, str(path))
