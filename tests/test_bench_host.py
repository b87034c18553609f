"""``edgeface bench --on host``: the fixture models measured through the SDK's runtime
layer, with benchmark_model's fields (init, first inference, warm-up, runs, percentiles,
memory), in a fresh process or in this one."""

import zipfile

import numpy as np
import pytest

from edgeface.bench.host import bench_host, current_rss_mb, host_stages, measure, peak_rss_mb
from edgeface.bench.target import BenchError, open_target
from edgeface.errors import EdgefaceError


def _check_timings(r, runs):
    assert r.runs == runs
    assert r.first_inference_ms > 0 and r.warmup_avg_ms > 0 and r.inference_avg_ms > 0
    assert 0 < r.min_ms <= r.median_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
    assert r.std_ms >= 0 and r.min_ms <= r.inference_avg_ms <= r.max_ms


def test_bundle_in_process(fixture_bundle):
    target = open_target(fixture_bundle("blob_blazeface"))
    results = bench_host(target, threads=(1, 2), runs=12, warmup=2, isolate=False, gallery_size=50)
    assert [(r.extra["role"], r.threads) for r in results] == [
        ("detector", 1), ("detector", 2), ("embedder", 1), ("embedder", 2), ("align", 1), ("search", 1)]
    for r in results:
        _check_timings(r, 12)
        assert (r.backend, r.profile, r.compute_unit) == ("host", "host", "cpu")
        assert r.device.startswith("this host (")
    detector = results[0]
    assert detector.runtime == "litert" and detector.precision == "fp32" and detector.init_ms > 0
    assert detector.model.endswith("blob_blazeface#detector")
    assert detector.extra["inputs"] == [[[1, 128, 128, 3], "float32"]]
    assert detector.extra["warmup_runs"] == 2 and detector.extra["isolated"] is False
    assert detector.peak_memory_mb is None          # a lifetime peak of this process would say nothing
    assert detector.extra["memory_overall_delta_mb"] is not None
    assert results[4].runtime in ("opencv", "numpy") and results[4].init_ms is None
    assert results[5].extra["gallery_size"] == 50


def test_isolated_measurement_reports_the_peak(fixture_bundle):
    target = open_target(fixture_bundle("blob_blazeface") / "embedder.tflite")
    (r,) = bench_host(target, threads=(1,), runs=5, warmup=1)
    _check_timings(r, 5)
    assert r.extra["isolated"] is True and r.extra["role"] == "model"
    # The child's peak covers Python + numpy + LiteRT, and at least what it held after init.
    assert r.peak_memory_mb > 20
    assert r.peak_memory_mb >= r.extra["rss_start_mb"] + r.extra["memory_init_delta_mb"] - 1
    assert "peak RSS of a process that measured only this model" in r.source


def test_int8_and_onnx_models(fixture_bundle):
    results = bench_host(open_target(fixture_bundle("blob_blazeface_int8")), runs=3, warmup=0, isolate=False,
                         pipeline=False)
    assert [(r.extra["role"], r.precision) for r in results] == [("detector", "int8"), ("embedder", "int8")]
    assert results[0].extra["inputs"] == [[[1, 128, 128, 3], "int8"]]
    assert results[0].warmup_avg_ms is None
    pytest.importorskip("onnxruntime")
    results = bench_host(open_target(fixture_bundle("blob_scrfd_onnx")), runs=3, warmup=1, isolate=False,
                         pipeline=False)
    assert [r.runtime for r in results] == ["litert", "onnxruntime"]
    assert results[1].extra["runtime_version"]


def test_zip_bundle(fixture_bundle, tmp_path):
    source = fixture_bundle("blob_blazeface")
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in source.iterdir():
            z.write(f, f.name)
    target = open_target(archive)
    assert target.is_bundle and target.roles() == ["detector", "embedder"]
    results = bench_host(target, runs=3, warmup=0, gallery_size=0)   # isolated: reads the extracted copy
    assert [r.extra["role"] for r in results] == ["detector", "embedder", "align"]


def test_host_stages_need_an_embedder(fixture_bundle):
    assert host_stages(open_target(fixture_bundle("blob_detector_only"))) == []
    assert host_stages(open_target(fixture_bundle("blob_blazeface") / "detector.tflite")) == []


def test_errors_name_the_file_and_fix(tmp_path, fixture_bundle):
    with pytest.raises(BenchError, match="no such model or bundle"):
        open_target(tmp_path / "none.tflite")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BenchError, match="not a model edgeface can benchmark"):
        open_target(text)
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00\x00\x00\x00TFL3" + b"\x00" * 64)
    target = open_target(broken)
    with pytest.raises(EdgefaceError, match="broken.tflite: LiteRT cannot load this model"):
        bench_host(target, runs=1, warmup=0, isolate=False)
    with pytest.raises(BenchError, match="broken.tflite: LiteRT cannot load this model"):  # from the child
        bench_host(target, runs=1, warmup=0, isolate=True)
    with pytest.raises(BenchError, match="--runs 0"):
        bench_host(open_target(fixture_bundle("blob_detector_only")), runs=0)


def test_memory_readings():
    before = current_rss_mb()
    assert before is not None and before > 1
    block = np.ones(64 * 2**20 // 8)           # 64 MiB touched
    after = current_rss_mb()
    assert after - before > 50
    assert peak_rss_mb() >= after - 1
    del block


def test_measure_direct(fixture_bundle):
    path = fixture_bundle("blob_blazeface") / "detector.tflite"
    m = measure(path, "tflite", str(path), num_threads=1, runs=4, warmup=1)
    assert m["runs"] == 4 and m["warmup_runs"] == 1 and m["init_ms"] > 0
    assert m["p99_ms"] >= m["median_ms"]


def test_peak_memory_of_a_measurement_process_is_its_own_not_its_parents():
    """Linux's ru_maxrss survives fork + exec: a child of a large process would report the
    parent's peak. The child here allocates nothing; its parent holds 400 MiB."""
    import subprocess
    import sys

    ballast = bytearray(400 * 2**20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touch every page: resident
    out = subprocess.run([sys.executable, "-c", "from edgeface.bench.host import peak_rss_mb; print(peak_rss_mb())"],
                         capture_output=True, text=True, check=True).stdout
    assert float(out) < 200
    del ballast
