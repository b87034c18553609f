"""The pipeline's configuration: dataclasses whose fields carry their own documentation.

One source for the fields, their types, defaults and help: ``default_config_text()``
renders the documented YAML (``edgeface pipeline --print-default-config``) from these
dataclasses, and ``parse_config`` validates a user's YAML against them, naming the field
(``recognizer.epochs``) in every error. Every numeric field carries its range
(``doc(..., lo=1, hi=4096)``): a value outside it, or not finite, is refused by name. The
machinery is edgeface/configfields.py; the ``detector:`` and ``recognizer:`` sections are
the training configs' own fields (edgeface/train/config.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edgeface.cards import names_of_kind
from edgeface.configfields import Checker, build, derived, doc, render, section
from edgeface.errors import EdgefaceError, clip, show_name
from edgeface.train.config import MIXED_PRECISION, OPTIMIZERS, DetectorConfig, RecognizerConfig


class PipelineConfigError(EdgefaceError):
    """A pipeline config file or field is wrong."""


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


# The fields of the training configs the pipeline sets itself (from data:, seed, its
# stage folders): the rest of each training config is its detector: / recognizer: section.
PIPELINE_OWNED = ("data", "val_data", "val_pairs", "out", "seed", "resume", "export", "export_int8",
                  "data_options")
DetectorSection = derived(DetectorConfig, "DetectorSection", __name__, PIPELINE_OWNED, epochs=4, steps_per_epoch=100,
                          lr=0.004)
RecognizerSection = derived(RecognizerConfig, "RecognizerSection", __name__, PIPELINE_OWNED, arch="edgeface_xs_int8",
                            input_size=64, epochs=4, steps_per_epoch=100, lr=0.002)


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

def default_config_text() -> str:
    """The default configuration as documented YAML: every field, its default and meaning."""
    lines = ["# edgeface pipeline configuration (edgeface pipeline --config FILE).",
             "# Every field is optional: a missing field takes the default shown here.", ""]
    lines += render(PipelineConfig())
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ validation

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
    for name in ("detector", "recognizer"):
        _choices(f"{name}.optimizer", [getattr(config, name).optimizer], OPTIMIZERS, source)
        _choices(f"{name}.mixed_precision", [getattr(config, name).mixed_precision], MIXED_PRECISION, source)
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
    checker = Checker(PipelineConfigError, source, " (edgeface pipeline --print-default-config shows them)")
    return validate(build(PipelineConfig, data if data is not None else {}, checker), source)


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
