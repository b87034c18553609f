"""Export a trained model: Keras (.keras), SavedModel, and bundles the SDK runs directly.

    RUN/export/<arch>.keras          the deployable Keras model (detector: regression
                                     scales folded in, see edgeface.train.anchors)
    RUN/export/saved_model/          the same as a TensorFlow SavedModel
    RUN/export/convert/              edgeface.converters' conversion job: TFLite files,
                                     fidelity report.md / report.json
    RUN/export/bundle_fp32/          bundle with the fp32 TFLite model
    RUN/export/bundle_int8/          (export_int8) bundle with the int8 model
    RUN/export/eval_<precision>/     the SDK evaluation of each bundle (edgeface.eval)

The model's card (``edgeface.cards``) gives its input normalisation. Detector bundles carry
the decoder fields of the card's preset (``edgeface.cards.presets.TRAINED_PRESETS``: the
anchors training matched against, box_scale, five keypoint names). Embedder bundles carry
the card's ArcFace 112 template the training crops were aligned to (scaled
to the input size) and a ``verify_threshold`` calibrated on the validation pairs at the
run's FAR (``verify_far``), each bundle from its own model's scores.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.fsutil import write_json


@dataclass
class ExportResult:
    keras: Path
    saved_model: Path | None
    bundles: dict[str, Path]  # precision -> bundle directory
    report: Path | None  # the conversion job's report.md
    evaluations: dict[str, dict] = field(default_factory=dict)  # precision -> eval summary
    seconds: dict[str, float] = field(default_factory=dict)  # time per export stage
    gate_failures: dict[str, list[str]] = field(default_factory=dict)  # precision -> fidelity gate failures


# ------------------------------------------------------------ Keras-side inference

def keras_detections(model, anchors, images: Sequence[np.ndarray], score_threshold: float = 0.05,
                     batch: int = 32) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run a training-form detector on uint8 images through the SDK's detector (its
    preprocessing, decoder and NMS, the manifest of TRAINED_PRESETS): per image (boxes,
    scores, keypoints) in original pixels."""
    from edgeface.cards.presets import TRAINED_PRESETS, preset_name
    from edgeface.detect import Detector, detector_spec

    preset = TRAINED_PRESETS[preset_name(anchors.input_size)]
    entry = {**preset, "decoder": {**preset["decoder"], "outputs": {"boxes": 0, "scores": 1}}}
    detector = Detector(_KerasDetectorRunner(model, anchors, preset["decoder"]["num_keypoints"]),
                        detector_spec(entry, _input_spec(preset["input"])))
    return [(d.boxes, d.scores, d.keypoints) for d in detector.detect_batch(images, score_threshold, batch=batch)]


class _KerasDetectorRunner:
    """A training-form Keras detector as the SDK detector's runner: its regressors scaled
    to the raw units the exported model gives (``regression_factors``), and its logits."""

    def __init__(self, model, anchors, num_keypoints: int):
        from edgeface.decoders import OutputInfo
        from edgeface.train.anchors import regression_factors

        coords = 4 + 2 * num_keypoints
        self.model = model
        self.factors = regression_factors(anchors, coords)
        self.outputs = [OutputInfo("boxes", (1, len(anchors), coords)), OutputInfo("scores", (1, len(anchors), 1))]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        regressors, logits = (np.asarray(o) for o in self.model(x, training=False))
        return [regressors * self.factors, logits]


def keras_embeddings(model, chips: np.ndarray, input_size: int, arch: str, batch: int = 64) -> np.ndarray:
    """Unit embeddings of uint8 aligned chips from a Keras recognizer of architecture
    ``arch`` (the SDK's resize and the normalisation of its card)."""
    out = []
    for start in range(0, len(chips), batch):
        x = embedder_inputs(arch, chips[start:start + batch], input_size)
        out.append(np.asarray(model(x, training=False), np.float32))
    vectors = np.concatenate(out) if out else np.zeros((0, 1), np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embedder_inputs(arch: str, chips: np.ndarray, input_size: int) -> np.ndarray:
    """uint8 aligned chips as an embedder's float inputs: resized to ``input_size`` square
    and normalised as the card of ``arch`` says."""
    from edgeface.cards import get_card
    from edgeface.preprocess import resize_bilinear

    chips = np.asarray(chips)
    if chips.shape[1:3] != (input_size, input_size):
        chips = np.stack([resize_bilinear(c, input_size, input_size) for c in chips])
    card = get_card(arch).input
    return (chips.astype(np.float32) - np.float32(card["mean"])) / np.float32(card["std"])


def _input_spec(fields: dict):
    from edgeface.bundle import InputSpec

    return InputSpec(height=fields["height"], width=fields["width"], layout="NHWC", dtype="float32",
                     channel_order="RGB", mean=tuple(fields["mean"]), std=tuple(fields["std"]),
                     resize=fields.get("resize", "letterbox"), pad=fields.get("pad", "center"))


# ----------------------------------------------------------------------- export

def deployable_model(result_or_model, config, anchors=None):
    """The model to ship: a detector gets its regression scales folded into the heads and a
    fixed batch of 1 (a fresh copy; the training model is untouched)."""
    return _kind(config).deployable(result_or_model, config, anchors)


def export_run(result, val_set=None, precisions: Sequence[str] = ("fp32",),
               progress: Callable[[str], None] = lambda m: None, out: Path | None = None) -> ExportResult:
    """Export a finished training run (``edgeface.train.trainer.TrainResult``) as TFLite
    bundles at ``precisions`` (fp32 always: it is the fidelity reference)."""
    import time

    config = result.config
    clock = [time.perf_counter()]
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = round(seconds.get(stage, 0.0) + now - clock[0], 2)
        clock[0] = now

    out = Path(out or Path(result.run_dir) / "export")
    out.mkdir(parents=True, exist_ok=True)
    model = deployable_model(result.model, config)
    keras_path = out / f"{config.arch}.keras"
    progress(f"saving {keras_path}")
    model.save(keras_path)
    lap("keras")
    saved_model = out / "saved_model"
    try:
        shutil.rmtree(saved_model, ignore_errors=True)
        model.export(str(saved_model), verbose=False)
    except Exception as exc:  # SavedModel is a convenience: say why it is missing, go on
        progress(f"SavedModel export failed ({type(exc).__name__}: {exc}); the .keras file and bundles are made")
        saved_model = None
    lap("saved_model")
    precisions = ["fp32"] + [p for p in precisions if p != "fp32"]
    convert_dir = out / "convert"
    calibration = _calibration_npy(config, val_set, out)
    progress(f"converting to {', '.join(precisions)} (edgeface.converters)")
    conversion = _convert(config, keras_path, convert_dir, precisions, calibration, progress,
                          bundle_info=_bundle_info(config, result, out))
    lap("convert")
    bundles, evaluations = {}, {}
    gates = {a.precision: list(a.failures) for a in conversion.artifacts}
    for artifact in conversion.artifacts:
        if artifact.bundle is None:
            continue
        bundle = artifact.bundle
        if val_set is not None:
            progress(f"evaluating {bundle.name} through the SDK")
            evaluations[artifact.precision] = _evaluate_bundle(config, bundle, val_set, out / f"eval_{artifact.precision}")
        bundles[artifact.precision] = bundle
        lap("bundle_eval")
    summary = {"keras": str(keras_path), "saved_model": str(saved_model) if saved_model else None,
               "bundles": {k: str(v) for k, v in bundles.items()}, "conversion_report": str(conversion.report_md),
               "evaluations": evaluations, "gate_failures": gates, "seconds": seconds}
    write_json(out / "export.json", summary, default=str)
    return ExportResult(keras_path, saved_model, bundles, conversion.report_md, evaluations, seconds, gates)


def _calibration_npy(config, val_set, out: Path) -> Path | None:
    """Normalised inputs from the validation data for int8 calibration and fidelity."""
    if val_set is None or len(val_set) == 0:
        return None
    x = _kind(config).calibration_inputs(config, val_set)
    path = out / "calibration.npy"
    np.save(path, x.astype(np.float32))
    return path


def _bundle_info(config, result, out: Path) -> dict:
    """What the conversion job puts into each bundle besides the model, so that it writes
    RUN/export/bundle_<precision> once: its name, description and training info."""
    run = Path(result.run_dir)
    final = {k: v for k, v in result.final.items() if isinstance(v, (int, float)) and v is not None}
    return {"bundle_dir": out, "name": run.name,
            "description": f"{config.arch} trained by edgeface on {config.data} ({len(result.history)} epochs)",
            "training": {"arch": config.arch, "data": str(config.data), "run": str(run),
                         "epochs": len(result.history), "input_size": config.input_size, "final": final}}


def _convert(config, keras_path: Path, out: Path, precisions: list[str], calibration: Path | None, progress,
             bundle_info: dict):
    from edgeface.cards import get_card
    from edgeface.converters.job import ConvertRequest, convert

    card = get_card(config.arch)
    request = ConvertRequest(source=keras_path, out=out, precisions=precisions, calibration=calibration,
                             calibration_size=100, seed=config.seed,
                             input=_input_spec(card.input_fields(config.input_size)),
                             **_kind(config).request_fields(config, card), **bundle_info)
    return convert(request, progress)


def _evaluate_bundle(config, bundle: Path, val_set, report_dir: Path) -> dict:
    return _kind(config).evaluate(config, bundle, val_set, report_dir)


def load_run_model(run_dir: Path):
    """Rebuild a run's training-form model from its config and latest checkpoint."""
    import tensorflow as tf

    from edgeface.train.config import load_config

    config = load_config(run_dir)
    model = _kind(config).training_model(config)
    latest = tf.train.latest_checkpoint(str(Path(run_dir) / "checkpoints"))
    if latest is None:
        raise EdgefaceError(f"{run_dir}: no checkpoint found: train first (edgeface train ...)")
    tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    return model, config


# ------------------------------------------------------------- what differs per kind

class _DetectorExport:
    """A detector: regression scales folded into the heads at batch 1, calibrated on
    preprocessed validation images, converted with its card's decoder preset, scored by
    detection AP."""

    role = "detector"

    def training_model(self, config, batch_size: int | None = None):
        from edgeface.cards import get_card
        from edgeface.models import create_model

        return create_model(config.arch, input_size=config.input_size,
                            num_keypoints=len(get_card(config.arch).keypoint_names), batch_size=batch_size)

    def deployable(self, model, config, anchors=None):
        from edgeface.train.anchors import anchor_set, fold_regression_scale

        anchors = anchors or anchor_set(config.input_size)
        # batch 1: static reshapes, so XNNPACK takes the whole graph (see edgeface.models.blazeface)
        copy = self.training_model(config, batch_size=1)
        copy.set_weights(model.get_weights())
        return fold_regression_scale(copy, anchors)

    def calibration_inputs(self, config, val_set) -> np.ndarray:
        from edgeface.cards import get_card
        from edgeface.preprocess import Preprocessor

        pre = Preprocessor(_input_spec(get_card(config.arch).input_fields(config.input_size)))
        return np.concatenate([pre(val_set[i].image)[0].copy() for i in range(min(len(val_set), 100))])

    def request_fields(self, config, card) -> dict:
        return {"role": self.role, "family": card.preset}

    def evaluate(self, config, bundle: Path, val_set, report_dir: Path) -> dict:
        from edgeface.eval import evaluate_detection_bundle, write_detection_report

        result = evaluate_detection_bundle(bundle, val_set)
        write_detection_report(result, report_dir)
        return result.summary()


class _EmbedderExport:
    """An embedder (the training task "recognizer"): shipped as trained, calibrated on
    aligned validation chips, scored by verification on the validation pairs, which also
    calibrates each bundle's verify_threshold at the run's FAR."""

    role = "embedder"

    def training_model(self, config):
        from edgeface.models import create_model

        return create_model(config.arch, input_size=config.input_size, embedding_size=config.embedding_size)

    def deployable(self, model, config, anchors=None):
        return model

    def calibration_inputs(self, config, val_set) -> np.ndarray:
        return embedder_inputs(config.arch, np.stack([p.a for p in list(val_set)[:100]]), config.input_size)

    def request_fields(self, config, card) -> dict:
        return {"role": self.role, "architecture": config.arch}

    def evaluate(self, config, bundle: Path, val_set, report_dir: Path) -> dict:
        from edgeface.eval import calibrate_bundle, evaluate_verification_bundle, write_verification_report

        result = evaluate_verification_bundle(bundle, val_set, far=config.far)
        calibrate_bundle(bundle, result.calibration["threshold"], config.far)
        write_verification_report(result, report_dir)
        return result.summary()


_KINDS = {"detector": _DetectorExport(), "recognizer": _EmbedderExport()}  # by TrainConfig.task


def _kind(config):
    return _KINDS[config.task]
