"""Training of the project's face models (toolchain side; TensorFlow is imported only
when training starts). See docs/training.md.

    from edgeface.train import DetectorConfig, RecognizerConfig, train_detector, train_recognizer
    result = train_detector(DetectorConfig(arch="blazeface", data="synthetic:2000", epochs=5, out="runs/det"))
    result.export.bundles["fp32"]      # a bundle FaceAnalyzer runs
"""

from edgeface.train.config import DetectorConfig, RecognizerConfig, TrainConfig, TrainError

__all__ = ["DetectorConfig", "RecognizerConfig", "TrainConfig", "TrainError", "train_detector", "train_recognizer",
           "export_run"]


def _require_tensorflow() -> None:
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:
        raise TrainError(f"training needs TensorFlow ({exc}): pip install 'edgeface[toolchain]'") from None


def train_detector(config: DetectorConfig, progress: bool = True):
    _require_tensorflow()
    from edgeface.train.trainer import train_detector as run

    return run(config, progress)


def train_recognizer(config: RecognizerConfig, progress: bool = True):
    _require_tensorflow()
    from edgeface.train.trainer import train_recognizer as run

    return run(config, progress)


def export_run(result, val_set=None, precisions=("fp32",), **kwargs):
    from edgeface.train.export import export_run as run

    return run(result, val_set, precisions, **kwargs)
