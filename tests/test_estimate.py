"""The latency estimator: graph costs counted by hand, fits that recover known answers on
fixture data, estimates for every profile, and its validation against the published
real-device measurements (leave-one-model-out; the figures README.md quotes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeface.bench import estimate as est
from edgeface.bench.graph import GraphError, read_graph, read_model_or_bundle

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bundles"


# ----------------------------------------------------------------------------- graph costs

def test_tflite_macs_counted_by_hand():
    graph = read_graph(FIXTURES / "blob_blazeface" / "embedder.tflite")
    # 112x112x3 -> conv 3x3/2 x8 -> conv 3x3/2 x16 -> depthwise 3x3/2 -> conv 1x1 x32 -> FC 32->128
    conv1, conv2 = 56 * 56 * 8 * 27, 28 * 28 * 16 * 72
    depthwise, pointwise, fc = 14 * 14 * 16 * 9, 14 * 14 * 32 * 16, 32 * 128
    assert graph.macs_of("depthwise") == depthwise
    assert graph.macs_of("dense") == conv1 + conv2 + pointwise + fc
    assert graph.precision == "fp32" and graph.format == "tflite"
    assert not graph.offloaded and graph.htp_partitions == 1


def test_onnx_macs_counted_by_hand():
    graph = read_graph(FIXTURES / "blob_scrfd_onnx" / "embedder.onnx")
    assert graph.macs == 56 * 56 * 8 * 27 + 28 * 28 * 16 * 72 + 16 * 128
    assert graph.format == "onnx" and graph.precision == "fp32"


def test_int8_graph_precision_and_bytes():
    fp32 = read_graph(FIXTURES / "blob_blazeface" / "embedder.tflite")
    int8 = read_graph(FIXTURES / "blob_blazeface_int8" / "embedder_int8.tflite")
    assert int8.precision == "w8a8" and int8.published_precision == "w8a8"
    assert int8.macs == fp32.macs
    assert int8.weight_bytes < fp32.weight_bytes / 3


def test_bundle_gives_one_graph_per_model():
    labels = [label for label, _ in read_model_or_bundle(FIXTURES / "blob_blazeface")]
    assert labels == ["detector:detector.tflite", "embedder:embedder.tflite"]


def test_unreadable_model_is_a_user_error(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(GraphError, match="model.tflite"):
        read_graph(bad)
    with pytest.raises(GraphError, match="no such model"):
        read_graph(tmp_path / "missing.tflite")
    other = tmp_path / "model.pt"
    other.write_bytes(b"\0" * 16)
    with pytest.raises(GraphError, match=".tflite or .onnx"):
        read_graph(other)


def test_custom_ops_stay_on_the_cpu():
    from edgeface.bench.graph import GraphCost, Op

    ops = [Op("CONV_2D", "dense", 10, 1, 1, "float32", True),
           Op("CUSTOM:Foo", "elementwise", 0, 1, 0, "float32", False),
           Op("CONV_2D", "dense", 10, 1, 1, "float32", True)]
    graph = GraphCost("x", "tflite", "fp32", ops)
    assert graph.htp_partitions == 2 and graph.handovers == 2 and len(graph.offloaded) == 1


# ----------------------------------------------------------------------------- known answers

def test_nnls_recovers_nonnegative_coefficients():
    rng = np.random.default_rng(0)
    A = rng.random((30, 4))
    x = np.array([0.5, 0.0, 2.0, 1.0])
    assert np.allclose(est._nnls(A, A @ x), x, atol=1e-8)
    assert (est._nnls(A, -A @ x) >= 0).all()


def _calibration_doc(devices, rows, models):
    return {"schema": 1, "source": {"package": "qai-hub-models", "version": "test"},
            "columns": ["model", "precision", "runtime", "device", "ms", "mem_min_mb", "mem_max_mb",
                        "npu_layers", "gpu_layers", "cpu_layers", "primary"],
            "models": models,
            "devices": [{"name": d, "chipset": f"chip-{d}", "htp_arch": 75, "form_factor": "Phone", "os": None,
                         "reference_chipset": None} for d in devices],
            "rows": rows}


@pytest.fixture
def fixture_data(monkeypatch):
    """Three devices; B runs everything exactly 2x slower than A; C is 0.5x A on models
    under 1 ms (dispatch-bound) and 1x on larger ones."""
    models = [f"m{i}/M" for i in range(24)]
    devices = ["A", "B", "C"]
    rows = []
    for i, _ in enumerate(models):
        ms = 0.1 * 1.35 ** i                        # 0.1 ms .. 100 ms
        layers = 20 + 10 * i
        for d, factor in (("A", 1.0), ("B", 2.0), ("C", 0.5 if ms < 1 else 1.0)):
            for runtime in ("tflite", "qnn_dlc"):
                rows.append([i, "float", runtime, devices.index(d), ms * factor, 1, 10 + i, layers, 0, 0, "npu"])
    cal = est.Calibration(_calibration_doc(devices, rows, models))
    monkeypatch.setattr(est, "load_calibration", lambda: cal)
    est.clear_caches()
    yield cal
    est.clear_caches()


def test_transfer_recovers_a_constant_ratio(fixture_data):
    point, low, high, n = est.transfer(3.0, "A", "B", "tflite", "float")
    assert point == pytest.approx(6.0) and low == pytest.approx(6.0) and high == pytest.approx(6.0)
    assert n == 48


def test_transfer_follows_the_ratio_of_similar_models(fixture_data):
    small, *_ = est.transfer(0.2, "A", "C", "tflite", "float")
    large, *_ = est.transfer(50.0, "A", "C", "tflite", "float")
    # within a few percent: the robust local-linear fit straddles the step at 1 ms
    assert small == pytest.approx(0.1, rel=0.05) and large == pytest.approx(50.0, rel=0.05)
    report = est.validate_transfer(reference="A", precisions=("float",), runtimes=("tflite",))
    rows = {r["device"]: r for r in report["rows"]}
    assert rows["B"]["model"]["median"] == 0 and rows["B"]["naive"]["median"] == 0
    # the naive baseline (one median ratio) misses by 50-100 % on half of C's models
    assert rows["C"]["model"]["median"] < 5 < rows["C"]["naive"]["p90"]


@pytest.fixture
def unique_model_data(monkeypatch):
    """Device E runs every model exactly 2x slower than A except m23: far from every other
    model on A (10 s, 10 GB, 5000 layers) and 8x slower on E, in both runtimes."""
    models = [f"m{i}/M" for i in range(24)]
    rows = []
    for i in range(24):
        ms, mem, layers = (1e4, 1e4, 5000) if i == 23 else (0.1 * 1.35 ** i, 10 + i, 20 + 10 * i)
        for d, factor in ((0, 1.0), (1, 8.0 if i == 23 else 2.0)):
            for runtime in ("tflite", "qnn_dlc"):
                rows.append([i, "float", runtime, d, ms * factor, 1, mem, layers, 0, 0, "npu"])
    cal = est.Calibration(_calibration_doc(["A", "E"], rows, models))
    monkeypatch.setattr(est, "load_calibration", lambda: cal)
    est.clear_caches()
    yield cal
    est.clear_caches()


def test_leave_one_out_excludes_the_held_out_model(unique_model_data, monkeypatch):
    cal = unique_model_data
    # held out, m23 gets its neighbours' answer (2x), not its own (8x): its own point (or its
    # copy measured with the other runtime) would carry all the kernel weight if it leaked
    residuals = est._transfer_residuals("A", "E", "tflite", "float", True, True)
    pairs = [p for p in est._pairs(cal, "A", "E", "float") if p.runtime == "tflite"]
    by_model = dict(zip((p.model for p in pairs), residuals))
    assert by_model["m23/M"] == pytest.approx(np.log(2 / 8), abs=1e-6)
    assert all(abs(r) < 1e-6 for m, r in by_model.items() if m != "m23/M")
    # with it in the data (what a user's new model meets), the same query gets 8x
    assert est.transfer(1e4, "A", "E", "tflite", "float", 1e4, 5000)[0] == pytest.approx(8e4, rel=1e-3)
    # and no prediction of the validation ever sees the predicted model, in any runtime
    model_of = {id(m): name for by_device in cal.series.values() for name, m in by_device["A"].items()}
    real, seen = est._transfer_ratio, []

    def spy(train, query, runtime, *args):
        assert model_of[id(query)] not in {p.model for p in train}
        seen.append((model_of[id(query)], real(train, query, runtime, *args)))
        return seen[-1][1]

    monkeypatch.setattr(est, "_transfer_ratio", spy)
    report = est.validate_transfer(reference="A", precisions=("float",))
    assert len(seen) == 48 and report["overall"]["n"] == 48
    assert [round(r, 6) for m, r in seen if m == "m23/M"] == [2.0, 2.0]    # missed by 75 %, both runtimes


def test_transfer_refuses_unknown_devices(fixture_data):
    with pytest.raises(est.EstimateError, match="Galaxy S99"):
        est.transfer(1.0, "A", "Galaxy S99", "tflite", "float")


def test_graph_model_recovers_a_known_cost(monkeypatch):
    """ms = 0.05 + 0.001 per MAC op + 2 ms/GMAC dense + 5 ms/GMAC depthwise + 0.01 ms/MB."""
    truth = np.array([0.05, 0.001, 2.0, 5.0, 0.01])
    rng = np.random.default_rng(1)
    graphs, rows, models = [], [], []
    for i in range(12):
        features = {"mac_ops": float(rng.integers(20, 400)), "macs_dense": float(rng.random() * 4e9),
                    "macs_depthwise": float(rng.random() * 2e8), "act_bytes": float(rng.random() * 5e7),
                    "weight_bytes": 1e6}
        name = f"g{i}/G"
        models.append(name)
        graphs.append({"name": f"g{i}", "published": name, "published_precision": "float",
                       "precision": "fp32", "features": features, "macs": features["macs_dense"]})
        rows.append([i, "float", "tflite", 0, float(truth @ est._graph_vector(features)), 1, 5, 100, 0, 0, "npu"])
    cal = est.Calibration(_calibration_doc(["A"], rows, models))
    monkeypatch.setattr(est, "load_calibration", lambda: cal)
    monkeypatch.setattr(est, "load_reference_graphs", lambda: {"graphs": graphs, "host": {}})
    est.clear_caches()
    try:
        new = {"mac_ops": 100.0, "macs_dense": 1e9, "macs_depthwise": 1e8, "act_bytes": 1e7}
        point, low, high, rests = est.npu_from_graph(new, "A", "tflite", "float")
        assert point == pytest.approx(0.05 + 0.1 + 2.0 + 0.5 + 0.1, rel=1e-6)
        assert low <= point <= high and "12 reference graphs" in rests
        report = est.validate_graph(runtimes=("tflite",), precisions=("float",))
        assert report["rows"][0]["model"]["median"] < 0.1      # percent
    finally:
        est.clear_caches()


# ----------------------------------------------------------------------------- estimate()

def test_estimate_every_profile_on_a_fixture_bundle():
    from edgeface.bench.profiles import list_profiles

    notes: list[str] = []
    results = est.estimate_profiles(FIXTURES / "blob_blazeface", notes=notes)
    by = {(r.profile, r.model, r.compute_unit): r for r in results}
    for profile in list_profiles():
        assert (profile.id, "embedder:embedder.tflite", "cpu") in by
    for r in results:
        assert r.backend == "estimate" and r.source
        assert 0 < r.estimate_low_ms <= r.median_ms <= r.estimate_high_ms
        assert r.latency_ms == r.median_ms
    assert ("galaxy-s24", "embedder:embedder.tflite", "npu") in by
    assert by[("galaxy-s24", "detector:detector.tflite", "npu")].extra["role"] == "detector"
    assert ("pixel-8", "embedder:embedder.tflite", "npu") not in by
    # a float model cannot run on a v68 HTP (no fp16): no NPU estimate, and a note says why
    assert ("rb3-gen2", "embedder:embedder.tflite", "npu") not in by
    assert any("rb3-gen2" in n and "quantize" in n for n in notes)
    # faster silicon, faster estimate
    s22 = by[("galaxy-s22", "embedder:embedder.tflite", "npu")].median_ms
    s25 = by[("galaxy-s25", "embedder:embedder.tflite", "npu")].median_ms
    assert s25 < s22


def test_estimator_modules_stay_light():
    import subprocess
    import sys

    code = ("import sys, edgeface.bench.profiles, edgeface.bench.estimate, edgeface.bench.graph, edgeface.cli.profiles; "
            "heavy = [m for m in ('tensorflow', 'onnx', 'onnxruntime', 'qai_hub', 'numpy') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_int8_model_runs_on_every_npu():
    results = est.estimate(FIXTURES / "blob_blazeface_int8" / "embedder_int8.tflite", "rb3-gen2")
    units = {r.compute_unit: r for r in results}
    assert set(units) == {"npu", "cpu"} and units["npu"].precision == "w8a8"
    assert "Dragonwing RB3 Gen 2 Vision Kit" in units["npu"].source


def test_estimate_from_one_measurement():
    r = est.estimate_from_measurement(0.394, "Samsung Galaxy S24", "galaxy-s25", "tflite", "float",
                                      model="face_detector")
    assert r.compute_unit == "npu" and r.extra["calibration_device"] == "Samsung Galaxy S25"
    assert 0.2 < r.median_ms < 0.394 and r.estimate_low_ms <= r.median_ms <= r.estimate_high_ms
    with pytest.raises(est.EstimateError, match="pixel-8"):
        est.estimate_from_measurement(1.0, "Samsung Galaxy S24", "pixel-8", "tflite", "float")


# ----------------------------------------------------------------------------- validation

def test_transfer_validated_against_published_measurements():
    """Leave-one-model-out over qai-hub-models 0.65.0 perf.yaml, Galaxy S24 as reference."""
    report = est.validate_transfer()
    overall = report["overall"]
    assert overall["n"] > 5000
    # measured: edgeface 6.6 % median / 25.2 % p90; naive 9.1 % / 31.9 %
    assert overall["model"]["median"] <= 7.0 and overall["model"]["p90"] <= 26.0
    assert overall["model"]["median"] < overall["naive"]["median"]
    assert overall["model"]["p90"] < overall["naive"]["p90"]
    devices = {r["device"] for r in report["rows"]}
    # every measured device is reported (outliers included); copies of another device are not
    assert {"Samsung Galaxy S25", "Dragonwing RB3 Gen 2 Vision Kit", "Dragonwing Q-6690 MTP"} <= devices
    assert "Dragonwing Q-8750" not in devices and "Dragonwing Q-8750" in report["copies"]


def test_graph_predictor_validated_against_published_measurements():
    report = est.validate_graph()
    assert report["graphs"] >= 10 and report["points"] > 100
    tflite_float = next(r for r in report["rows"] if (r["runtime"], r["precision"]) == ("tflite", "float"))
    assert tflite_float["model"]["median"] < tflite_float["naive"]["median"]
    assert report["host_cpu"]["n"] >= 8


def test_onnx_models_are_estimated_for_the_onnx_runtime():
    results = est.estimate(FIXTURES / "blob_scrfd_onnx", "galaxy-s24")
    onnx = {r.compute_unit: r for r in results if r.model == "embedder:embedder.onnx"}
    assert onnx["npu"].runtime == "onnx" and onnx["cpu"].runtime == "onnxruntime"
    assert "onnx" in onnx["npu"].source
