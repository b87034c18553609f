"""``edgeface bench --on adb``: benchmark_model's output parsed field by field, and the
whole adb path (device check, pushes, the command line per delegate, failures) against a
fake ``adb`` on PATH that replays benchmark_model text from tests/fixtures/benchmark_model."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeface.bench.adb import (Adb, bench_adb, delegate_flags, parse_benchmark_output, result_from_output)
from edgeface.bench.target import BenchError, open_target
from edgeface.cli.app import app
from tests.fake_adb import put_fake_adb_on_path
from tests.test_bench_cli import tight_profile

FIXTURES = Path(__file__).parent / "fixtures" / "benchmark_model"
runner = CliRunner()

# After the shared prelude: answers like a phone with one device, replays benchmark_model text.
FAKE_ADB = r'''
fixtures = Path(os.environ["FAKE_ADB_FIXTURES"])
if args[:1] == ["-s"]:
    if args[1] != "R5CX12345AB":
        sys.stderr.write(f"adb: device '{{args[1]}}' not found\n"); sys.exit(1)
    args = args[2:]
if mode == "no_device":
    sys.stderr.write("adb: no devices/emulators found\n"); sys.exit(1)
if mode == "several" and args[0] != "devices":
    sys.stderr.write("adb: more than one device/emulator\n"); sys.exit(1)
if mode == "unauthorized" and args[0] != "devices":
    sys.stderr.write("adb: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
                     "Try 'adb kill-server' if that seems wrong.\n"
                     "Otherwise check for a confirmation dialog on your device.\n"); sys.exit(1)
cmd = args[0]
if cmd == "devices":
    print("List of devices attached\nR5CX12345AB\tdevice\n"); sys.exit(0)
if cmd == "get-state":
    print("device"); sys.exit(0)
if cmd == "push":
    if mode == "full":
        sys.stderr.write(f"adb: error: failed to copy '{{args[1]}}' to '{{args[2]}}': remote "
                         "No space left on device\n"); sys.exit(1)
    print(f"{{args[1]}}: 1 file pushed, 0 skipped. 41.3 MB/s (6608 bytes in 0.000s)"); sys.exit(0)
if cmd == "shell":
    command = " ".join(args[1:])
    answer_getprop(command)
    if "benchmark_model" in command and "--graph=" in command:
        if mode == "binary_missing":
            print("/system/bin/sh: /data/local/tmp/edgeface/benchmark_model: inaccessible or not found")
            sys.exit(127)
        if mode == "wrong_arch":
            print("/system/bin/sh: /data/local/tmp/edgeface/benchmark_model: not executable: 64-bit ELF file")
            sys.exit(126)
        if "--use_gpu=true" in command:
            name = "gpu_delegate_failed.txt" if mode == "delegate_failed" else "gpu.txt"
        elif "--external_delegate_path=" in command:
            name = "qnn.txt"
        else:
            name = "cpu.txt"
        sys.stdout.write((fixtures / name).read_text())
        sys.exit(1 if "failed" in name else 0)
    sys.exit(0)
sys.stderr.write(f"fake adb: unexpected {{args}}\n"); sys.exit(2)
'''


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """Put a fake adb first on PATH; returns a helper with the log and a mode switch."""
    fake = put_fake_adb_on_path(tmp_path, monkeypatch, FAKE_ADB)
    monkeypatch.setenv("FAKE_ADB_FIXTURES", str(FIXTURES))
    fake.benchmark_binary = tmp_path / "benchmark_model"
    fake.benchmark_binary.write_bytes(b"\x7fELF fake benchmark_model")
    fake.shell_runs = lambda: fake.shell_commands("--graph=")
    return fake


# ----------------------------------------------------------------------------- parsing


def test_parse_cpu_output_every_field():
    parsed = parse_benchmark_output((FIXTURES / "cpu.txt").read_text())
    assert parsed["init_us"] == 12712 and parsed["first_inference_us"] == 1523
    assert parsed["warmup_avg_us"] == 701.4 and parsed["inference_avg_us"] == 485.53
    assert parsed["run_stats"] == {"count": 50, "first": 489, "curr": 481, "min": 459, "max": 1102,
                                   "avg": 485.53, "std": 24}
    assert parsed["warmup_stats"]["count"] == 5
    assert parsed["memory_init_delta_mb"] == 3.72656 and parsed["memory_overall_delta_mb"] == 5.10156
    assert parsed["peak_memory_mb"] == 10.3594
    assert parsed["num_threads"] == 4 and parsed["model_size_mb"] == 0.224468


def test_result_from_output_in_milliseconds():
    r = result_from_output((FIXTURES / "cpu.txt").read_text(), model="m.tflite", device="samsung SM-S921B",
                           delegate="cpu", threads=4, precision="fp32", profile="galaxy-s24", role="model",
                           extra={})
    assert (r.backend, r.runtime, r.compute_unit, r.runs) == ("adb", "tflite", "cpu", 50)
    assert r.init_ms == pytest.approx(12.712) and r.first_inference_ms == pytest.approx(1.523)
    assert r.warmup_avg_ms == pytest.approx(0.7014) and r.inference_avg_ms == pytest.approx(0.48553)
    assert (r.min_ms, r.max_ms, r.std_ms) == pytest.approx((0.459, 1.102, 0.024))
    assert r.median_ms is None and r.latency_ms == pytest.approx(0.48553)   # no median printed: the average
    assert r.peak_memory_mb == pytest.approx(10.3594)
    assert r.extra["memory_overall_delta_mb"] == pytest.approx(5.10156)


def test_gpu_and_qnn_outputs_give_layer_placement():
    gpu = result_from_output((FIXTURES / "gpu.txt").read_text(), model="m", device="d", delegate="gpu",
                             threads=1, precision="fp32", profile=None, role="detector", extra={})
    assert gpu.compute_unit == "gpu" and gpu.layers == {"gpu": 52}
    assert gpu.init_ms == pytest.approx(381.604) and gpu.inference_avg_ms == pytest.approx(0.98672)
    qnn = result_from_output((FIXTURES / "qnn.txt").read_text(), model="m", device="d", delegate="qnn",
                             threads=1, precision="int8", profile=None, role="detector", extra={})
    assert qnn.compute_unit == "npu" and qnn.layers == {"npu": 30, "cpu": 1}
    assert qnn.extra["benchmark_model"]["partitions"] == 2


def test_parse_older_and_logcat_formats():
    """TF 2.4-era text (no prefix, "Peak memory footprint", "(all same)" warm-up), percentiles
    from newer builds, and logcat prefixes."""
    old = ("Running benchmark for at least 1 iterations and at least 0.5 seconds\n"
           "count=1 curr=3512391\n\n"
           "count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798\n\n"
           "Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, "
           "Inference (avg): 2.95034e+06\n"
           "Peak memory footprint (MB): init=4.92969 overall=138.809\n")
    parsed = parse_benchmark_output(old)
    assert parsed["inference_avg_us"] == pytest.approx(2950340)
    assert parsed["warmup_stats"] == {"count": 1, "curr": 3512391, "min": 3512391, "max": 3512391,
                                      "avg": 3512391, "std": 0.0}
    assert parsed["memory_overall_delta_mb"] == pytest.approx(138.809) and "peak_memory_mb" not in parsed
    logcat = ("I tflite  : count=25 first=187533 curr=140990 min=140071 max=195121 avg=145528 std=13583 "
              "p5=140545 median=141253 p95=187533\n"
              "I tflite  : Inference timings in us: Init: 92318, First inference: 187533, Warmup (avg): 211669, "
              "Inference (avg): 145528\n")
    r = result_from_output(logcat, model="m", device="d", delegate="cpu", threads=1, precision="fp32",
                           profile=None, role="model", extra={})
    assert r.median_ms == pytest.approx(141.253) and r.latency_ms == pytest.approx(141.253)
    assert r.extra["percentiles_ms"] == {"p5": pytest.approx(140.545), "p95": pytest.approx(187.533)}
    with pytest.raises(ValueError):
        parse_benchmark_output("ERROR: Benchmarking failed.\n")


def test_delegate_flags_are_benchmark_models_own():
    assert delegate_flags("cpu") == []
    assert delegate_flags("gpu") == ["--use_gpu=true"]
    assert delegate_flags("nnapi") == ["--use_nnapi=true"]
    qnn = delegate_flags("qnn", "/data/local/tmp/x")
    assert qnn[0] == "--external_delegate_path=/data/local/tmp/x/libQnnTFLiteDelegate.so"
    assert qnn[1].startswith("--external_delegate_options=backend_type:htp;")
    with pytest.raises(BenchError, match="--delegate"):
        delegate_flags("tpu")


# ----------------------------------------------------------------------------- the adb path


def test_bench_adb_cpu_on_a_bundle(fake_adb, fixture_bundle):
    target = open_target(fixture_bundle("blob_blazeface"))
    results = bench_adb(target, fake_adb.benchmark_binary, delegate="cpu", threads=(1, 4), runs=50, warmup=5,
                        profile="galaxy-s24")
    assert [(r.extra["role"], r.threads) for r in results] == [("detector", 1), ("detector", 4),
                                                               ("embedder", 1), ("embedder", 4)]
    r = results[0]
    assert (r.backend, r.device, r.profile, r.runtime) == ("adb", "samsung SM-S921B", "galaxy-s24", "tflite")
    assert r.model.endswith("blob_blazeface#detector") and r.extra["soc"] == "SM8650"
    assert r.inference_avg_ms == pytest.approx(0.48553)
    calls = fake_adb.calls()
    assert ["get-state"] in calls
    pushes = [c for c in calls if c[0] == "push"]
    assert pushes[0] == ["push", str(fake_adb.benchmark_binary), "/data/local/tmp/edgeface/benchmark_model"]
    assert ["push", str(fixture_bundle("blob_blazeface") / "detector.tflite"),
            "/data/local/tmp/edgeface/detector_detector.tflite"] in pushes
    assert ["shell", "chmod 755 /data/local/tmp/edgeface/benchmark_model"] in calls
    runs = fake_adb.shell_runs()
    assert len(runs) == 4
    first = runs[0]
    for flag in ("--graph=/data/local/tmp/edgeface/detector_detector.tflite", "--num_threads=1",
                 "--num_runs=50", "--warmup_runs=5", "--min_secs=0"):
        assert flag in first
    assert "--num_threads=4" in runs[1] and "--use_gpu" not in first


def test_bench_adb_gpu_and_serial(fake_adb, fixture_bundle):
    target = open_target(fixture_bundle("blob_detector_only") / "detector.tflite")
    (r,) = bench_adb(target, fake_adb.benchmark_binary, delegate="gpu", serial="R5CX12345AB")
    assert r.compute_unit == "gpu" and r.layers == {"gpu": 52} and r.profile is None
    assert all(c[:2] == ["-s", "R5CX12345AB"] for c in fake_adb.calls())
    assert "--use_gpu=true" in fake_adb.shell_runs()[0]
    assert r.model == str(fixture_bundle("blob_detector_only") / "detector.tflite")


def test_bench_adb_qnn_pushes_the_libraries(fake_adb, fixture_bundle, tmp_path):
    libs = tmp_path / "qnn"
    libs.mkdir()
    for name in ("libQnnTFLiteDelegate.so", "libQnnHtp.so", "libQnnHtpV75Stub.so", "libQnnHtpV75Skel.so",
                 "libQnnSystem.so"):
        (libs / name).write_bytes(b"\x7fELF")
    target = open_target(fixture_bundle("blob_blazeface_int8") / "detector_int8.tflite")
    (r,) = bench_adb(target, fake_adb.benchmark_binary, delegate="qnn", qnn_libs=libs,
                     extra_args=("--use_fp16=false",))
    assert r.compute_unit == "npu" and r.precision == "int8" and r.layers == {"npu": 30, "cpu": 1}
    pushed = {c[2] for c in fake_adb.calls() if c[0] == "push"}
    assert "/data/local/tmp/edgeface/libQnnHtpV75Skel.so" in pushed
    command = fake_adb.shell_runs()[0]
    assert "LD_LIBRARY_PATH=/data/local/tmp/edgeface ADSP_LIBRARY_PATH=/data/local/tmp/edgeface" in command
    assert "--external_delegate_path=/data/local/tmp/edgeface/libQnnTFLiteDelegate.so" in command
    assert "'--external_delegate_options=backend_type:htp;" in command   # quoted for the phone's shell
    assert command.endswith("--use_fp16=false")


@pytest.mark.parametrize("mode, message", [
    ("no_device", "no Android device is connected: plug the phone in with USB debugging on"),
    ("several", "several Android devices are connected: pick one with --serial"),
    ("unauthorized", "accept the 'Allow USB debugging?' prompt"),
    ("full", "no space left"),
    ("binary_missing", "benchmark_model is not on samsung SM-S921B"),
    ("wrong_arch", "--benchmark-binary must be built for Android arm64"),
])
def test_adb_failures_are_one_line_with_the_fix(fake_adb, fixture_bundle, mode, message):
    fake_adb.mode(mode)
    target = open_target(fixture_bundle("blob_detector_only"))
    with pytest.raises(BenchError) as info:
        bench_adb(target, fake_adb.benchmark_binary)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_delegate_failure_names_the_delegate_and_the_fix(fake_adb, fixture_bundle):
    fake_adb.mode("delegate_failed")
    target = open_target(fixture_bundle("blob_detector_only"))
    with pytest.raises(BenchError) as info:
        bench_adb(target, fake_adb.benchmark_binary, delegate="gpu")
    text = str(info.value)
    assert text.startswith("the gpu delegate failed on samsung SM-S921B for ")
    assert "ERROR: TfLiteGpuDelegate Init: PRELU" in text and "try --delegate cpu" in text


def test_unknown_serial(fake_adb, fixture_bundle):
    with pytest.raises(BenchError, match="no device with serial 'nope'"):
        bench_adb(open_target(fixture_bundle("blob_detector_only")), fake_adb.benchmark_binary, serial="nope")


def test_argument_errors_before_any_adb_call(fake_adb, fixture_bundle, tmp_path):
    target = open_target(fixture_bundle("blob_detector_only"))
    with pytest.raises(BenchError, match="--on adb needs --benchmark-binary PATH"):
        bench_adb(target, None)
    with pytest.raises(BenchError, match=r"--benchmark-binary .*missing: no such file"):
        bench_adb(target, tmp_path / "missing")
    with pytest.raises(BenchError, match="--delegate qnn needs --qnn-libs DIR"):
        bench_adb(target, fake_adb.benchmark_binary, delegate="qnn")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="no libQnnTFLiteDelegate.so in it"):
        bench_adb(target, fake_adb.benchmark_binary, delegate="qnn", qnn_libs=tmp_path / "empty")
    with pytest.raises(BenchError, match="benchmark_model runs .tflite models and this one is onnx"):
        bench_adb(open_target(fixture_bundle("blob_scrfd_onnx")), fake_adb.benchmark_binary)
    assert fake_adb.calls() == []


def test_adb_missing_from_path(tmp_path, monkeypatch, fixture_bundle):
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("ADB", raising=False)
    with pytest.raises(BenchError, match=r"adb is not on PATH: install Android SDK platform-tools .* set \$ADB"):
        Adb()
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"x")
    result = runner.invoke(app, ["bench", str(fixture_bundle("blob_detector_only")), "--on", "adb",
                                 "--benchmark-binary", str(binary)])
    assert result.exit_code == 2
    assert "error: adb is not on PATH" in result.output


# ----------------------------------------------------------------------------- through the CLI


def test_cli_adb_bundle_checks_the_phone_profile(fake_adb, fixture_bundle):
    result = runner.invoke(app, ["bench", str(fixture_bundle("blob_blazeface")), "--on", "adb",
                                 "--benchmark-binary", str(fake_adb.benchmark_binary), "--profile", "galaxy-s24",
                                 "--gallery-size", "100", "--runs", "10", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["passed"] is True
    checks = {c["use_case"]: c for c in doc["budgets"]}
    assert set(checks) == {"face_unlock", "ar_camera", "gallery_identify"}
    unlock = checks["face_unlock"]
    assert (unlock["profile"], unlock["backend"], unlock["status"]) == ("galaxy-s24", "adb", "pass")
    assert list(unlock["stages"]) == ["detector", "align", "embedder"]
    assert unlock["stages"]["detector"] == pytest.approx(0.48553)
    assert "align measured on this host" in unlock["note"]
    assert checks["ar_camera"]["latency_ms"] == pytest.approx(0.48553)


def test_cli_adb_budget_gate_and_delegate_error(fake_adb, fixture_bundle, tmp_path):
    tight = tight_profile(tmp_path, ar_camera=0.2)
    model = fixture_bundle("blob_detector_only") / "detector.tflite"
    base = ["bench", str(model), "--on", "adb", "--benchmark-binary", str(fake_adb.benchmark_binary)]
    result = runner.invoke(app, [*base, "--profile", str(tight), "--use-case", "ar_camera"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "budget broken: 1 of 1 checks failed (tight-phone/ar_camera)" in result.output
    fake_adb.mode("delegate_failed")
    result = runner.invoke(app, [*base, "--delegate", "gpu"])
    assert result.exit_code == 2
    assert "error: the gpu delegate failed on samsung SM-S921B" in result.output
