"""Calibration sets, the fidelity report and gate, and XNNPACK delegate coverage.

The models are tiny Keras nets (32x32 inputs) built and converted here: no network."""

import json
import math
import warnings

import numpy as np
import pytest

from edgeface.bundle import InputSpec
from edgeface.errors import EdgefaceError, ImageError, ModelLoadError
from edgeface.image import read_image
from edgeface.preprocess import Preprocessor
from edgeface.results import Detections
from edgeface.quantization.calibration import (CalibrationError, calibration_from_images,
                                               calibration_from_npy, default_spec, face_chips,
                                               face_images, find_images, sample_indices)
from edgeface.quantization.coverage import _table_supported, delegate_coverage
from edgeface.quantization.fidelity import (FidelityError, FidelityReport, align_outputs,
                                            compare_outputs, detector_fidelity, embedder_fidelity,
                                            match_outputs, run_model)

# ---------------------------------------------------------------- match_outputs


def test_match_outputs_reordered_and_renamed_by_unique_shape():
    src = [("boxes", (1, 896, 16)), ("scores", (1, 896, 1))]
    dst = [("StatefulPartitionedCall:1", (1, 896, 1)), ("StatefulPartitionedCall:0", (1, 896, 16))]
    assert match_outputs(src, dst) == [(0, 1, None), (1, 0, None)]


def test_match_outputs_prefers_exact_names_over_shapes():
    src = [("a", (1, 8)), ("b", (1, 8))]
    dst = [("b", (1, 8)), ("a", (1, 8))]
    assert match_outputs(src, dst) == [(0, 1, None), (1, 0, None)]


def test_match_outputs_transposed_4d_output_and_alignment():
    rng = np.random.default_rng(0)
    feat = rng.standard_normal((1, 16, 4, 6)).astype(np.float32)  # NCHW in the source
    emb = rng.standard_normal((1, 32)).astype(np.float32)
    src = [("feat", feat.shape), ("emb", emb.shape)]
    dst = [("Identity", (1, 32)), ("Identity_1", (1, 4, 6, 16))]  # onnx2tf made it NHWC
    matches = match_outputs(src, dst)
    assert matches == [(0, 1, (0, 3, 1, 2)), (1, 0, None)]
    got = [emb, np.transpose(feat, (0, 2, 3, 1))]
    aligned = align_outputs(got, matches)
    np.testing.assert_array_equal(aligned[0], feat)
    np.testing.assert_array_equal(aligned[1], emb)


def test_match_outputs_same_name_transposed_and_dynamic_batch():
    assert match_outputs([("x", (-1, 3, 8, 8))], [("x", (1, 8, 8, 3))]) == [(0, 0, (0, 3, 1, 2))]
    assert match_outputs([("e", (None, 128))], [("out", (1, 128))]) == [(0, 0, None)]


def test_match_outputs_ambiguous_and_impossible_raise_naming_shapes():
    with pytest.raises(FidelityError, match=r"\(1, 8\)"):
        match_outputs([("a", (1, 8)), ("b", (1, 8))], [("x", (1, 8)), ("y", (1, 8))])
    with pytest.raises(FidelityError, match="2 outputs.*1"):
        match_outputs([("a", (1, 8)), ("b", (1, 4))], [("x", (1, 8))])
    with pytest.raises(FidelityError, match=r"no converted output fits .*\(1, 5\)"):
        match_outputs([("a", (1, 8)), ("b", (1, 5))], [("x", (1, 8)), ("y", (1, 6))])
    with pytest.raises(FidelityError, match=r"'x'.*\(1, 8\).*\(1, 9\)"):
        match_outputs([("x", (1, 8))], [("x", (1, 9))])


# ---------------------------------------------------------------- compare_outputs


def test_compare_outputs_hand_worked():
    ref = [np.array([[1.0, 0.0], [0.0, 1.0]])]
    got = [np.array([[1.0, 0.0], [1.0, 1.0]])]
    (out,) = compare_outputs(ref, got, names=["emb"])
    assert out.name == "emb" and out.shape == [2, 2]
    assert out.max_abs_err == pytest.approx(1.0) and out.mean_abs_err == pytest.approx(0.25)
    assert out.cosine_worst == pytest.approx(1 / math.sqrt(2))
    assert out.cosine_mean == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    report = FidelityReport("m.tflite", "int8", 123, [out])
    assert report.gate(0.3, None) == []
    (failure,) = report.gate(0.2, None)
    assert "output 'emb' cosine worst 0.7071 < 1 - 0.2" in failure


def test_sign_flipped_output_always_fails():
    ref = np.random.default_rng(1).standard_normal((4, 3, 5)).astype(np.float32)
    (out,) = compare_outputs([ref], [-ref], names=["scores"])
    assert out.cosine_worst == pytest.approx(-1.0) and out.cosine_mean == pytest.approx(-1.0)
    report = FidelityReport("m.tflite", "int16x8", 1, [out])
    assert any("'scores'" in f and "cosine" in f for f in report.gate(0.02, None))
    assert any("sign-flipped" in f for f in report.gate(None, None))  # even without thresholds


def test_non_finite_output_fails_and_report_stays_json():
    ref = np.ones((2, 4), np.float32)
    got = ref.copy()
    got[1, 2] = np.nan
    (out,) = compare_outputs([ref], [got])
    assert not out.finite and out.cosine_worst <= 0
    report = FidelityReport("m.tflite", "int8", 1, [out])
    assert any("NaN" in f for f in report.gate(0.5, None))
    json.loads(json.dumps(report.to_dict(), allow_nan=False))


def test_compare_outputs_needs_aligned_shapes():
    with pytest.raises(FidelityError, match="align_outputs"):
        compare_outputs([np.zeros((1, 4, 4, 3))], [np.zeros((1, 3, 4, 4))])


# ---------------------------------------------------------------- embedder_fidelity


def test_embedder_fidelity_hand_worked():
    s = 1 / math.sqrt(2)
    ref = np.array([[1, 0], [0, 1], [s, s]])
    got = np.array([[3, 0], [0, 2], [1, 0.5]])  # scale does not matter; the third one moved
    fid = embedder_fidelity(ref, got, threshold=0.6)
    # pairs (1,2) 0 -> 0 same, (1,3) 0.707 -> 0.894 same, (2,3) 0.707 -> 0.447: flips
    assert (fid.samples, fid.pairs, fid.flips) == (3, 3, 1)
    assert fid.flip_fraction == pytest.approx(1 / 3)
    third = 1.5 / (math.sqrt(2) * math.sqrt(1.25))
    assert fid.cosine_worst == pytest.approx(third)
    assert fid.cosine_mean == pytest.approx((2 + third) / 3)
    assert fid.max_pair_delta == pytest.approx(s - 0.5 / math.sqrt(1.25))
    report = FidelityReport("e.tflite", "int8", 1, [], embedder=fid)
    failures = report.gate(0.02, None, max_flip_fraction=0.1)
    assert any("embedding cosine worst 0.9487 < 1 - 0.02" in f for f in failures)
    assert any("1 of 3 same/different decisions" in f for f in failures)
    assert report.gate(0.06, None) == []


def test_embedder_fidelity_identical_and_sign_flip():
    ref = np.random.default_rng(2).standard_normal((6, 8))
    same = embedder_fidelity(ref, ref.copy(), 0.3)
    assert same.cosine_worst == pytest.approx(1.0) and same.flips == 0 and same.pairs == 15
    flipped = embedder_fidelity(ref, -ref, 0.3)
    assert flipped.cosine_worst == pytest.approx(-1.0)
    assert flipped.flips == 0  # pair similarities survive a global sign flip...
    assert FidelityReport("e", "int8", 1, [], embedder=flipped).gate(None, None)  # ...the gate does not
    with pytest.raises(FidelityError):
        embedder_fidelity(ref, ref[:, :4], 0.3)


# ---------------------------------------------------------------- detector_fidelity


def dets(boxes, scores=None, keypoints=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    k = len(boxes)
    scores = np.full(k, 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    keypoints = (np.zeros((k, 2, 2), np.float32) if keypoints is None
                 else np.asarray(keypoints, np.float32).reshape(k, -1, 2))
    return Detections(boxes, scores, keypoints)


def test_detector_fidelity_hand_worked():
    ref = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [[[2, 2], [8, 2]], [[22, 22], [28, 22]]]),
           dets([])]
    got = [dets([[0, 0, 10, 5], [50, 50, 60, 60]], [0.7, 0.6], [[[2, 3], [8, 2]], [[0, 0], [0, 0]]]),
           dets([])]
    fid = detector_fidelity(ref, got)
    assert (fid.images, fid.ref_faces, fid.got_faces) == (2, 2, 2)
    assert (fid.matched, fid.missed, fid.extra) == (1, 1, 1)
    assert fid.mean_iou == pytest.approx(0.5) and fid.min_iou == pytest.approx(0.5)  # 50 / 100
    assert fid.keypoint_error_mean == pytest.approx(0.05)  # (1 + 0) / 2 / sqrt(100)
    assert fid.keypoint_error_max == pytest.approx(0.1)
    assert fid.score_delta_max == pytest.approx(0.2)
    failures = FidelityReport("d.tflite", "int8", 1, [], detector=fid).gate(None, 0.8)
    assert "detector: 1 face missed (of 2 the source found)" in failures
    assert "detector: 1 extra face the source did not find" in failures
    assert any("min IoU 0.500 < 0.8" in f for f in failures)


def test_detector_fidelity_greedy_takes_best_overlap_first():
    ref = [dets([[0, 0, 10, 10], [2, 0, 12, 10]])]
    got = [dets([[2, 0, 12, 10]])]  # identical to the second source box
    fid = detector_fidelity(ref, got)
    assert (fid.matched, fid.missed, fid.extra) == (1, 1, 0)
    assert fid.min_iou == pytest.approx(1.0)
    below = detector_fidelity([dets([[0, 0, 10, 10]])], [dets([[5, 0, 15, 10]])])  # IoU 1/3
    assert (below.matched, below.missed, below.extra, below.min_iou) == (0, 1, 1, None)
    perfect = detector_fidelity(ref, [dets([[0, 0, 10, 10], [2, 0, 12, 10]])])
    report = FidelityReport("d", "float32", 1, [], detector=perfect)
    assert report.gate(0.01, 0.9) == []
    json.dumps(report.to_dict())
    with pytest.raises(FidelityError, match="same images"):
        detector_fidelity(ref, [])


# ---------------------------------------------------------------- calibration


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "calib"
    (folder / "sub").mkdir(parents=True)
    names = ["a.png", "b.png", "sub/c.png", "sub/d.PNG", "e.png", "f.png"]
    for i, name in enumerate(names):
        size = (40 + 7 * i, 30 + 5 * i)
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_calibration_from_images_matches_sdk_and_is_deterministic(image_folder):
    files = find_images(image_folder)
    assert len(files) == 6
    spec = default_spec(32, 32)
    batch = calibration_from_images(image_folder, spec, size=4, seed=7)
    assert batch.shape == (4, 32, 32, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, calibration_from_images(image_folder, spec, size=4, seed=7))
    pre = Preprocessor(spec)
    for row, i in zip(batch, sample_indices(6, 4, 7)):
        np.testing.assert_array_equal(row, pre(read_image(files[i]))[0][0])
    assert calibration_from_images(image_folder, spec, size=100, seed=0).shape[0] == 6  # all there is


def test_calibration_from_images_other_specs(image_folder):
    files = find_images(image_folder)
    letterbox = InputSpec(height=24, width=40, layout="NHWC", dtype="float32", channel_order="BGR",
                          mean=(10.0, 20.0, 30.0), std=(50.0, 60.0, 70.0), resize="letterbox", pad="corner")
    batch = calibration_from_images(files[:3], letterbox, size=3, seed=0)
    for row, path in zip(batch, files[:3]):
        np.testing.assert_array_equal(row, Preprocessor(letterbox)(read_image(path))[0][0])
    nchw = default_spec(16, 20, layout="NCHW")
    batch = calibration_from_images(image_folder, nchw, size=2, seed=3)
    assert batch.shape == (2, 16, 20, 3)  # always NHWC
    for row, i in zip(batch, sample_indices(6, 2, 3)):
        np.testing.assert_array_equal(row, np.moveaxis(Preprocessor(nchw)(read_image(files[i]))[0][0], 0, -1))


def test_calibration_from_images_errors_name_the_path(tmp_path, image_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="empty"):
        calibration_from_images(tmp_path / "empty", default_spec(8, 8), 4, 0)
    bad = image_folder / "sub" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match="broken.jpg"):
        calibration_from_images(image_folder, default_spec(8, 8), 100, 0)
    with pytest.raises(CalibrationError, match="nowhere"):
        calibration_from_images(tmp_path / "nowhere", default_spec(8, 8), 4, 0)
    with pytest.raises(CalibrationError, match="at least 1"):
        calibration_from_images(image_folder, default_spec(8, 8), 0, 0)


def test_calibration_from_npy_nhwc_and_nchw(tmp_path):
    data = np.random.default_rng(3).standard_normal((10, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "nhwc.npy", data)
    np.save(tmp_path / "nchw.npy", np.moveaxis(data, -1, 1).astype(np.float64))
    expected = data[sample_indices(10, 4, 5)]
    a = calibration_from_npy(tmp_path / "nhwc.npy", 4, 5, (32, 32, 3))
    b = calibration_from_npy(tmp_path / "nchw.npy", 4, 5, (32, 32, 3))
    assert a.dtype == np.float32 and a.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(a, expected)
    np.testing.assert_array_equal(b, expected)
    with pytest.raises(CalibrationError, match=r"\(N, 16, 16, 3\)"):
        calibration_from_npy(tmp_path / "nhwc.npy", 4, 5, (16, 16, 3))
    with pytest.raises(CalibrationError, match="missing.npy"):
        calibration_from_npy(tmp_path / "missing.npy", 4, 5, (32, 32, 3))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(CalibrationError, match="junk.npy"):
        calibration_from_npy(tmp_path / "junk.npy", 4, 5, (32, 32, 3))


def test_default_spec():
    spec = default_spec(112, 96)
    assert (spec.height, spec.width, spec.layout, spec.resize) == (112, 96, "NHWC", "stretch")
    assert spec.mean == (127.5,) * 3 and spec.std == (127.5,) * 3
    with pytest.raises(CalibrationError):
        default_spec(8, 8, layout="NWHC")


def test_face_images_and_chips():
    images = face_images()
    assert len(images) == 101
    assert images[0].shape == (512, 512, 3) and images[0].dtype == np.uint8
    assert all(im.shape == (25, 25, 3) and im.dtype == np.uint8 for im in images[1:])
    chips = face_chips((40, 32))
    assert chips.shape == (101, 40, 32, 3) and chips.dtype == np.uint8
    assert not np.array_equal(chips[0, ..., 0], chips[0, ..., 2])  # the astronaut is in colour
    np.testing.assert_array_equal(chips[1, ..., 0], chips[1, ..., 2])  # LFW is grey
    assert chips.std() > 20  # real content, not a flat fill


# ---------------------------------------------------------------- tiny TF models


@pytest.fixture(scope="module")
def tf_models():
    """Tiny Keras nets and their TFLite conversions, built once for the module."""
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    layers = keras.layers

    def net(act, head=None):
        keras.utils.set_random_seed(0)
        inp = keras.Input((32, 32, 3), batch_size=1)
        x = inp
        for filters in (8, 16):
            x = layers.Conv2D(filters, 3, strides=2, padding="same")(x)
            x = layers.PReLU(shared_axes=[1, 2])(x) if act == "prelu" else layers.ReLU(6.0)(x)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(16, name="embedding")(x)
        if head == "l2":
            x = layers.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))(x)
        elif head == "unit":
            x = layers.UnitNormalization()(x)
        return keras.Model(inp, x)

    chips = face_chips((32, 32))
    pre = Preprocessor(default_spec(32, 32))
    faces = np.stack([pre(c)[0][0].copy() for c in chips])

    def convert(model, int8=True):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if int8:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([f[None]] for f in faces[:40])
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
            return conv.convert()

    relu6 = net("relu6")
    tampered = keras.models.clone_model(relu6)
    tampered.set_weights(relu6.get_weights())
    dense = tampered.get_layer("embedding")
    dense.set_weights([-w for w in dense.get_weights()])
    return {
        "faces": faces,
        "source": relu6,
        "relu6_int8": convert(relu6),
        "relu6_fp32": convert(relu6, int8=False),
        "tampered_int8": convert(tampered),
        "prelu_int8": convert(net("prelu")),
        "l2_int8": convert(net("relu6", "l2")),
        "unit_int8": convert(net("relu6", "unit")),
    }


# ---------------------------------------------------------------- delegate coverage


@pytest.mark.slow
def test_int8_prelu_is_not_delegated_and_splits_the_graph(tf_models):
    report = delegate_coverage(tf_models["prelu_int8"], "prelu.tflite")
    assert report.method == "interpreter" and report.precision == "int8"
    assert [o.op for o in report.undelegated] == ["PRELU", "PRELU"]
    assert all(o.dtype == "int8" for o in report.undelegated)
    # QUANTIZE CONV | PRELU | CONV | PRELU | MEAN FC DEQUANTIZE
    assert report.total_ops == 8 and report.delegated_ops == 6
    assert report.delegate_partitions == 3 and report.partitions == 5
    assert [r.delegated for r in report.runs] == [True, False, True, False, True]
    assert not report.fully_delegated and report.float_islands == []
    assert "PRELU int8 x2" in report.summary() and "5 part(s)" in report.summary()
    assert report.ops_by_type["PRELU int8"] == 2
    data = json.loads(json.dumps(report.to_dict()))
    assert [u["op"] for u in data["undelegated"]] == ["PRELU", "PRELU"]


@pytest.mark.slow
def test_int8_relu6_is_fully_delegated(tf_models):
    report = delegate_coverage(tf_models["relu6_int8"])
    assert report.fully_delegated and report.partitions == 1 and report.delegate_partitions == 1
    assert report.precision == "int8" and report.float_islands == []
    assert "fully delegated" in report.summary()
    fp32 = delegate_coverage(tf_models["relu6_fp32"])
    assert fp32.precision == "float32" and fp32.fully_delegated and fp32.float_islands == []


@pytest.mark.slow
def test_int8_l2_normalize_runs_off_xnnpack(tf_models):
    # tf.math.l2_normalize becomes one int8 L2_NORMALIZATION op: no float island, but
    # XNNPACK does not take it, so the tail leaves the delegate.
    report = delegate_coverage(tf_models["l2_int8"])
    assert [(o.op, o.dtype) for o in report.undelegated] == [("L2_NORMALIZATION", "int8")]
    assert report.partitions == 3 and report.float_islands == []


@pytest.mark.slow
def test_int8_unit_normalization_leaves_a_float_island(tf_models):
    # keras UnitNormalization is lowered to SQUARE/SUM/RSQRT/MINIMUM/MUL; the converter
    # keeps SQUARE in float between a DEQUANTIZE and a QUANTIZE.
    report = delegate_coverage(tf_models["unit_int8"])
    (island,) = report.float_islands
    assert island.op_types == ["SQUARE"]
    assert [report.ops[i].op for i in island.entries] == ["DEQUANTIZE"]
    assert [report.ops[i].op for i in island.exits] == ["QUANTIZE"]
    assert not island.reaches_output
    assert {o.op for o in report.undelegated} == {"RSQRT", "MINIMUM"}
    assert "float island" in report.summary()


@pytest.mark.slow
def test_documented_table_agrees_with_the_interpreter(tf_models):
    for key in ("prelu_int8", "relu6_int8", "relu6_fp32", "l2_int8", "unit_int8"):
        live = delegate_coverage(tf_models[key])
        table = delegate_coverage(tf_models[key], method="table")
        assert table.method == "table"
        assert [o.delegated for o in table.ops] == [o.delegated for o in live.ops], key
        assert all(_table_supported(o) == o.delegated for o in live.ops), key


def test_coverage_rejects_non_tflite():
    with pytest.raises(ModelLoadError, match="x.onnx.*TFL3"):
        delegate_coverage(b"\x08\x07not a flatbuffer", "x.onnx")
    with pytest.raises(EdgefaceError, match="method"):
        delegate_coverage(b"1234TFL3", method="guess")


# ---------------------------------------------------------------- the gate on real conversions


def _report(tf_models, key, threshold=0.5):
    faces = tf_models["faces"]
    source = tf_models["source"]
    ref = np.asarray(source(faces, training=False))
    src_outputs = [("embedding", (1, 16))]
    got, dst_outputs = run_model("tflite", tf_models[key], faces, where=f"{key}.tflite")
    matches = match_outputs(src_outputs, dst_outputs)
    got = align_outputs(got, matches)
    return FidelityReport(
        file=f"{key}.tflite", precision=key.split("_")[-1], size_bytes=len(tf_models[key]),
        outputs=compare_outputs([ref], got, names=["embedding"]),
        embedder=embedder_fidelity(ref, got[0], threshold))


@pytest.mark.slow
def test_gate_passes_honest_conversions_and_catches_tampered_weights(tf_models):
    fp32 = _report(tf_models, "relu6_fp32")
    assert fp32.gate(1e-4, None, max_flip_fraction=0.0) == []
    assert fp32.embedder.cosine_worst > 0.9999
    int8 = _report(tf_models, "relu6_int8")
    assert int8.gate(0.02, None) == [], int8.to_dict()
    assert int8.embedder.samples == 101
    tampered = _report(tf_models, "tampered_int8")
    failures = tampered.gate(0.02, None)
    assert any(f.startswith("embedding cosine worst") for f in failures)
    assert any(f.startswith("output 'embedding' cosine worst") for f in failures)
    assert tampered.embedder.cosine_worst < -0.9
    json.loads(json.dumps(tampered.to_dict(), allow_nan=False))


def test_run_model_feeds_nchw_onnx_models():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    weight = np.random.default_rng(4).standard_normal((4, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    batch = np.random.default_rng(5).standard_normal((3, 8, 8, 3)).astype(np.float32)
    outputs, info = run_model("onnx", data, batch, where="conv.onnx")
    assert info == [("y", (1, 4, 8, 8))]
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"x": np.moveaxis(b, -1, 0)[None]})[0] for b in batch])
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-5, atol=1e-5)
