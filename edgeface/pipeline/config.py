"""The pipeline's configuration: dataclasses whose fields carry their own documentation.

One source for the fields, their types, defaults and help: ``default_config_text()``
renders the documented YAML (``edgeface pipeline --print-default-config``) from these
dataclasses, and ``parse_config`` validates a user's YAML against them, naming the field
(``recognizer.epochs``) in every error.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from edgeface.errors import EdgefaceError


class PipelineConfigError(EdgefaceError):
    """A pipeline config file or field is wrong."""


def doc(default: Any, text: str, **kwargs: Any) -> Any:
    """A dataclass field with its help text (rendered as a YAML comment)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"doc": text}, **kwargs)
    return field(default=default, metadata={"doc": text}, **kwargs)


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
    arch: str = doc("blazeface", "blazeface (128x128) or blazeface_256 (256x256).")
    epochs: int = doc(4, "Training epochs (a checkpoint after each: an interrupted run resumes there).")
    steps_per_epoch: Optional[int] = doc(100, "Steps per epoch; null: one pass over the data.")
    batch: int = doc(32, "Batch size.")
    lr: float = doc(0.004, "Peak learning rate (warm-up, then cosine).")
    loss: str = doc("focal", "Classification loss: focal or ohem.")
    box_loss: str = doc("smooth_l1", "Box regression loss: smooth_l1 or giou.")


@dataclass
class RecognizerSection:
    arch: str = doc("edgeface_xs_int8", "mobilefacenet, mobilefacenet_int8, edgeface_xs or edgeface_xs_int8.")
    input_size: int = doc(64, "Input size in pixels (the architectures' native size is 112).")
    embedding_size: int = doc(128, "Embedding length.")
    epochs: int = doc(4, "Training epochs.")
    steps_per_epoch: Optional[int] = doc(100, "Steps per epoch; null: one pass over the data.")
    batch: int = doc(32, "Batch size.")
    lr: float = doc(0.002, "Peak learning rate.")
    loss: str = doc("arcface", "arcface, cosface or softmax.")
    far: float = doc(0.001, "False-accept rate the bundle's verify_threshold is calibrated at.")


@dataclass
class QuantizeSection:
    precisions: list[str] = doc(["fp32", "fp16", "int8"], "TFLite artifacts to build (fp32 is always built: it is "
                                "the reference): fp32, fp16, int8, int8-qat.")
    max_drop: float = doc(0.02, "The shipped TFLite artifact per model is the smallest whose metric (detector AP, "
                          "verification accuracy) is within this of fp32's and whose fidelity gate passed.")


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
    host_threads: list[int] = doc([1], "Thread counts to measure on this host.")
    runs: int = doc(30, "Timed runs per host measurement.")
    hub: bool = doc(False, "Also profile on Qualcomm AI Hub's real devices (needs the hub extra, an account and "
                    "a token; the profiles' hub devices).")


@dataclass
class PipelineConfig:
    name: str = doc("default", "A name for the run (used in bundle names).")
    seed: int = doc(0, "Seed for weights, data order and augmentation: the same config gives the same outputs.")
    threads: int = doc(2, "Threads for TFLite / simulator inference in the evaluation stages.")
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
            lines.append(f"{pad}{f.name}: {_yaml_value(value)}  # {help_text}")


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


def _check_value(value: Any, tp: Any, where: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _check_value(value, args[0], where, source)
    if origin is list:
        if not isinstance(value, list):
            raise PipelineConfigError(f"{source}: {where}: expected {_type_name(tp)}, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_check_value(v, item, f"{where}[{i}]", source) for i, v in enumerate(value)]
    ok = (isinstance(value, bool) if tp is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool) if tp is float else
          isinstance(value, int) and not isinstance(value, bool) if tp is int else isinstance(value, tp))
    if not ok:
        raise PipelineConfigError(f"{source}: {where}: expected {_type_name(tp)}, got {value!r}")
    return float(value) if tp is float else value


def _build(cls: type, data: Any, prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise PipelineConfigError(f"{source}: {prefix.rstrip('.') or 'the file'}: expected a mapping of fields, "
                                  f"got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise PipelineConfigError(f"{source}: {where}: unknown field; {prefix.rstrip('.') or 'the top level'} has "
                                      f"{', '.join(known)} (edgeface pipeline --print-default-config shows them)")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            values[key] = _build(tp, value if value is not None else {}, f"{where}.", source)
        else:
            values[key] = _check_value(value, tp, where, source)
    return cls(**values)


def _choices(where: str, values: list[str], allowed, source: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise PipelineConfigError(f"{source}: {where}: {', '.join(map(str, bad))} unknown; choose from "
                                  f"{', '.join(allowed)}")


def _positive(config: PipelineConfig, source: str) -> None:
    for name in ("detector", "recognizer"):
        part = getattr(config, name)
        for key in ("epochs", "steps_per_epoch", "batch"):
            value = getattr(part, key)
            if value is not None and value < 1:
                raise PipelineConfigError(f"{source}: {name}.{key}: must be at least 1, got {value}")
        if part.lr <= 0:
            raise PipelineConfigError(f"{source}: {name}.lr: must be positive, got {part.lr}")
    if config.recognizer.input_size < 32:
        raise PipelineConfigError(f"{source}: recognizer.input_size: at least 32, got {config.recognizer.input_size}")
    if not 0 < config.recognizer.far < 1:
        raise PipelineConfigError(f"{source}: recognizer.far: between 0 and 1, e.g. 0.001")
    if not 0 <= config.quantize.max_drop < 1:
        raise PipelineConfigError(f"{source}: quantize.max_drop: between 0 and 1, e.g. 0.02")
    if config.threads < 1 or config.bench.runs < 1 or any(n < 1 for n in config.bench.host_threads):
        raise PipelineConfigError(f"{source}: threads, bench.runs and bench.host_threads must be at least 1")


def validate(config: PipelineConfig, source: str = "config") -> PipelineConfig:
    """Check values against what the toolkit knows (architectures, precisions, SoCs, profiles)."""
    from edgeface.profiles import USE_CASES

    _positive(config, source)
    _choices("detector.arch", [config.detector.arch], ("blazeface", "blazeface_256"), source)
    _choices("detector.loss", [config.detector.loss], ("focal", "ohem"), source)
    _choices("detector.box_loss", [config.detector.box_loss], ("smooth_l1", "giou"), source)
    _choices("recognizer.arch", [config.recognizer.arch],
             ("mobilefacenet", "mobilefacenet_int8", "edgeface_xs", "edgeface_xs_int8"), source)
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
    from edgeface.profiles import load_profile

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
    import yaml

    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise PipelineConfigError(f"--config {path}: no such file (edgeface pipeline --print-default-config "
                                  f"> {path} writes a starting point)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineConfigError(f"--config {path}: unreadable ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PipelineConfigError(f"--config {path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_config(data, str(path))
