"""Quantization-aware training (QAT) of the project's architectures, to a full-int8 TFLite.

Why a child process: ``tensorflow-model-optimization`` 0.8.1 quantizes only ``tf_keras``
models, and importing it (or setting ``TF_USE_LEGACY_KERAS=1``) fixes the Keras flavour of
the whole process (docs/architecture.md, "Facts about the dependencies"). So
:func:`qat_to_tflite` (the library entry point, safe to call from a Keras 3 process) runs
the training in
``python -m edgeface.quantization.qat`` (this module's CLI, the worker) with
``TF_USE_LEGACY_KERAS=1`` in its environment, and reads back one JSON line.

How the weights cross the process boundary (the child cannot read a Keras 3 ``.keras``
file):

1. The parent builds ``architecture`` with Keras 3 (``create_model(architecture,
   **arch_kwargs)``), loads the ``.keras`` file into it with ``load_weights`` (weights
   only: no Python code from the file is deserialised, so a ``Lambda`` is no problem),
   and writes ``weights.npz`` in a temporary directory: key ``"{layer.name}/{i}"`` ->
   ``layer.get_weights()[i]`` for every layer that has weights, plus
   ``"__reference__/{j}"``: the Keras 3 model's output ``j`` on the first
   ``REFERENCE_SAMPLES`` samples of the data.
2. The child builds the same architecture with ``keras=tf_keras`` and sets every layer's
   weights from the keys of its name. Every layer with weights must find exactly its
   arrays (count and shapes) and every key must be used, else it stops. It then runs its
   copy on the same samples and stops unless the outputs match the reference (relative
   error <= 1e-3): a transfer that went wrong cannot pass silently.

Without ``weights`` the child trains from the builder's fresh initialisation (seeded); an
untrained MobileFaceNet's embedding is too small for int8 (cosine ~0), which the result's
``cosine`` shows.

Training is self-distillation: the float ``tf_keras`` copy (the teacher) computes targets
on the data; the QAT copy (the student) learns to match them, so no labels are needed.
Loss per output, summed: ``1 - cosine`` for 2-D outputs (embeddings), else mean squared
error divided by the teacher output's variance over the data (outputs of different
ranges then weigh alike). Details that make a few hundred steps enough:

- Activation ranges are calibrated before the first step. tfmot starts every range at
  [-6, 6] and moves it by an exponential average with decay 0.999, so after 200 steps a
  range is still mostly its initial value; instead each range is set from the teacher's
  min/max of that layer's output over up to ``CALIBRATION_SAMPLES`` samples (the input
  quantizer from the data). Training then refines them as usual.
- BatchNormalization layers are frozen (``trainable=False``: moving statistics used and
  kept, gamma/beta fixed); the convolutions learn. Small batches would otherwise replace
  well-estimated statistics with noisy ones.
- Adam with a linear warm-up (10% of the steps, at most 50) and cosine decay to 0.
  Measured on MobileFaceNet-int8 at 32x32 (random weights with settled BatchNorm, 64
  synthetic inputs, 30 steps): peak 3e-5 took the loss 0.0102 -> 0.0088 and the TFLite
  cosine to 0.9907 (PTQ of the same weights: 0.9887), hence the default; 1e-4 made the
  loss rise at first and end no better than it started. Lower ``learning_rate`` when
  ``loss_last >= loss_first``.

Layers tfmot cannot quantize (``PReLU``, ``Lambda``, ...) stop the run before training
with a :class:`~edgeface.errors.ConversionError` that names the layer and the fix (for
``mobilefacenet``: use ``mobilefacenet_int8``). All of ``mobilefacenet_int8`` and
``blazeface`` (whose channel padding is a frozen identity 1x1 convolution, not a Lambda)
is annotated and converts to full int8; ``QatResult.float_ops`` would list any op left
with float activations.

Conversion: ``TFLiteConverter`` with ``optimizations=[DEFAULT]``, a representative dataset
from the data and ``inference_input/output_type`` per ``io_type``, fed with a concrete
function over a ``tf.Module`` that holds the model's variables. (``from_keras_model`` on a
QAT model does the same conversion but first re-traces every layer for a Keras SavedModel:
55 s instead of 12 s for MobileFaceNet.) The input is ``[1, H, W, C]``; signature keys are
the model's input and output names. The file is written atomically, then every sample (up
to ``EVAL_SAMPLES``) is run through it with LiteRT and compared with the teacher.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from edgeface import errors as _errors
from edgeface.errors import ConversionError, EdgefaceError

IO_TYPES = ("float32", "int8", "uint8")
RESULT_MARKER = "EDGEFACE_QAT_RESULT "
REFERENCE_SAMPLES = 4  # samples the parent runs through Keras 3 to check the transfer
CALIBRATION_SAMPLES = 256  # samples for the activation ranges and the loss measurements
REPRESENTATIVE_SAMPLES = 100  # samples for the converter's representative dataset
EVAL_SAMPLES = 256  # samples compared between the teacher and the TFLite model
STDERR_TAIL_LINES = 25

# Architectures with an unsupported layer, and the registered variant to use instead.
INT8_VARIANTS = {"mobilefacenet": "mobilefacenet_int8"}


@dataclass(frozen=True)
class QatResult:
    tflite: Path
    size_bytes: int
    steps: int
    seconds: float  # wall time of the whole call, weight export and child included
    loss_first: float  # distillation loss on the calibration samples before training
    loss_last: float  # the same after the last step (both in inference mode)
    cosine: float  # teacher vs int8 TFLite, mean over samples; lowest over outputs
    cosine_per_output: dict[str, float]
    io_type: str
    full_int8: bool  # no op other than the io QUANTIZE/DEQUANTIZE has float activations
    float_ops: dict[str, int]  # op name -> count of ops with float activations
    step_losses: tuple[float, ...]  # training loss of each step (training mode, batch)
    timings: dict[str, float] = field(default_factory=dict)  # child phases, seconds

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tflite"] = str(self.tflite)
        return data


# --------------------------------------------------------------------------- parent


def qat_to_tflite(architecture: str, arch_kwargs: dict | None, weights: str | Path | None,
                  data: str | Path, out: str | Path, steps: int = 200, batch_size: int = 16,
                  learning_rate: float = 3e-5, io_type: str = "float32", seed: int = 0,
                  timeout_s: float = 1800) -> QatResult:
    """Quantization-aware train ``architecture`` by self-distillation and write an int8
    ``.tflite`` to ``out``. See the module docstring for the method.

    ``weights``: a Keras 3 ``.keras`` (or ``.weights.h5``) file of this architecture built
    with ``arch_kwargs``, or None for fresh weights. ``data``: ``.npy`` of normalised NHWC
    float32 inputs (what the model takes). ``io_type``: the TFLite model's input and
    output type; the inside is int8 either way. Raises :class:`ConversionError`.
    """
    started = time.monotonic()
    arch_kwargs = dict(arch_kwargs or {})
    _check_arguments(architecture, arch_kwargs, steps, batch_size, learning_rate, io_type,
                     timeout_s)
    data = Path(data)
    out = Path(out)
    samples = _load_data(data, mmap=True)
    with tempfile.TemporaryDirectory(prefix="edgeface-qat-") as tmp:
        command = [sys.executable, "-m", "edgeface.quantization.qat",
                   "--architecture", architecture, "--arch-kwargs", json.dumps(arch_kwargs),
                   "--data", str(data.resolve()), "--out", str(out.resolve()),
                   "--steps", str(steps), "--batch-size", str(batch_size),
                   "--learning-rate", repr(float(learning_rate)), "--io-type", io_type,
                   "--seed", str(seed)]
        if weights is not None:
            npz = Path(tmp) / "weights.npz"
            export_weights_npz(architecture, arch_kwargs, Path(weights), samples, npz)
            command += ["--weights-npz", str(npz)]
        del samples
        summary = _run_child(command, timeout_s)
    return QatResult(
        tflite=Path(summary["tflite"]), size_bytes=int(summary["size_bytes"]),
        steps=int(summary["steps"]), seconds=round(time.monotonic() - started, 3),
        loss_first=float(summary["loss_first"]), loss_last=float(summary["loss_last"]),
        cosine=float(summary["cosine"]), cosine_per_output=dict(summary["cosine_per_output"]),
        io_type=io_type, full_int8=bool(summary["full_int8"]),
        float_ops=dict(summary["float_ops"]),
        step_losses=tuple(float(v) for v in summary["step_losses"]),
        timings=dict(summary["timings"]))


def export_weights_npz(architecture: str, arch_kwargs: dict, weights: Path,
                       samples: np.ndarray | None, npz: Path) -> None:
    """Write the handoff file: ``"{layer}/{i}"`` arrays of the Keras 3 model in
    ``weights``, and ``"__reference__/{j}"`` outputs on ``samples[:REFERENCE_SAMPLES]``
    (skipped when ``samples`` is None). Runs in a Keras 3 process."""
    if not weights.is_file():
        raise ConversionError(f"weights file {weights} does not exist: give the .keras file "
                              f"of a {architecture!r} model, or None for fresh weights")
    from edgeface.models import create_model

    model = create_model(architecture, **arch_kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(str(weights))
        except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, OSError, KeyError...
            raise ConversionError(
                f"weights file {weights} does not fit architecture {architecture!r} with "
                f"arch_kwargs {arch_kwargs}: {type(exc).__name__}: {_first_line(exc)}. Give "
                "the .keras file of a model built by create_model() with these arguments"
            ) from exc
    skipped = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)
               or "could not be loaded" in str(w.message)]
    if skipped:
        raise ConversionError(f"weights file {weights} left some layers of {architecture!r} "
                              f"unloaded ({_first_line(skipped[0])}): it is not a model of "
                              f"this architecture and arch_kwargs {arch_kwargs}")
    arrays: dict[str, np.ndarray] = {}
    for layer in model.layers:
        for i, value in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{i}"] = np.asarray(value)
    if samples is not None:
        expected = tuple(model.inputs[0].shape[1:])
        if tuple(samples.shape[1:]) != expected:
            raise ConversionError(f"data has samples of shape {tuple(samples.shape[1:])} but "
                                  f"{architecture!r} with {arch_kwargs} takes {expected}")
        reference = np.asarray(samples[:REFERENCE_SAMPLES], np.float32)
        outputs = model(reference, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for j, output in enumerate(outputs):
            arrays[f"__reference__/{j}"] = np.asarray(output)
    npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez(npz, **arrays)


def _check_arguments(architecture, arch_kwargs, steps, batch_size, learning_rate, io_type,
                     timeout_s) -> None:
    from edgeface.models import list_models

    if architecture not in list_models():
        raise ConversionError(f"unknown architecture {architecture!r}: choose one of "
                              f"{', '.join(list_models())}")
    if "keras" in arch_kwargs:
        raise ConversionError("arch_kwargs must not set 'keras': QAT chooses the Keras flavour")
    try:
        json.dumps(arch_kwargs)
    except TypeError as exc:
        raise ConversionError(f"arch_kwargs must be JSON values (they go to a child process): "
                              f"{exc}") from exc
    if io_type not in IO_TYPES:
        raise ConversionError(f"io_type {io_type!r} is not one of {', '.join(IO_TYPES)}")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConversionError(f"{name} must be a positive integer, not {value!r}")
    if not learning_rate > 0:
        raise ConversionError(f"learning_rate must be > 0, not {learning_rate!r}")
    if not timeout_s > 0:
        raise ConversionError(f"timeout_s must be > 0, not {timeout_s!r}")


def _run_child(command: list[str], timeout_s: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConversionError(f"quantization-aware training did not finish within {timeout_s:g} s "
                              f"and was stopped: give fewer steps or a larger timeout_s"
                              f"{_tail(exc.stderr)}") from None
    summary = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            summary = json.loads(line[len(RESULT_MARKER):])
    if summary is not None and summary.get("ok") and proc.returncode == 0:
        return summary
    if summary is not None and not summary.get("ok"):
        kind = getattr(_errors, str(summary.get("kind")), ConversionError)
        if not (isinstance(kind, type) and issubclass(kind, EdgefaceError)):
            kind = ConversionError
        raise kind(summary["error"])
    raise ConversionError(f"the quantization-aware training process failed (exit code "
                          f"{proc.returncode}){_tail(proc.stderr)}")


def _tail(stderr: str | bytes | None) -> str:
    if not stderr:
        return ""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    lines = [line if len(line) <= 400 else line[:400] + " ..." for line in lines]
    return "; its last stderr lines:\n" + "\n".join(lines[-STDERR_TAIL_LINES:])


def _first_line(message: object) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else ""


def _load_data(path: Path, mmap: bool = False) -> np.ndarray:
    if not path.is_file():
        raise ConversionError(f"data file {path} does not exist: give a .npy of normalised "
                              "NHWC float32 inputs")
    try:
        samples = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ConversionError(f"data file {path} is not a readable .npy array: "
                              f"{_first_line(exc)}") from exc
    if not isinstance(samples, np.ndarray) or samples.ndim != 4 or samples.shape[0] < 1:
        raise ConversionError(f"data file {path} must hold an (N, H, W, C) array of samples, "
                              f"not shape {getattr(samples, 'shape', None)}")
    if samples.dtype.kind != "f":
        raise ConversionError(f"data file {path} holds {samples.dtype}: give normalised float32 "
                              "inputs (what the model takes), not raw pixels")
    return samples


# --------------------------------------------------------------------------- child


def main(argv: Sequence[str] | None = None) -> int:
    """The worker: ``python -m edgeface.quantization.qat`` (run by :func:`qat_to_tflite`).

    Prints one line ``EDGEFACE_QAT_RESULT {json}`` on stdout: the summary with
    ``"ok": true``, or ``"ok": false`` with ``error`` and ``kind`` (exit code 2).
    """
    parser = argparse.ArgumentParser(prog="python -m edgeface.quantization.qat",
                                     description="Quantization-aware training worker.")
    parser.add_argument("--architecture", required=True)
    parser.add_argument("--arch-kwargs", default="{}", help="JSON object")
    parser.add_argument("--weights-npz", type=Path, default=None,
                        help="handoff file from export_weights_npz(); omit for fresh weights")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--io-type", choices=IO_TYPES, default="float32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # tfmot needs tf_keras behind tf.keras; must be set before tensorflow is imported.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    try:
        summary = _train_and_convert(args)
    except EdgefaceError as exc:
        print(RESULT_MARKER + json.dumps({"ok": False, "error": str(exc),
                                          "kind": type(exc).__name__}), flush=True)
        return 2
    print(RESULT_MARKER + json.dumps({"ok": True, **summary}), flush=True)
    return 0


def _train_and_convert(args) -> dict[str, Any]:
    """The worker's job: build the float teacher and its quantized student, calibrate,
    distill, convert to TFLite, and measure the result against the teacher."""
    timings: dict[str, float] = {}
    with _timed(timings, "build"):
        arch_kwargs = _arch_kwargs(args.arch_kwargs)
        samples = np.ascontiguousarray(_load_data(args.data), dtype=np.float32)
        teacher = _teacher(args, arch_kwargs, samples)
        student = _quantize(teacher)
        output_names = list(teacher.output_names)

    with _timed(timings, "calibrate"):
        targets = _as_list(teacher.predict(samples, batch_size=64, verbose=0))
        calibration = samples[:CALIBRATION_SAMPLES]
        _calibrate_ranges(student, teacher, calibration)
        loss = _distillation_loss(targets)
        measure = _loss_on(student, loss, calibration, targets)
        # One training-mode pass without an update sets the weight quantizers' ranges (tfmot
        # computes them in training mode only) before the first measurement.
        student(calibration[:args.batch_size], training=True)
        loss_first = measure()

    with _timed(timings, "train"):
        step_losses = _distill(student, loss, samples, targets, args)
        loss_last = measure()

    with _timed(timings, "convert"):
        tflite = _convert(student, teacher, samples, args.io_type)
        from edgeface.fsutil import atomic_write_bytes

        atomic_write_bytes(args.out, tflite)

    with _timed(timings, "evaluate"):
        count = min(EVAL_SAMPLES, len(samples))
        cosines, float_ops = _evaluate(tflite, samples[:count], [t[:count] for t in targets],
                                       output_names, teacher.input_names[0])
    return {"tflite": str(args.out.resolve()), "size_bytes": len(tflite), "steps": args.steps,
            "loss_first": loss_first, "loss_last": loss_last,
            "cosine": min(cosines.values()), "cosine_per_output": cosines,
            "full_int8": not float_ops, "float_ops": float_ops,
            "step_losses": step_losses,
            "timings": {k: round(v, 3) for k, v in timings.items()}}


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the seconds the block took as ``timings[name]``."""
    clock = time.monotonic()
    yield
    timings[name] = time.monotonic() - clock


def _arch_kwargs(text: str) -> dict[str, Any]:
    try:
        arch_kwargs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConversionError(f"--arch-kwargs is not JSON: {exc}") from exc
    if not isinstance(arch_kwargs, dict):
        raise ConversionError("--arch-kwargs must be a JSON object")
    return arch_kwargs


def _teacher(args, arch_kwargs: dict[str, Any], samples: np.ndarray):
    """The float tf_keras model QAT starts from (with the parent's weights when given),
    checked against the data and the layers tfmot can quantize."""
    import tf_keras

    from edgeface.models import create_model

    tf_keras.utils.set_random_seed(args.seed)
    teacher = create_model(args.architecture, keras=tf_keras, **arch_kwargs)
    if len(teacher.inputs) != 1:
        raise ConversionError(f"{args.architecture!r} has {len(teacher.inputs)} inputs: QAT "
                              "here handles single-input models")
    expected = tuple(teacher.inputs[0].shape[1:])
    if tuple(samples.shape[1:]) != expected:
        raise ConversionError(f"data has samples of shape {tuple(samples.shape[1:])} but "
                              f"{args.architecture!r} with {arch_kwargs} takes {expected}")
    _check_supported(teacher, args.architecture)
    if args.weights_npz is not None:
        _load_weights_npz(teacher, args.weights_npz, samples)
    return teacher


def _distillation_loss(targets: list[np.ndarray]):
    """loss(outputs, wanted): per output, 1 - cosine for embeddings (2-D), else the squared
    error scaled by the teacher output's variance, summed over outputs."""
    import tensorflow as tf

    scales = [None if t.ndim == 2 else max(float(np.var(t)), 1e-12) for t in targets]

    def loss(outputs, wanted):
        total = 0.0
        for output, target, scale in zip(outputs, wanted, scales):
            if scale is None:
                cos = tf.reduce_sum(tf.math.l2_normalize(output, -1)
                                    * tf.math.l2_normalize(target, -1), -1)
                total += tf.reduce_mean(1.0 - cos)
            else:
                total += tf.reduce_mean(tf.square(output - target)) / scale
        return total

    return loss


def _loss_on(student, loss, samples: np.ndarray, targets: list[np.ndarray]):
    """A function that measures the student's mean distillation loss on ``samples``."""
    import tensorflow as tf

    @tf.function
    def eval_step(x, *wanted):
        return loss(_as_list(student(x, training=False)), wanted)

    def measure() -> float:
        total, count = 0.0, 0
        for start in range(0, len(samples), 64):
            x = samples[start:start + 64]
            total += float(eval_step(x, *[t[start:start + 64] for t in targets])) * len(x)
            count += len(x)
        return total / count

    return measure


def _distill(student, loss, samples: np.ndarray, targets: list[np.ndarray], args) -> list[float]:
    """``args.steps`` Adam steps on shuffled batches towards the teacher's outputs; the loss
    of each step. A loss that is not finite stops the run."""
    import tensorflow as tf
    import tf_keras

    optimizer = tf_keras.optimizers.Adam(_learning_rate_schedule(args.learning_rate, args.steps))
    variables = student.trainable_variables

    @tf.function
    def train_step(x, *wanted):
        with tf.GradientTape() as tape:
            value = loss(_as_list(student(x, training=True)), wanted)
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        return value

    rng = np.random.default_rng(args.seed)
    batch = min(args.batch_size, len(samples))
    order: list[int] = []
    step_losses = []
    for _ in range(args.steps):
        if len(order) < batch:
            order += list(rng.permutation(len(samples)))
        index, order = np.sort(order[:batch]), order[batch:]
        value = float(train_step(samples[index], *[t[index] for t in targets]))
        if not np.isfinite(value):
            raise ConversionError(f"the distillation loss became {value} at step "
                                  f"{len(step_losses) + 1}: lower learning_rate "
                                  f"({args.learning_rate:g}) or check the data for NaN/inf")
        step_losses.append(value)
    return step_losses


def _learning_rate_schedule(peak: float, steps: int):
    """Linear warm-up over the first 10% of the steps (at most 50), then cosine decay to 0:
    Adam's first steps move every weight by about the learning rate at once, which
    otherwise throws a converted network off before it starts to adapt."""
    import math

    import tensorflow as tf
    import tf_keras

    warmup = max(1, min(50, steps // 10))

    class Schedule(tf_keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            ramp = tf.minimum(1.0, (step + 1.0) / warmup)
            decay = 0.5 * (1.0 + tf.cos(math.pi * tf.minimum(step / steps, 1.0)))
            return peak * ramp * decay

        def get_config(self):
            return {"peak": peak, "steps": steps}

    return Schedule()


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _check_supported(model, architecture: str) -> None:
    """Raise, naming the first layer tfmot's default 8-bit scheme cannot quantize."""
    import tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry,
    )

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    # BatchNormalization is handled by tfmot's layout transforms (folded into the
    # convolution before it), not by the registry.
    unsupported = [layer for layer in model.layers
                   if not isinstance(layer, (tf_keras.layers.InputLayer,
                                             tf_keras.layers.BatchNormalization))
                   and not registry.supports(layer)]
    if not unsupported:
        return
    first = unsupported[0]
    kinds = sorted({type(layer).__name__ for layer in unsupported})
    more = (f" (and {len(unsupported) - 1} more: {', '.join(kinds)})"
            if len(unsupported) > 1 else "")
    if architecture in INT8_VARIANTS:
        fix = (f"use {INT8_VARIANTS[architecture]!r} instead (the same network with ReLU6, "
               "which tfmot quantizes and XNNPACK runs in int8) and train or fine-tune it")
    else:
        fix = ("build it from supported layers (Conv2D, DepthwiseConv2D, BatchNormalization, "
               "ReLU/ReLU6, Dense, Add, Concatenate, pooling, Reshape)")
    raise ConversionError(
        f"architecture {architecture!r} cannot be quantization-aware trained: layer "
        f"{first.name!r} ({type(first).__name__}){more} is not supported by "
        f"tensorflow-model-optimization 0.8.1; {fix}")


def _load_weights_npz(model, npz: Path, samples: np.ndarray) -> None:
    try:
        archive = np.load(npz, allow_pickle=False)
        arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise ConversionError(f"weights handoff file {npz} is unreadable: {exc}") from exc
    used: set[str] = set()
    for layer in model.layers:
        current = layer.get_weights()
        if not current:
            continue
        keys = [f"{layer.name}/{i}" for i in range(len(current))]
        missing = [key for key in keys if key not in arrays]
        if missing:
            raise ConversionError(f"weights handoff file {npz} has no {missing[0]!r}: the "
                                  "weights are not of this architecture and arch_kwargs")
        values = [arrays[key] for key in keys]
        for key, value, have in zip(keys, values, current):
            if value.shape != have.shape:
                raise ConversionError(f"weights {key!r} have shape {value.shape}, the model "
                                      f"wants {have.shape}: architecture or arch_kwargs differ")
        layer.set_weights(values)
        used.update(keys)
    extra = sorted(k for k in arrays if k not in used and not k.startswith("__reference__/"))
    if extra:
        raise ConversionError(f"weights handoff file {npz} has {len(extra)} arrays the "
                              f"tf_keras model has no place for (first {extra[0]!r}): "
                              "architecture or arch_kwargs differ")
    references = sorted((k for k in arrays if k.startswith("__reference__/")),
                        key=lambda k: int(k.split("/")[1]))
    if references:
        x = samples[:len(arrays[references[0]])]
        outputs = _as_list(model(x, training=False))
        for key, output in zip(references, outputs):
            wanted = arrays[key]
            error = float(np.max(np.abs(np.asarray(output) - wanted)))
            scale = float(np.max(np.abs(wanted))) + 1e-6
            if error / scale > 1e-3:
                raise ConversionError(f"the tf_keras copy does not reproduce the Keras 3 model "
                                      f"(output {key.split('/')[1]}: max difference {error:.3g} "
                                      f"of {scale:.3g}): the weight transfer failed")


def _quantize(teacher):
    """The QAT student: ``teacher`` annotated whole, with its weights and its
    BatchNormalization layers frozen (``trainable=False``)."""
    import tf_keras
    import tensorflow_model_optimization as tfmot

    def clone(layer):
        new = layer.__class__.from_config(layer.get_config())
        if isinstance(new, tf_keras.layers.BatchNormalization):
            new.trainable = False
        return tfmot.quantization.keras.quantize_annotate_layer(new)

    annotated = tf_keras.models.clone_model(teacher, clone_function=clone)
    for wrapper in annotated.layers:
        layer = getattr(wrapper, "layer", wrapper)  # the layer inside QuantizeAnnotate
        if layer.weights:
            layer.set_weights(teacher.get_layer(layer.name).get_weights())
    try:
        return tfmot.quantization.keras.quantize_apply(annotated)
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(f"tensorflow-model-optimization could not quantize the model: "
                              f"{_first_line(exc)}") from exc


_RANGE_SUFFIXES = ("output_min", "output_max", "post_activation_min", "post_activation_max")


def _calibrate_ranges(student, teacher, calibration: np.ndarray) -> None:
    """Set every activation range of ``student`` to the min/max (with 0 included) of the
    matching teacher tensor over ``calibration``."""
    import tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer

    pairs: list[tuple[str | None, Any, Any]] = []  # (teacher layer or None: input, min, max)
    for layer in student.layers:
        if isinstance(layer, quantize_layer.QuantizeLayer):
            name = None
        elif hasattr(layer, "layer"):
            name = layer.layer.name
        else:
            continue
        found = {}
        for variable in layer.non_trainable_weights:
            short = variable.name.split("/")[-1].split(":")[0]
            if short.endswith("_min") or short.endswith("_max"):
                if name is None or short in _RANGE_SUFFIXES:
                    found[short[-3:]] = variable
        if set(found) == {"min", "max"}:
            if name is not None:
                try:
                    teacher.get_layer(name)
                except ValueError:
                    continue
            pairs.append((name, found["min"], found["max"]))
    names = sorted({name for name, _, _ in pairs if name is not None})
    probe = tf_keras.Model(teacher.inputs, [teacher.get_layer(n).output for n in names])
    low = {None: float(calibration.min())}
    high = {None: float(calibration.max())}
    for start in range(0, len(calibration), 32):
        outputs = _as_list(probe(calibration[start:start + 32], training=False))
        for name, output in zip(names, outputs):
            output = np.asarray(output)
            low[name] = min(low.get(name, np.inf), float(output.min()))
            high[name] = max(high.get(name, -np.inf), float(output.max()))
    for name, min_var, max_var in pairs:
        lo, hi = min(low[name], 0.0), max(high[name], 0.0)
        if hi - lo < 1e-6:
            hi = lo + 1e-3
        min_var.assign(np.full(min_var.shape, lo, np.float32))
        max_var.assign(np.full(max_var.shape, hi, np.float32))


def _convert(student, teacher, samples: np.ndarray, io_type: str) -> bytes:
    import tensorflow as tf

    input_name = teacher.input_names[0]
    output_names = list(teacher.output_names)
    spec = tf.TensorSpec([1, *samples.shape[1:]], tf.float32, name=input_name)
    holder = tf.Module()
    holder.qat_variables = list(student.variables)
    holder.serve = tf.function(
        lambda x: dict(zip(output_names, _as_list(student(x, training=False)))),
        input_signature=[spec])
    function = holder.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], holder)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    representative = samples[:REPRESENTATIVE_SAMPLES]
    converter.representative_dataset = lambda: ([representative[i:i + 1]]
                                                for i in range(len(representative)))
    dtype = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[io_type]
    converter.inference_input_type = dtype
    converter.inference_output_type = dtype
    try:
        return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises many kinds
        raise ConversionError(f"TFLite conversion of the QAT model failed: "
                              f"{type(exc).__name__}: {_first_line(exc)}") from exc


def _evaluate(tflite: bytes, samples: np.ndarray, targets: list[np.ndarray],
              output_names: list[str], input_name: str) -> tuple[dict[str, float], dict[str, int]]:
    """Mean cosine per output between the teacher and the TFLite model (dequantized), and
    the ops with float activations other than the io QUANTIZE/DEQUANTIZE."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=tflite)
    runner = interpreter.get_signature_runner()
    inputs = runner.get_input_details()
    key = input_name if input_name in inputs else next(iter(inputs))
    detail = inputs[key]
    outputs = runner.get_output_details()
    sums = {name: 0.0 for name in output_names}
    for i in range(len(samples)):
        x = samples[i:i + 1]
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(detail["dtype"])
        result = runner(**{key: x})
        for name, target in zip(output_names, targets):
            value = np.asarray(result[name])
            scale, zero = outputs[name]["quantization"]
            if value.dtype != np.float32:
                value = (value.astype(np.float32) - zero) * scale
            a, b = value.reshape(-1).astype(np.float64), target[i].reshape(-1).astype(np.float64)
            sums[name] += float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    cosines = {name: sums[name] / len(samples) for name in output_names}

    # The model's own ops, without the DELEGATE nodes XNNPACK adds (their boundary tensors
    # include the float model inputs and outputs).
    plain = Interpreter(model_content=tflite,
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    tensors = {t["index"]: t for t in plain.get_tensor_details()}
    float_ops: dict[str, int] = {}
    for op in plain._get_ops_details():  # noqa: SLF001 - the only op listing LiteRT has
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        indices = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0]
        if any(tensors[i]["dtype"] in (np.float32, np.float16) for i in indices if i in tensors):
            float_ops[op["op_name"]] = float_ops.get(op["op_name"], 0) + 1
    return cosines, float_ops


if __name__ == "__main__":
    sys.exit(main())
