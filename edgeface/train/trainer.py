"""The training loop behind ``edgeface train detector|recognizer``.

One loop for both tasks: a custom ``tf.function`` step run through a ``tf.distribute``
strategy (``choose_strategy``), AdamW (or SGD) with linear warm-up and cosine decay,
float16 mixed precision only where a GPU is present, a ``tf.train.Checkpoint`` after every
epoch (model, margin head, optimizer state, epoch) that ``resume=True`` continues from,
and a run directory:

    RUN/config.json        the configuration (a resumed run reads it back)
    RUN/checkpoints/       ckpt-<epoch>.* (the last 3)
    RUN/metrics.csv        one row per epoch: losses, learning rate, validation figures, time
    RUN/metrics.json       the same plus the per-step loss curve
    RUN/loss.png           the loss curve (matplotlib, Agg) with the validation metric
    RUN/export/            after the last epoch: .keras, SavedModel, bundles (edgeface.train.export)

Seeds: Python, numpy and TensorFlow are seeded from ``config.seed`` and, with
``deterministic`` (default), TensorFlow's op determinism is switched on, so a run on the
same machine and versions repeats; the data order of a resumed run is not the one an
uninterrupted run would have seen.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeface.fsutil import atomic_write_bytes, write_json
from edgeface.train.config import (MIXED_PRECISION, OPTIMIZERS, DetectorConfig, RecognizerConfig, TrainConfig,
                                   TrainError, load_config)


@dataclass
class TrainResult:
    run_dir: Path
    config: TrainConfig
    history: list[dict]
    steps: list[float]  # the loss of every step
    model: Any = field(repr=False, default=None)  # the Keras model (training form)
    export: Any = None  # edgeface.train.export.ExportResult when exported

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


# ------------------------------------------------------------------------ setup

def choose_strategy():
    """MultiWorkerMirroredStrategy when $TF_CONFIG describes a cluster, MirroredStrategy
    with more than one GPU, the default (one device) strategy otherwise."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        try:
            cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        except json.JSONDecodeError:
            raise TrainError("$TF_CONFIG is not valid JSON: fix it or unset it for single-machine training") from None
        if sum(len(v) for v in cluster.values()) > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _use_mixed_precision(setting: str) -> bool:
    import tensorflow as tf

    if setting not in MIXED_PRECISION:
        raise TrainError(f"mixed_precision={setting!r}: choose {', '.join(MIXED_PRECISION[:-1])} or "
                         f"{MIXED_PRECISION[-1]}")
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if setting == "on" and not has_gpu:
        raise TrainError("--mixed-precision on needs a GPU (float16 on CPU is slower and less accurate): use auto")
    return has_gpu if setting == "auto" else setting == "on"


def seed_everything(seed: int, deterministic: bool) -> bool:
    """Seed Python, numpy and TensorFlow; with ``deterministic`` switch TensorFlow's op
    determinism on. Returns whether it was on before (``restore_determinism`` puts it back:
    the switch is process-wide)."""
    import random

    import keras
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    was = _determinism_enabled()
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return was


def _determinism_enabled() -> bool:
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        return False


def restore_determinism(was: bool) -> None:
    if was:
        return
    try:
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        pass


def _prepare_run(config: TrainConfig, cls) -> TrainConfig:
    """Resolve the run directory: a fresh run must not overwrite one; a resumed run
    continues with the stored configuration (new ``epochs`` / ``export`` / ``export_int8``
    win, so a run can be extended)."""
    out = Path(config.out)
    has_checkpoint = (out / "checkpoints" / "checkpoint").is_file()
    if config.resume:
        stored = load_config(out)
        if stored.task != cls.task:
            raise TrainError(f"--resume: {out} holds a {stored.task} run, not a {cls.task} run")
        config = replace(stored, out=out, resume=True, epochs=max(config.epochs, 1), export=config.export,
                         export_int8=config.export_int8)
    elif has_checkpoint:
        raise TrainError(f"--out {out}: a training run is already there: pass --resume to continue it, "
                         f"or choose another --out")
    config = config.checked()  # the types and ranges a resumed run's config.json is read back with
    from edgeface.cards import names_of_kind
    from edgeface.models import default_input_size, model_kind

    kind = model_kind(config.arch)
    if kind != cls.kind:
        names = ", ".join(names_of_kind(cls.kind))
        raise TrainError(f"--arch {config.arch} is {_a(kind)}, not {_a(cls.kind)}: choose one of {names}")
    if config.input_size is None:
        config = replace(config, input_size=default_input_size(config.arch))
    if config.optimizer not in OPTIMIZERS:
        raise TrainError(f"optimizer={config.optimizer!r}: choose {' or '.join(OPTIMIZERS)}")
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.json")
    return config


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _optimizer(config: TrainConfig, total_steps: int):
    import keras

    warmup = config.warmup_steps if config.warmup_steps is not None else min(500, int(0.05 * total_steps))
    warmup = min(warmup, max(total_steps - 1, 0))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr * 0.01 if warmup else config.lr,
        decay_steps=max(total_steps - warmup, 1), alpha=0.01,
        warmup_target=config.lr if warmup else None, warmup_steps=warmup)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=config.weight_decay,
                                    global_clipnorm=10.0)
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, global_clipnorm=10.0)


# ----------------------------------------------------------------------- tasks

def _synthetic_options(spec: str) -> tuple[int | None, dict[str, str]] | None:
    """(N, options) of a "synthetic[:N][:k=v...]" spec, None for anything else."""
    spec = str(spec)
    if not spec.startswith("synthetic"):
        return None
    parts = spec.split(":")[1:]
    n, opts = None, {}
    for part in parts:
        if "=" in part:
            k, v = part.split("=", 1)
            opts[k] = v
        elif part:
            n = int(part)
    return n, opts


def _maybe_cached(dataset, budget_bytes: int = 1 << 30):
    """``dataset`` behind an in-memory cache when all of it fits in ``budget_bytes``."""
    try:
        first = dataset[0]
    except Exception:  # noqa: BLE001 - the pipeline will report a broken dataset itself
        return dataset
    if len(dataset) * first.image.nbytes <= budget_bytes:
        from edgeface.data import cache_in_memory

        return cache_in_memory(dataset)
    return dataset


class _Subset:
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)
        for attr in ("num_identities", "identity_names"):
            if hasattr(dataset, attr):
                setattr(self, attr, getattr(dataset, attr))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]


def _bn_momentum(model, momentum: float = 0.9):
    """PyTorch's BatchNorm momentum (0.1 there) instead of Keras' 0.99: the moving
    statistics settle within short runs (with 0.99 a few hundred steps leave them far
    from the batch statistics and the inference-mode model is broken)."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = momentum
    return model


def card_normalisation(arch: str) -> dict:
    """The ``mean`` and ``std`` the card of ``arch`` normalises inputs with: training feeds
    the model what validation, export and the SDK will feed it."""
    from edgeface.cards import get_card

    card_input = get_card(arch).input
    return {"mean": card_input["mean"], "std": card_input["std"]}


class DetectorTask:
    def __init__(self, config: DetectorConfig):
        from edgeface.cards import get_card
        from edgeface.train.anchors import anchor_set
        from edgeface.train.losses import BOX_LOSSES, CLASSIFICATION_LOSSES

        if config.loss not in CLASSIFICATION_LOSSES:
            raise TrainError(f"--loss {config.loss}: a detector takes {' or '.join(CLASSIFICATION_LOSSES)}")
        if config.box_loss not in BOX_LOSSES:
            raise TrainError(f"--box-loss {config.box_loss}: choose {' or '.join(BOX_LOSSES)}")
        card = get_card(config.arch)
        if config.input_size != card.input_size:  # the size its preset's anchors are fixed to
            raise TrainError(f"--input-size {config.input_size}: {config.arch} is built for "
                             f"{card.input_size} (its anchors are fixed to that size)")
        self.config = config
        self.anchors = anchor_set(config.input_size)
        self.keypoints = len(card.keypoint_names)

    def data(self):
        from edgeface.data import load_detection

        c = self.config
        train = load_detection(c.data, **c.data_options)
        if len(train) == 0:
            raise TrainError(f"--data {c.data}: no images")
        synth = _synthetic_options(c.data)
        if c.val_data == "none":
            val = None
        elif c.val_data:
            val = load_detection(c.val_data)
        elif synth is not None:
            n, opts = synth
            extra = "".join(f":{k}={v}" for k, v in opts.items() if k not in ("seed",))
            val = load_detection(f"synthetic:{min(max((n or 1000) // 8, 64), 200)}{extra}"
                                 f":seed={int(opts.get('seed', 0)) + 7919}")
        else:  # hold out 5% (at most 200 images) of a real set
            n_val = min(200, max(1, len(train) // 20)) if len(train) > 20 else 0
            rng = np.random.default_rng(c.seed)
            order = rng.permutation(len(train))
            val = _Subset(train, sorted(order[:n_val])) if n_val else None
            train = _Subset(train, sorted(order[n_val:])) if n_val else train
        return train, val

    @staticmethod
    def materialise(val):
        from edgeface.data import cache_in_memory

        return None if val is None else cache_in_memory(val)

    def pipeline(self, dataset, batch: int, augment: bool):
        from edgeface.data import detection_pipeline

        return detection_pipeline(dataset, self.config.input_size, batch, augment, max_boxes=self.config.max_boxes,
                                  shuffle_seed=self.config.seed, **card_normalisation(self.config.arch))

    def build(self):
        from edgeface.models import create_model

        model = _bn_momentum(create_model(self.config.arch, input_size=self.config.input_size,
                                          num_keypoints=self.keypoints))
        # classification prior 0.01 (focal-loss initialisation): training starts from "no face"
        prior = -math.log((1 - 0.01) / 0.01)
        for name in ("cls_16x16", "cls_8x8"):
            layer = model.get_layer(name)
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 0.1, np.full_like(bias, prior)])
        for name in ("reg_16x16", "reg_8x8"):
            layer = model.get_layer(name)
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 0.1, bias])
        return model, []

    def loss(self, model, extra, images, targets, training: bool):
        from edgeface.train.anchors import assign_targets
        from edgeface.train.losses import detector_loss

        c = self.config
        regressors, logits = model(images, training=training)
        assigned = assign_targets(self.anchors, targets["boxes"], targets["keypoints"], targets["keypoint_mask"],
                                  targets["box_mask"], c.pos_iou, c.neg_iou)
        return detector_loss(self.anchors, regressors, logits, assigned, c.loss, c.box_loss, c.box_weight,
                             c.keypoint_weight)

    def validate(self, model, val) -> dict:
        if val is None:
            return {}
        from edgeface.train.export import keras_detections
        from edgeface.eval.metrics import evaluate_detections

        samples = [val[i] for i in range(len(val))]
        preds = keras_detections(model, self.anchors, [s.image for s in samples], score_threshold=0.05)
        result = evaluate_detections(preds, [(s.boxes, s.keypoints) for s in samples])
        return {"val_ap": result.ap, "val_nme": result.nme}

    headline = "val_ap"


class RecognizerTask:
    def __init__(self, config: RecognizerConfig):
        from edgeface.train.losses import MARGIN_HEADS

        if config.loss not in MARGIN_HEADS:
            raise TrainError(f"--loss {config.loss}: a recognizer takes {', '.join(MARGIN_HEADS)}")
        if config.input_size < 32:
            raise TrainError(f"--input-size {config.input_size}: at least 32")
        self.config = config
        self.num_classes = 0

    def data(self):
        from edgeface.data import load_pairs, load_recognition

        c = self.config
        train = load_recognition(c.data, **c.data_options)
        if len(train) == 0 or train.num_identities < 2:
            raise TrainError(f"--data {c.data}: a recognizer needs at least 2 identities with images")
        self.num_classes = int(train.num_identities)
        synth = _synthetic_options(c.data)
        if c.val_pairs == "none":
            val = None
        elif c.val_pairs:
            val = load_pairs(c.val_pairs)
        elif synth is not None:
            _, opts = synth
            size = opts.get("size", "112")
            val = load_pairs(f"synthetic:30:identities=60:size={size}:seed={opts.get('seed', 0)}")
        else:
            val = None
        return train, val

    @staticmethod
    def materialise(pairs):
        """Pairs as plain arrays (synthetic pairs render on every access)."""
        if not pairs:
            return pairs
        from edgeface.data.types import Pair

        return [Pair(p.a, p.b, p.same, p.fold, p.source) for p in pairs]

    def pipeline(self, dataset, batch: int, augment: bool):
        from edgeface.data import recognition_pipeline

        return recognition_pipeline(dataset, self.config.input_size, batch, augment, shuffle_seed=self.config.seed,
                                    **card_normalisation(self.config.arch))

    def build(self):
        from edgeface.models import create_model
        from edgeface.train.losses import margin_head

        c = self.config
        model = _bn_momentum(create_model(c.arch, input_size=c.input_size, embedding_size=c.embedding_size))
        head = margin_head(self.num_classes, c.embedding_size, c.loss, c.scale, c.margin)
        return model, [head]

    def loss(self, model, extra, images, labels, training: bool):
        import tensorflow as tf

        from edgeface.train.losses import classification_loss

        (head,) = extra
        embeddings = model(images, training=training)
        logits = head(embeddings, labels)
        loss = classification_loss(logits, labels)
        hits = tf.equal(tf.argmax(head.cosine(embeddings), axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
        return loss, {"train_acc": tf.reduce_mean(tf.cast(hits, tf.float32))}

    def validate(self, model, val) -> dict:
        if not val:
            return {}
        from edgeface.eval.metrics import kfold_accuracy, tar_at_far
        from edgeface.train.export import keras_embeddings

        scores, same, folds = pair_scores(lambda x: keras_embeddings(model, x, self.config.input_size, self.config.arch), val)
        acc = kfold_accuracy(scores, same, folds)
        tar = tar_at_far(scores, same, 1e-2)
        return {"val_acc": acc["accuracy"], "val_tar@far1e-2": tar["tar"]}

    headline = "val_acc"


def pair_scores(embed: Callable[[np.ndarray], np.ndarray], pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine similarity, same flag and fold of every pair (``embed``: uint8 chips -> unit rows)."""
    a = embed(np.stack([p.a for p in pairs]))
    b = embed(np.stack([p.b for p in pairs]))
    return (np.sum(a * b, axis=1), np.array([p.same for p in pairs], bool), np.array([p.fold for p in pairs]))


# ------------------------------------------------------------------------- loop

def train_detector(config: DetectorConfig, progress: bool = True) -> TrainResult:
    """Train (or resume) a detector; export it after the last epoch when ``config.export``."""
    config = _prepare_run(config, DetectorConfig)
    return _train(config, DetectorTask(config), progress)


def train_recognizer(config: RecognizerConfig, progress: bool = True) -> TrainResult:
    """Train (or resume) a recognizer; export it after the last epoch when ``config.export``."""
    config = _prepare_run(config, RecognizerConfig)
    return _train(config, RecognizerTask(config), progress)


def _train(config: TrainConfig, task, progress: bool) -> TrainResult:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    run = Path(config.out)
    determinism_was = seed_everything(config.seed, config.deterministic)
    mixed = _use_mixed_precision(config.mixed_precision)
    previous_policy = keras.mixed_precision.global_policy().name
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        strategy = choose_strategy()
        train_set, val_set = task.data()
        train_set = _maybe_cached(train_set)
        val_set = task.materialise(val_set)
        global_batch = config.batch * strategy.num_replicas_in_sync
        steps = config.steps_per_epoch or max(1, math.ceil(len(train_set) / global_batch))
        dataset = task.pipeline(train_set, global_batch, config.augment).repeat()
        state = _build_state(config, task, strategy, steps * config.epochs, mixed)
        history, step_losses = _resume(config, state)
        start_epoch = int(state.epoch.numpy())
        # what a run killed after writing its history but before its checkpoint recorded ahead
        history = [h for h in history if h["epoch"] <= start_epoch]
        del step_losses[start_epoch * steps:]
        train_step = _train_step(task, state, strategy, mixed)
        # a resumed run skips the batches it has trained on, so it sees what an uninterrupted run would
        dist = strategy.experimental_distribute_dataset(dataset.skip(start_epoch * steps) if start_epoch else dataset)
        iterator = iter(dist)
        bar = _Progress(progress, config.epochs, steps)
        with bar:
            for epoch in range(start_epoch, config.epochs):
                started = time.perf_counter()
                bar.start_epoch(epoch + 1)
                means = _train_epoch(config, train_step, iterator, epoch, steps, bar, step_losses)
                seconds = time.perf_counter() - started
                row = {"epoch": epoch + 1, "step": int(state.optimizer.iterations.numpy()), **means,
                       "lr": float(_current_lr(state.optimizer)), "seconds": round(seconds, 2),
                       "images_per_s": round(steps * global_batch / seconds, 1)}
                row.update(_validate(task, state, val_set))
                history.append(row)
                # history first, checkpoint second: a kill in between resumes from the previous
                # checkpoint and drops the extra row; the other order lost the epoch's row
                _write_history(run, history, step_losses, task.headline)
                _save_checkpoint(state, epoch)
                bar.end_epoch(row, task.headline)
        result = TrainResult(run, config, history, step_losses, state.model)
    finally:
        if mixed:
            keras.mixed_precision.set_global_policy(previous_policy)
        restore_determinism(determinism_was)
    if config.export:  # under the float32 policy: the exported model must not be float16
        from edgeface.train.export import export_run

        result.export = export_run(result, val_set, ["fp32"] + (["int8"] if config.export_int8 else []),
                                   progress=bar.note)
    return result


@dataclass
class _TrainState:
    """What a run trains and checkpoints: the model, the task's extra trainable layers (a
    recognizer's margin head), the optimizer and the epoch counter."""

    model: Any
    extra: list
    variables: list                 # the trainable variables of model and extra
    optimizer: Any
    epoch: Any                      # tf.Variable: epochs finished
    checkpoint: Any                 # tf.train.Checkpoint of all of the above
    manager: Any                    # its CheckpointManager in RUN/checkpoints


def _build_state(config: TrainConfig, task, strategy, total_steps: int, mixed: bool) -> _TrainState:
    import keras
    import tensorflow as tf

    with strategy.scope():
        model, extra = task.build()
        variables = model.trainable_variables + [v for layer in extra for v in layer.trainable_variables]
        optimizer = _optimizer(config, total_steps)
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    trackables = {"model": model, "optimizer": optimizer, "epoch": epoch_var}
    for i, layer in enumerate(extra):
        trackables[f"head{i}"] = layer
    checkpoint = tf.train.Checkpoint(**trackables)
    manager = tf.train.CheckpointManager(checkpoint, str(Path(config.out) / "checkpoints"), max_to_keep=3)
    return _TrainState(model, extra, variables, optimizer, epoch_var, checkpoint, manager)


def _resume(config: TrainConfig, state: _TrainState) -> tuple[list[dict], list[float]]:
    """With ``config.resume`` and a checkpoint: restore it and return the run's history and
    step losses so far; else empty ones."""
    import tensorflow as tf

    latest = state.manager.latest_checkpoint
    if not (config.resume and latest):
        return [], []
    run = Path(config.out)
    try:
        state.checkpoint.restore(latest).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        raise TrainError(f"--resume: {latest} does not fit the model built from "
                         f"{run / 'config.json'} ({str(exc).splitlines()[0][:200]}): start a new run with "
                         f"another --out") from None
    return _load_history(run)


def _train_step(task, state: _TrainState, strategy, mixed: bool) -> Callable:
    """One optimizer step on every replica, as a tf.function: iterator -> mean loss and parts."""
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    optimizer, variables = state.optimizer, state.variables

    def replica_step(images, targets):
        with tf.GradientTape() as tape:
            loss, parts = task.loss(state.model, state.extra, images, targets, training=True)
            scaled = loss / replicas
            if mixed:
                scaled = optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return {"loss": loss, **parts}

    @tf.function
    def train_step(iterator):
        images, targets = next(iterator)
        out = strategy.run(replica_step, args=(images, targets))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    return train_step


def _train_epoch(config: TrainConfig, train_step: Callable, iterator, epoch: int, steps: int, bar: "_Progress",
                 step_losses: list[float]) -> dict[str, float]:
    """``steps`` training steps; the mean of each loss part. A loss that is not finite stops the run."""
    sums: dict[str, float] = {}
    for step in range(steps):
        out = {k: float(v) for k, v in train_step(iterator).items()}
        if not math.isfinite(out["loss"]):
            raise TrainError(f"the loss became {out['loss']} at epoch {epoch + 1} step {step + 1}: "
                             f"lower --lr (now {config.lr}) or check the data")
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + v
        step_losses.append(out["loss"])
        bar.advance(out)
    return {k: v / steps for k, v in sums.items()}


def _validate(task, state: _TrainState, val_set) -> dict:
    """The epoch's validation metrics, and how long they took."""
    started = time.perf_counter()
    return {**task.validate(state.model, val_set), "val_seconds": round(time.perf_counter() - started, 2)}


def _save_checkpoint(state: _TrainState, epoch: int) -> None:
    state.epoch.assign(epoch + 1)
    state.manager.save(checkpoint_number=epoch + 1)


def load_run(run_dir: Path) -> TrainResult:
    """A finished run read back from its folder: config, history and the trained model."""
    from edgeface.train.export import load_run_model

    model, config = load_run_model(run_dir)
    history, step_losses = _load_history(Path(run_dir))
    return TrainResult(Path(run_dir), config, history, step_losses, model)


def validation_set(config: TrainConfig):
    """The validation data a run with ``config`` validated on (images or pairs in memory)."""
    task = DetectorTask(config) if config.task == "detector" else RecognizerTask(config)
    _, val = task.data()
    return task.materialise(val)


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


def _load_history(run: Path) -> tuple[list[dict], list[float]]:
    try:
        data = json.loads((run / "metrics.json").read_text())
        return data.get("epochs", []), data.get("step_losses", [])
    except (OSError, json.JSONDecodeError):
        return [], []


def _write_history(run: Path, history: list[dict], step_losses: list[float], headline: str) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k)) for k in keys})
    atomic_write_bytes(run / "metrics.csv", buffer.getvalue().encode())
    write_json(run / "metrics.json", {"epochs": history, "step_losses": [round(v, 6) for v in step_losses]},
               indent=1, default=_jsonable)
    try:
        plot_history(run / "loss.png", history, step_losses, headline)
    except ImportError:  # matplotlib is in the toolchain extra; the run itself does not need it
        pass


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def plot_history(path: Path, history: list[dict], step_losses: list[float], headline: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if step_losses:
        x = np.arange(1, len(step_losses) + 1)
        ax.plot(x, step_losses, color="#9ecae1", linewidth=0.8, label="loss (step)")
        k = max(1, len(step_losses) // 50)
        if k > 1:
            smooth = np.convolve(step_losses, np.ones(k) / k, mode="valid")
            ax.plot(x[k - 1:], smooth, color="#08519c", label=f"loss ({k}-step mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log" if step_losses and min(step_losses) > 0 else "linear")
    values = [(h["step"], h[headline]) for h in history if h.get(headline) is not None]
    if values:
        ax2 = ax.twinx()
        ax2.plot(*zip(*values), "o-", color="#d95f0e", label=headline)
        ax2.set_ylabel(headline)
        ax2.set_ylim(0, 1)
        ax2.legend(loc="upper right")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


class _Progress:
    """A rich progress bar (stderr) with the running loss and metrics; silent when off."""

    def __init__(self, enabled: bool, epochs: int, steps: int):
        self.enabled, self.epochs, self.steps = enabled, epochs, steps
        self.progress = None
        self.task = None
        self.sums: dict[str, float] = {}
        self.count = 0

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.console = Console(stderr=True)
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                     console=self.console, transient=False)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
            self.progress = None

    def start_epoch(self, epoch: int) -> None:
        self.sums, self.count = {}, 0
        if self.progress is not None:
            self.task = self.progress.add_task(f"epoch {epoch}/{self.epochs}", total=self.steps, info="")

    def advance(self, values: dict[str, float]) -> None:
        self.count += 1
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        if self.progress is not None:
            info = " ".join(f"{k} {v / self.count:.4f}" for k, v in self.sums.items())
            self.progress.update(self.task, advance=1, info=info)

    def end_epoch(self, row: dict, headline: str) -> None:
        if self.progress is not None and row.get(headline) is not None:
            self.progress.update(self.task, info=f"loss {row['loss']:.4f} {headline} {row[headline]:.4f}")

    def note(self, message: str) -> None:
        """A line on stderr; its text is literal (a path such as ``runs/[v2]`` is not Rich
        markup, a control character in it is shown escaped) and never wrapped."""
        if self.enabled:
            from rich.console import Console
            from rich.text import Text

            from edgeface.safetext import visible_controls

            Console(stderr=True, soft_wrap=True).print(Text(visible_controls(message), style="dim"))
