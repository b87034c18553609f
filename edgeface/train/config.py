"""Training configurations: one dataclass per task, saved as ``config.json`` in the run
directory (a resumed run reads it back, validated field by field).

Every field carries its help and, for a number, its range (``edgeface.configfields``): the
pipeline's ``detector:`` and ``recognizer:`` sections are these fields, so a field added
here is configurable there too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeface.cards import choices_text
from edgeface.configfields import MISSING, Checker, build, doc
from edgeface.errors import EdgefaceError, show


class TrainError(EdgefaceError):
    """A training or export setting is wrong, or a run directory cannot be used."""


OPTIMIZERS = ("adamw", "sgd")
MIXED_PRECISION = ("auto", "on", "off")


@dataclass
class TrainConfig:
    arch: str = doc(MISSING, "The architecture (edgeface models list).")
    data: str = doc("synthetic", "Training data: 'synthetic[:N][:key=value...]', a WIDER FACE *_bbx_gt.txt, a "
                                 "RetinaFace label.txt, a CSV (detector), or an identity-folder root (recognizer).")
    out: Path = doc(Path("runs/train"), "Run directory: checkpoints, metrics, plots, export/.")
    input_size: int | None = doc(None, "Input size in pixels (unset: the architecture's own).", lo=16, hi=1024)
    epochs: int = doc(10, "Training epochs (a checkpoint after each: an interrupted run resumes there).",
                      lo=1, hi=10_000)
    steps_per_epoch: int | None = doc(None, "Steps per epoch (unset: one pass over the training data).",
                                      lo=1, hi=10_000_000)
    batch: int = doc(32, "Batch size per replica.", lo=1, hi=4096)
    lr: float = doc(1e-3, "Peak learning rate (warm-up, then cosine).", lo=0, hi=10, lo_open=True)
    weight_decay: float = doc(1e-4, "Weight decay.", lo=0, hi=1)
    optimizer: str = doc("adamw", "adamw or sgd (momentum 0.9).")
    warmup_steps: int | None = doc(None, "Learning-rate warm-up steps (unset: 5% of all steps, at most 500).",
                                   lo=0, hi=10_000_000)
    augment: bool = doc(True, "Augment the training images.")
    seed: int = doc(0, "Seed for weights, data order and augmentation.", lo=0, hi=2**32 - 1)
    deterministic: bool = doc(True, "Deterministic ops (tf.config.experimental.enable_op_determinism()).")
    mixed_precision: str = doc("auto", "auto (float16 only when a GPU is present), on or off.")
    val_data: str | None = doc(None, "Validation data (unset: held-out synthetic data with synthetic training "
                                     "data, else 5% of the training data; 'none': no validation).")
    export: bool = doc(True, ".keras + SavedModel + bundle (TFLite fp32) after the last epoch.")
    export_int8: bool = doc(False, "Also export an int8 TFLite bundle with its fidelity report (calibrated on "
                                   "validation images).")
    resume: bool = doc(False, "Continue the run in --out from its last checkpoint (its config.json wins; a larger "
                              "--epochs extends it).")
    data_options: dict[str, Any] = doc({}, "Extra keyword arguments of the data loader.")

    task = "train"  # saved in config.json: the run's task, as `edgeface train TASK` names it
    kind = ""  # the model card kind it trains ("detector" or "embedder")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["task"] = self.task
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "training config") -> "TrainConfig":
        """The config in ``data`` (a ``to_dict()``), every field checked; errors name ``source``."""
        fields = {k: v for k, v in data.items() if k != "task"} if isinstance(data, dict) else data
        return build(cls, fields, Checker(TrainError, source))

    def checked(self, source: str = "training config") -> "TrainConfig":
        """This config with every field checked against its type and range."""
        return self.from_dict(self.to_dict(), source)

    def save(self, path: Path) -> None:
        from edgeface.fsutil import write_json

        write_json(path, self.to_dict())


@dataclass
class DetectorConfig(TrainConfig):
    arch: str = doc("blazeface", f"{choices_text('detector')}.")
    loss: str = doc("focal", "Classification loss: focal or ohem.")
    box_loss: str = doc("smooth_l1", "Box regression loss: smooth_l1 or giou.")
    box_weight: float = doc(1.0, "Weight of the box loss.", lo=0, hi=1000)
    keypoint_weight: float = doc(1.0, "Weight of the keypoint loss.", lo=0, hi=1000)
    max_boxes: int = doc(64, "Faces per image the data pipeline keeps (more are dropped: crowded WIDER images).",
                         lo=1, hi=10_000)
    pos_iou: float = doc(0.35, "Anchor matching: an anchor is positive at or above this IoU.", lo=0, hi=1)
    neg_iou: float = doc(0.25, "Anchor matching: background below this IoU.", lo=0, hi=1)
    lr: float = doc(2e-3, "Peak learning rate (warm-up, then cosine).", lo=0, hi=10, lo_open=True)

    task = "detector"
    kind = "detector"


@dataclass
class RecognizerConfig(TrainConfig):
    arch: str = doc("mobilefacenet", f"{choices_text('embedder')}.")
    loss: str = doc("arcface", "arcface, cosface or softmax.")
    embedding_size: int = doc(128, "Embedding length.", lo=8, hi=4096)
    margin: float | None = doc(None, "Margin (unset: 0.5 ArcFace, 0.35 CosFace).", lo=0, hi=10)
    scale: float = doc(32.0, "The logit scale s.", lo=1, hi=1000)
    val_pairs: str | None = doc(None, "Verification pairs (LFW pairs.txt or 'synthetic:...') for validation and "
                                      "the threshold calibration (unset: held-out synthetic identities; 'none': "
                                      "none).")
    far: float = doc(1e-3, "False-accept rate the bundle's verify_threshold is calibrated at.", lo=0, hi=1,
                     lo_open=True)
    weight_decay: float = doc(5e-4, "Weight decay.", lo=0, hi=1)

    task = "recognizer"
    kind = "embedder"


def load_config(run_dir: Path) -> TrainConfig:
    """The training config a run directory holds (its ``config.json``), every field checked."""
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainError(f"--resume: {path} not found: {run_dir} holds no training run (drop --resume to "
                         f"start one there)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainError(f"--resume: {path} is unreadable ({exc}): start a new run with another --out") from None
    configs = {cls.task: cls for cls in (DetectorConfig, RecognizerConfig)}
    task = data.get("task") if isinstance(data, dict) else None
    if task not in configs:
        raise TrainError(f"--resume: {path}: task: expected {' or '.join(configs)}, got {show(task)}: "
                         f"start a new run with another --out")
    return configs[task].from_dict(data, f"--resume: {path}")
