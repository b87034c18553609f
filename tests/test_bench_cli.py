"""``edgeface bench``: the default command, the budget gate's exit codes (0 pass, 1 budget
broken, 2 user error), --json, --report (JSON, Markdown, PNG), and the estimate and hub
backends wired through the same path."""

import json
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeface.bench.budgets import check_budgets
from edgeface.bench.result import BenchResult, load_results
from edgeface.bench.target import BenchError
from edgeface.cli.app import app
from edgeface.cli.bench import parse_threads

runner = CliRunner()
FAST = ["--runs", "5", "--warmup", "1", "--in-process", "--gallery-size", "200"]


def tight_profile(tmp_path: Path, face_unlock=100.0, ar_camera=33.3, gallery_identify=1000.0) -> Path:
    """A device profile file (the schema of docs/profiles.md) with budgets chosen by the test."""
    path = tmp_path / "tight-phone.yaml"
    path.write_text(f"""schema: 1
id: tight-phone
name: Tight Phone
kind: phone
chipset: Test SoC
soc: null
hub_device: null
compute_units: [cpu]
cpu_clusters:
  - {{core: Cortex-A78, count: 4, ghz: 2.4}}
ram_gb: null
budgets_ms: {{face_unlock: {face_unlock:.6f}, ar_camera: {ar_camera:.6f}, gallery_identify: {gallery_identify:.6f}}}
sources:
  chipset: a test
  cpu_clusters: a test
  budgets_ms: a test
""")
    return path


def bench(*args):
    return runner.invoke(app, ["bench", *[str(a) for a in args]])


def test_default_command_and_run_are_the_same(fixture_bundle):
    bundle = fixture_bundle("blob_blazeface")
    for args in ([bundle], ["run", bundle], ["--on", "host", bundle]):
        result = bench(*args, *FAST)
        assert result.exit_code == 0, result.output
        assert "face_unlock" in result.stdout and "PASS" in result.stdout and "FAIL" not in result.stdout
    help_text = bench("--help").stdout
    assert "run" in help_text and "MODEL" in help_text
    assert "--benchmark-binary" in bench("run", "--help").stdout


def test_json_has_results_budgets_and_verdict(fixture_bundle):
    result = bench(fixture_bundle("blob_blazeface"), "--threads", "1,2", "--json", *FAST)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    roles = [(r["extra"]["role"], r["threads"]) for r in doc["results"]]
    assert roles == [("detector", 1), ("detector", 2), ("embedder", 1), ("embedder", 2), ("align", 1),
                     ("search", 1)]
    assert doc["passed"] is True
    assert {(c["use_case"], c["threads"]) for c in doc["budgets"]} == {
        (u, t) for u in ("face_unlock", "ar_camera", "gallery_identify") for t in (1, 2)}
    search = next(r for r in doc["results"] if r["extra"]["role"] == "search")
    assert search["extra"]["gallery_size"] == 200
    gallery = next(c for c in doc["budgets"] if c["use_case"] == "gallery_identify" and c["threads"] == 1)
    assert gallery["latency_ms"] == pytest.approx(sum(gallery["stages"].values()))
    assert doc["run"]["command"].startswith("edgeface bench ")


def test_budget_broken_exits_1(fixture_bundle, tmp_path):
    profile = tight_profile(tmp_path, face_unlock=0.0001)
    result = bench(fixture_bundle("blob_blazeface"), "--profile", profile, *FAST)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout
    assert "budget broken: 1 of 3 checks failed (tight-phone/face_unlock)" in result.output
    # only the use cases asked for are checked
    result = bench(fixture_bundle("blob_blazeface"), "--profile", profile, "--use-case", "ar_camera", *FAST)
    assert result.exit_code == 0, result.output


def test_lone_model_is_checked_only_against_named_use_cases(fixture_bundle, tmp_path):
    model = fixture_bundle("blob_blazeface") / "detector.tflite"
    result = bench(model, *FAST)
    assert result.exit_code == 0 and "no budget checked: a lone model has no use case" in result.stdout
    doc = json.loads(bench(model, "--use-case", "ar_camera", "--json", *FAST).stdout)
    (check,) = doc["budgets"]
    assert check["stages"] == {"model": pytest.approx(doc["results"][0]["median_ms"])}
    assert "this model alone" in check["note"]
    assert [r["extra"]["role"] for r in doc["results"]] == ["model"]   # no host stages for a lone model
    result = bench(model, "--use-case", "ar_camera", "--profile", tight_profile(tmp_path, ar_camera=1e-5), *FAST)
    assert result.exit_code == 1


@pytest.mark.parametrize("args, message", [
    (["--use-case", "face_recognition"], "--use-case face_recognition: unknown use case; use one of face_unlock"),
    (["--profile", "galaxy-s24", "--profile", "galaxy-s25"], "--on host measures this machine"),
    (["--profile", "no-such-phone"], "unknown device profile 'no-such-phone'"),
    (["--threads", "0"], "--threads 0: each count must be 1..256"),
    (["--threads", "two"], "--threads two: expected counts like 1,2,4"),
    (["--benchmark-binary", "x"], "--benchmark-binary is for --on adb only (this run is --on host)"),
    (["--runtime", "tflite"], "--runtime is for --on hub only"),
    (["--on", "hub"], "--on hub needs --profile"),
    (["--on", "hub", "--profile", "host"], "has no Qualcomm AI Hub device"),
])
def test_user_errors_exit_2(fixture_bundle, args, message):
    result = bench(fixture_bundle("blob_blazeface"), *args, *FAST)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--delegate", "gpu"], "--delegate is for --on adb only (this run is --on host)"),
    (["--on", "estimate", "--compute-unit", "npu"], "--compute-unit is for --on hub only (this run is --on estimate)"),
    (["--on", "hub", "--profile", "galaxy-s24", "--serial", "R5CX"], "--serial is for --on adb only (this run is "
                                                                     "--on hub)"),
    (["--on", "adb", "--benchmark-arg=--use_fp16=true", "--runtime", "tflite"], "--runtime is for --on hub only "
                                                                                 "(this run is --on adb)"),
])
def test_a_flag_of_another_backend_is_refused(fixture_bundle, args, message):
    result = bench(fixture_bundle("blob_blazeface"), *args, *FAST)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_missing_inputs_exit_2(fixture_bundle, tmp_path):
    result = bench(tmp_path / "nope.tflite")
    assert result.exit_code == 2 and "no such model or bundle" in result.output
    result = bench(fixture_bundle("blob_detector_only"), "--use-case", "face_unlock", *FAST)
    assert result.exit_code == 2
    assert "--use-case face_unlock needs the bundle's embedder, and the bundle has only: detector" in result.output


def test_detector_only_bundle_reports_na_for_pipelines(fixture_bundle):
    doc = json.loads(bench(fixture_bundle("blob_detector_only"), "--json", *FAST).stdout)
    status = {c["use_case"]: c["status"] for c in doc["budgets"]}
    assert status == {"face_unlock": "n/a", "ar_camera": "pass", "gallery_identify": "n/a"}
    assert doc["passed"] is True


def test_report_writes_json_markdown_and_png(fixture_bundle, tmp_path):
    out = tmp_path / "out"
    result = bench(fixture_bundle("blob_blazeface"), "--report", out, *FAST)
    assert result.exit_code == 0, result.output
    loaded = load_results(out / "bench.json")       # the save_results document, plus budgets
    assert [r.extra["role"] for r in loaded] == ["detector", "embedder", "align", "search"]
    doc = json.loads((out / "bench.json").read_text())
    assert doc["passed"] is True and len(doc["budgets"]) == 3
    md = (out / "bench.md").read_text()
    assert "## Budgets" in md and "| host | " in md and "PASS" in md
    pytest.importorskip("matplotlib")
    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_report_without_matplotlib_still_writes_json_and_markdown(fixture_bundle, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib -> ImportError
    out = tmp_path / "out"
    result = bench(fixture_bundle("blob_detector_only"), "--report", out, *FAST)
    assert result.exit_code == 0, result.output
    assert "warning: bench.png skipped: matplotlib is not installed" in result.output
    assert (out / "bench.json").is_file() and (out / "bench.md").is_file() and not (out / "bench.png").exists()


def test_parse_threads():
    assert parse_threads("1") == [1]
    assert parse_threads("4,1,2,2") == [1, 2, 4]
    assert parse_threads("1-4") == [1, 2, 3, 4]
    with pytest.raises(BenchError):
        parse_threads("4-1")


# ----------------------------------------------------------------------------- estimate and hub wiring


def _fake_estimate(model_path, profile):
    size = Path(model_path).stat().st_size
    ms = size / 10_000     # a known answer per file
    return [BenchResult(model=str(model_path), backend="estimate", device=profile.name, runtime="tflite",
                        compute_unit="npu", precision="fp32", profile=profile.id, median_ms=ms,
                        estimate_low_ms=ms * 0.8, estimate_high_ms=ms * 1.3, source="fake estimator")]


def test_estimate_backend_sums_ranges_per_profile(fixture_bundle, tmp_path, monkeypatch):
    module = types.ModuleType("edgeface.bench.estimate")
    module.estimate = _fake_estimate
    monkeypatch.setitem(sys.modules, "edgeface.bench.estimate", module)
    bundle = fixture_bundle("blob_blazeface")
    detector_ms = (bundle / "detector.tflite").stat().st_size / 10_000
    embedder_ms = (bundle / "embedder.tflite").stat().st_size / 10_000
    tight = tight_profile(tmp_path, ar_camera=detector_ms * 0.9)
    result = bench(bundle, "--on", "estimate", "--profile", "galaxy-s24", "--profile", tight, "--json", *FAST)
    assert result.exit_code == 1, result.output           # tight-phone's ar_camera budget is broken
    doc = json.loads(result.stdout)
    checks = {(c["profile"], c["use_case"]): c for c in doc["budgets"]}
    ar = checks[("tight-phone", "ar_camera")]
    assert ar["status"] == "fail" and ar["latency_ms"] == pytest.approx(detector_ms)
    assert (ar["low_ms"], ar["high_ms"]) == pytest.approx((detector_ms * 0.8, detector_ms * 1.3))
    assert "straddles the budget" in ar["note"]
    unlock = checks[("galaxy-s24", "face_unlock")]
    align = unlock["stages"]["align"]
    assert unlock["latency_ms"] == pytest.approx(detector_ms + align + embedder_ms)
    assert unlock["low_ms"] == pytest.approx(0.8 * (detector_ms + embedder_ms) + align)
    assert unlock["status"] == "pass"
    roles = {(r["profile"], r["extra"]["role"]) for r in doc["results"]}
    assert ("galaxy-s24", "detector") in roles and ("tight-phone", "embedder") in roles
    comma = bench(bundle, "--on", "estimate", "--profile", f"galaxy-s24,{tight}", "--json", *FAST)
    def verdicts(budgets):  # align is measured on this host each run: compare what was checked and how it went
        return sorted((c["profile"], c["use_case"], c["status"]) for c in budgets)

    assert verdicts(json.loads(comma.stdout)["budgets"]) == verdicts(doc["budgets"]), "comma-separated = repeated"


def test_hub_backend_calls_profile_on_hub_per_model_and_profile(fixture_bundle, monkeypatch):
    calls = []

    def profile_on_hub(model_path, device_name, **options):
        calls.append((Path(model_path).name, device_name, options))
        return BenchResult(model=str(model_path), backend="hub", device=device_name, runtime="tflite",
                           compute_unit="npu", profile=options.get("profile"), median_ms=0.5, runs=100)

    hub = types.ModuleType("edgeface.hub.profile")
    hub.profile_on_hub = profile_on_hub
    monkeypatch.setitem(sys.modules, "edgeface.hub.profile", hub)
    result = bench(fixture_bundle("blob_blazeface"), "--on", "hub", "--profile", "galaxy-s24",
                   "--compute-unit", "npu", "--json", *FAST)
    assert result.exit_code == 0, result.output
    assert calls == [("detector.tflite", "Samsung Galaxy S24", {"profile": "galaxy-s24", "compute_unit": "npu"}),
                     ("embedder.tflite", "Samsung Galaxy S24", {"profile": "galaxy-s24", "compute_unit": "npu"})]
    doc = json.loads(result.stdout)
    unlock = next(c for c in doc["budgets"] if c["use_case"] == "face_unlock")
    assert unlock["backend"] == "hub" and unlock["stages"]["detector"] == 0.5 and unlock["status"] == "pass"


def test_check_budgets_pairs_runtimes_and_skips_unprofiled():
    class P:
        id, name, budgets = "p", "Phone", {"face_unlock": 10.0, "ar_camera": 1.0}

    def r(role, runtime, ms, profile="p"):
        return BenchResult(model=role, backend="estimate", device="Phone", runtime=runtime, compute_unit="npu",
                           profile=profile, median_ms=ms, extra={"role": role})

    results = [r("detector", "tflite", 2.0), r("detector", "qnn", 0.5), r("embedder", "tflite", 3.0),
               r("embedder", "qnn", 1.0), r("align", "numpy", 0.25, profile="host"),
               r("detector", "tflite", 99.0, profile=None)]
    results[4].backend = "host"
    checks = check_budgets(results, {"p": P}, is_bundle=True)
    got = {(c.use_case, c.runtime): (c.latency_ms, c.status) for c in checks}
    assert got == {("face_unlock", "qnn"): (1.75, "pass"), ("face_unlock", "tflite"): (5.25, "pass"),
                   ("ar_camera", "qnn"): (0.5, "pass"), ("ar_camera", "tflite"): (2.0, "fail")}


def test_hub_backend_against_the_ai_hub_standin(fixture_bundle, tmp_path):
    """The real AI Hub client path (edgeface.hub, qai-hub) against the local stand-in."""
    pytest.importorskip("qai_hub")
    HubStandIn = pytest.importorskip("tests.hub_standin").HubStandIn

    with HubStandIn(job_seconds=0.1) as hub:
        ini = hub.write_client_ini(tmp_path / "client.ini")
        result = runner.invoke(app, ["bench", str(fixture_bundle("blob_blazeface")), "--on", "hub",
                                     "--profile", "galaxy-s24", "--json", *FAST],
                               env={"QAIHUB_CLIENT_INI": str(ini)})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    hub_rows = [r for r in doc["results"] if r["backend"] == "hub"]
    assert [(r["extra"]["role"], r["profile"], r["device"]) for r in hub_rows] == [
        ("detector", "galaxy-s24", "Samsung Galaxy S24"), ("embedder", "galaxy-s24", "Samsung Galaxy S24")]
    assert all(r["median_ms"] > 0 and r["layers"] for r in hub_rows)
    unlock = next(c for c in doc["budgets"] if c["use_case"] == "face_unlock")
    assert (unlock["backend"], unlock["status"]) == ("hub", "pass")
