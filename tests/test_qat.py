"""Quantization-aware training (edgeface.quantization.qat), end to end through its child
process, on MobileFaceNet-int8 at 32x32 with a Keras 3 weights file.

Never import tensorflow_model_optimization in this process: it would switch the whole
pytest process to legacy Keras (docs/architecture.md, "Facts about the dependencies");
that is why QAT runs in a child.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

from edgeface.errors import ConversionError, GalleryError
from edgeface.quantization import qat
from edgeface.quantization.qat import QatResult, qat_to_tflite

TOOLCHAIN = ("tensorflow", "keras", "tf_keras", "tensorflow_model_optimization")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in TOOLCHAIN),
                       reason="needs the toolchain: tensorflow, tf_keras, "
                              "tensorflow-model-optimization"),
]

SIZE = 32  # mobilefacenet(input_size=32): 2x2 before the GDConv head
SAMPLES = 64
ARCH_KWARGS = {"input_size": SIZE}


def structured_inputs(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Normalised NHWC float32 in [-1, 1]: random plane waves per channel plus noise (image
    -like spatial structure, unlike white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        freq = rng.uniform(0.5, 3.0, (3, 2))
        phase = rng.uniform(0.0, 2 * np.pi, 3)
        for c in range(3):
            out[i, :, :, c] = np.sin(2 * np.pi * (freq[c, 0] * xx + freq[c, 1] * yy) + phase[c])
        out[i] = 0.8 * out[i] + 0.2 * rng.standard_normal((size, size, 3))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def settle_batchnorm(model, x: np.ndarray, floor: float = 0.15) -> None:
    """A stand-in for training: set every BatchNormalization's moving statistics from the
    data (one training-mode pass with momentum 0), then add ``floor`` x the mean variance
    to each variance. Without the floor, near-constant channels of a random network are
    divided by ~0 and int8 noise swamps the embedding (PTQ cosine ~0.83); with 0.15, PTQ
    gets ~0.99, leaving QAT something to recover, as with a trained network."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in norms:
        layer.momentum = 0.99
        gamma, beta, mean, variance = layer.get_weights()
        layer.set_weights([gamma, beta, mean, variance + floor * variance.mean()])


@pytest.fixture(scope="module")
def float_model(tmp_path_factory):
    """(Keras 3 model, inputs, its .keras file, the inputs' .npy file)."""
    import keras

    from edgeface.models import create_model

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("qat")
    x = structured_inputs(SAMPLES, SIZE)
    model = create_model("mobilefacenet_int8", **ARCH_KWARGS)
    settle_batchnorm(model, x)
    weights = root / "mobilefacenet_int8.keras"
    model.save(weights)
    data = root / "data.npy"
    np.save(data, x)
    return model, x, weights, data


def tflite_cosine(model_bytes: bytes, reference: np.ndarray, x: np.ndarray) -> float:
    """Mean cosine between a one-output TFLite model (any io type) and ``reference``."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    cosines = []
    for i in range(len(x)):
        sample = x[i:i + 1]
        if source["dtype"] != np.float32:
            scale, zero = source["quantization"]
            sample = np.clip(np.round(sample / scale) + zero, -128, 127).astype(source["dtype"])
        interpreter.set_tensor(source["index"], sample)
        interpreter.invoke()
        value = interpreter.get_tensor(sink["index"]).astype(np.float32).ravel()
        if sink["dtype"] != np.float32:
            scale, zero = sink["quantization"]
            value = (value - zero) * scale
        want = reference[i].ravel()
        cosines.append(float(value @ want / (np.linalg.norm(value) * np.linalg.norm(want))))
    return float(np.mean(cosines))


def ptq_int8(model, x: np.ndarray) -> bytes:
    """Plain post-training full-int8 of the Keras 3 model, calibrated on the same data."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def test_qat_mobilefacenet_int8_is_full_int8_and_tracks_the_teacher(float_model, tmp_path):
    model, x, weights, data = float_model
    out = tmp_path / "models" / "qat.tflite"
    result = qat_to_tflite("mobilefacenet_int8", ARCH_KWARGS, weights, data, out, steps=30,
                           batch_size=16, learning_rate=3e-5, io_type="int8", seed=0,
                           timeout_s=900)
    assert isinstance(result, QatResult)
    assert result.tflite == out.resolve() and out.stat().st_size == result.size_bytes
    assert result.steps == 30 and len(result.step_losses) == 30
    assert not list(out.parent.glob(".*.tmp"))  # written atomically

    # Full int8: int8 io, every convolution's weights int8, no float op inside.
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(out))
    interpreter.allocate_tensors()
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    convs = [op for op in interpreter._get_ops_details()
             if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert len(convs) > 40
    assert all(tensors[op["inputs"][1]]["dtype"] == np.int8 for op in convs)
    assert result.full_int8 and result.float_ops == {}

    assert result.loss_last < result.loss_first
    assert result.cosine >= 0.98

    # The child's cosine (against its tf_keras teacher) re-measured here against the Keras
    # 3 model itself: also proves the weights crossed the process boundary intact.
    reference = model.predict(x, verbose=0)
    qat_cosine = tflite_cosine(out.read_bytes(), reference, x)
    ptq_cosine = tflite_cosine(ptq_int8(model, x), reference, x)
    print(f"\nQAT int8 cosine to float teacher: {result.cosine:.4f} (child) / "
          f"{qat_cosine:.4f} (parent); plain PTQ int8: {ptq_cosine:.4f}; distillation loss "
          f"{result.loss_first:.4f} -> {result.loss_last:.4f} in {result.steps} steps; "
          f"{result.seconds:.1f} s {json.dumps(result.timings)}")
    assert abs(qat_cosine - result.cosine) < 2e-3
    assert qat_cosine >= ptq_cosine - 0.005


def test_prelu_architecture_is_refused_naming_the_layer_and_the_fix(tmp_path):
    data = tmp_path / "data.npy"
    np.save(data, structured_inputs(4, SIZE))
    out = tmp_path / "prelu.tflite"
    with pytest.raises(ConversionError, match="PReLU") as caught:
        qat_to_tflite("mobilefacenet", ARCH_KWARGS, None, data, out, steps=2, timeout_s=300)
    message = str(caught.value)
    assert "stem_prelu" in message and "'mobilefacenet_int8'" in message
    assert not out.exists()


def test_weights_of_another_shape_are_refused_before_the_child(float_model, tmp_path):
    _, _, weights, data = float_model
    with pytest.raises(ConversionError, match="does not fit architecture"):
        qat_to_tflite("mobilefacenet_int8", {**ARCH_KWARGS, "embedding_size": 64}, weights,
                      data, tmp_path / "x.tflite")
    with pytest.raises(ConversionError, match="takes"):
        other = tmp_path / "small.npy"
        np.save(other, structured_inputs(2, 16))
        qat_to_tflite("mobilefacenet_int8", ARCH_KWARGS, weights, other, tmp_path / "x.tflite")


@pytest.mark.parametrize("kwargs, match", [
    ({"architecture": "resnet"}, "unknown architecture"),
    ({"io_type": "int16"}, "io_type"),
    ({"steps": 0}, "steps"),
    ({"arch_kwargs": {"keras": "tf_keras"}}, "keras"),
    ({"data": "missing.npy"}, "does not exist"),
    ({"data": "pixels.npy"}, "uint8"),
    ({"weights": "missing.keras"}, "does not exist"),
])
def test_bad_arguments_are_refused_before_the_child(tmp_path, kwargs, match):
    np.save(tmp_path / "ok.npy", np.zeros((2, SIZE, SIZE, 3), np.float32))
    np.save(tmp_path / "pixels.npy", np.zeros((2, SIZE, SIZE, 3), np.uint8))
    args = {"architecture": "mobilefacenet_int8", "arch_kwargs": ARCH_KWARGS, "weights": None,
            "data": "ok.npy", "out": tmp_path / "x.tflite"}
    args.update(kwargs)
    args["data"] = tmp_path / args["data"]
    if args["weights"] is not None:
        args["weights"] = tmp_path / args["weights"]
    with pytest.raises(ConversionError, match=match):
        qat_to_tflite(**args)


def test_child_failures_become_errors_with_the_child_stderr():
    crash = [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]
    with pytest.raises(ConversionError, match=r"exit code 3\)(.|\n)*boom"):
        qat._run_child(crash, timeout_s=60)
    refusal = [sys.executable, "-c", "print('noise'); print(" + repr(
        qat.RESULT_MARKER + json.dumps({"ok": False, "error": "bad gallery",
                                        "kind": "GalleryError"})) + ")"]
    with pytest.raises(GalleryError, match="bad gallery"):
        qat._run_child(refusal, timeout_s=60)
    hang = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(ConversionError, match="did not finish within 1 s"):
        qat._run_child(hang, timeout_s=1)
