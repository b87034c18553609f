"""Training configurations: one dataclass per task, saved as ``config.json`` in the run
directory (a resumed run reads it back)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeface.errors import EdgefaceError


class TrainError(EdgefaceError):
    """A training or export setting is wrong, or a run directory cannot be used."""


@dataclass
class TrainConfig:
    arch: str
    data: str = "synthetic"  # a spec or path that edgeface.data's loaders take
    out: Path = Path("runs/train")
    input_size: int | None = None  # None: the architecture's default
    epochs: int = 10
    steps_per_epoch: int | None = None  # None: one pass over the training data
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # adamw or sgd (momentum 0.9)
    warmup_steps: int | None = None  # None: 5% of all steps, at most 500
    augment: bool = True
    seed: int = 0
    deterministic: bool = True  # also tf.config.experimental.enable_op_determinism()
    mixed_precision: str = "auto"  # auto (float16 only when a GPU is present), on, off
    val_data: str | None = None  # None: held-out synthetic data when training on synthetic; "none": no validation
    export: bool = True  # .keras + SavedModel + bundle (TFLite fp32) after the last epoch
    export_int8: bool = False  # also an int8 TFLite bundle with its fidelity report
    resume: bool = False
    data_options: dict[str, Any] = field(default_factory=dict)  # extra loader keyword arguments

    task = "train"  # saved in config.json: the run's task, as `edgeface train TASK` names it
    kind = ""  # the model card kind it trains ("detector" or "embedder")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["task"] = self.task
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "out" in values:
            values["out"] = Path(values["out"])
        return cls(**values)

    def save(self, path: Path) -> None:
        from edgeface.fsutil import write_json

        write_json(path, self.to_dict())


@dataclass
class DetectorConfig(TrainConfig):
    arch: str = "blazeface"
    loss: str = "focal"  # focal or ohem (classification)
    box_loss: str = "smooth_l1"  # smooth_l1 or giou
    box_weight: float = 1.0
    keypoint_weight: float = 1.0
    max_boxes: int = 64  # faces per image the pipeline keeps (more are dropped: crowded WIDER images)
    pos_iou: float = 0.35  # anchor matching: positive at or above
    neg_iou: float = 0.25  # background below
    lr: float = 2e-3
    batch: int = 32

    task = "detector"
    kind = "detector"


@dataclass
class RecognizerConfig(TrainConfig):
    arch: str = "mobilefacenet"
    loss: str = "arcface"  # arcface, cosface or softmax
    embedding_size: int = 128
    margin: float | None = None  # None: 0.5 ArcFace, 0.35 CosFace
    scale: float = 32.0  # the logit scale s
    val_pairs: str | None = None  # verification pairs for validation and calibration; "none": none
    far: float = 1e-3  # the verify_threshold written into the bundle is calibrated here
    weight_decay: float = 5e-4

    task = "recognizer"
    kind = "embedder"


def load_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainError(f"--resume: {path} not found: {run_dir} holds no training run (drop --resume to "
                         f"start one there)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainError(f"--resume: {path} is unreadable ({exc}): start a new run with another --out") from None
