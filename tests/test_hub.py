"""Qualcomm AI Hub commands against a local stand-in of the service (tests/hub_standin.py).

The real ``qai-hub`` client runs unchanged; only its ``client.ini`` points at
127.0.0.1. Covered: compile / profile / inference happy paths (uploads, presigned
transfers, job polling, downloads), results as ``BenchResult`` and ``FidelityReport``,
and the failures a user meets: no token, no network, a rejected token, a failed job, a
job that never finishes, an unknown device, the client not installed; the CLI's exit
codes and one-line messages.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("qai_hub")

from edgeface.bench.result import load_results  # noqa: E402
from edgeface.cli.app import app  # noqa: E402
from edgeface.hub import (NO_TOKEN, TOKEN_ENV, HubAuthError, HubError, HubJobFailedError,  # noqa: E402
                          HubNotInstalledError, HubTimeoutError, HubUnreachableError)
from edgeface.hub.compile import compile_on_hub, compile_options  # noqa: E402
from edgeface.hub.devices import resolve_device  # noqa: E402
from edgeface.hub.infer import infer_on_hub  # noqa: E402
from edgeface.hub.profile import bench_result_from_profile, profile_on_hub  # noqa: E402
from tests.hub_standin import HubStandIn  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "bundles"
ONNX = FIXTURES / "blob_scrfd_onnx" / "embedder.onnx"        # NCHW 3x112x112 -> (N, 128)
TFLITE = FIXTURES / "blob_blazeface" / "detector.tflite"     # NHWC 128x128x3 -> (1, 896, 1), (1, 896, 16)
S24 = "Samsung Galaxy S24 (Family)"

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch):
    """The tests choose where the token comes from; a developer's own is never used."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@pytest.fixture
def standin():
    with HubStandIn() as server:
        yield server


@pytest.fixture
def hub(standin, tmp_path, monkeypatch):
    """The stand-in, with the client configured for it as ``qai-hub configure`` would."""
    ini = standin.write_client_ini(tmp_path / "client.ini")
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)
    return standin


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jobs_of(standin: HubStandIn, kind: str):
    return [j for j in standin.jobs.values() if j.kind == kind]


def cli(*args):
    return runner.invoke(app, ["hub", *[str(a) for a in args]])


PROGRESS = re.compile(r"(compile|profile|inference) job j\d+(: | submitted: )")


def one_line_error(result, *needles):
    """The command failed with exit code 2 and one line of error (after the jobs' progress lines)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.strip().splitlines() if not PROGRESS.match(line)]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- devices and options

def test_device_names_socs_and_attributes():
    soc = resolve_device("SM8650")
    assert soc.attributes == ("chipset:qualcomm-snapdragon-8gen3",) and soc.soc == "SM8650" and not soc.name
    assert resolve_device("sm8750-ac").attributes == ("chipset:qualcomm-snapdragon-8-elite-for-galaxy",)
    assert resolve_device(S24).name == S24 and not resolve_device(S24).attributes
    assert resolve_device("chipset:qualcomm-qcs6490").attributes == ("chipset:qualcomm-qcs6490",)
    with pytest.raises(HubError, match="no device given"):
        resolve_device("  ")


@pytest.mark.parametrize("runtime", ["tflite", "qnn_context_binary", "qnn_dlc", "onnx"])
def test_compile_options_name_the_target_runtime(runtime):
    assert compile_options(runtime) == f"--target_runtime {runtime}"
    assert compile_options(runtime, "--quantize_full_type int8") == \
        f"--target_runtime {runtime} --quantize_full_type int8"


def test_compile_options_refuse_bad_input():
    with pytest.raises(HubError, match="--runtime coreml: choose one of tflite"):
        compile_options("coreml")
    with pytest.raises(HubError, match="use --runtime"):
        compile_options("tflite", "--target_runtime onnx")


# ---------------------------------------------------------------- compile

def test_compile_for_a_soc_downloads_the_context_binary(hub, tmp_path):
    out = tmp_path / "embedder_sm8650.bin"
    result = compile_on_hub(ONNX, "SM8650", "qnn_context_binary", out=out, timeout=60)
    assert result.device == S24 and result.chipset == "qualcomm-snapdragon-8gen3"
    assert result.options == "--target_runtime qnn_context_binary"
    assert Path(result.target_path) == out and out.stat().st_size == result.target_size > 0
    assert out.read_bytes().startswith(b"AIHUB-STANDIN qnn_context_binary")
    (job,) = jobs_of(hub, "compile")
    assert job.options == "--target_runtime qnn_context_binary" and job.device.name == S24
    assert hub.models[job.model_id].data == ONNX.read_bytes()        # the upload arrived whole
    assert ("PUT", f"/storage/models/{job.model_id}/part0") in hub.calls   # through the presigned URL
    json.dumps(result.to_dict())                                      # serialisable


def test_the_job_url_is_told_as_soon_as_the_job_is_submitted(hub, tmp_path):
    told = []                           # (message, whether each job had finished by then)
    compile_on_hub(ONNX, S24, "onnx", out=tmp_path, timeout=60,
                   progress=lambda message: told.append((message, {j.job_id: j.done for j in hub.jobs.values()})))
    (job,) = jobs_of(hub, "compile")
    first, finished = told[0]
    assert first.startswith(f"compile job {job.job_id} submitted: http") and first.endswith(f"/jobs/{job.job_id}/")
    assert finished == {job.job_id: False}
    assert told[-1][0].startswith(f"compile job {job.job_id}: SUCCESS after ")


def test_compile_to_onnx_round_trips_the_model(hub, tmp_path):
    result = compile_on_hub(ONNX, S24, "onnx", out=tmp_path, timeout=60)
    assert Path(result.target_path).parent == tmp_path
    assert Path(result.target_path).read_bytes() == ONNX.read_bytes()


def test_compile_default_output_path(hub, tmp_path):
    result = compile_on_hub(ONNX, S24, "qnn_dlc", timeout=60)
    assert Path(result.target_path) == tmp_path / "embedder_qnn_dlc.dlc"


def test_compile_refuses_tflite_before_any_request(hub):
    with pytest.raises(HubError, match="compiles ONNX and PyTorch"):
        compile_on_hub(TFLITE, S24, "qnn_context_binary")
    assert hub.calls == []


# ---------------------------------------------------------------- profile

def test_profile_tflite_as_is_gives_a_bench_result(hub, tmp_path):
    result = profile_on_hub(TFLITE, S24, timeout=60)
    assert result.backend == "hub" and result.device == S24 and result.runtime == "tflite"
    assert result.layers == {"npu": 28, "gpu": 0, "cpu": 2} and result.compute_unit == "npu"
    assert result.runs == 100 and result.min_ms <= result.median_ms <= result.p90_ms <= result.max_ms
    assert result.min_ms == pytest.approx(result.extra["estimated_inference_ms"])
    assert result.median_ms == pytest.approx(0.85, rel=0.2)
    assert result.peak_memory_mb == pytest.approx(3_940_675 / 2**20, abs=1e-3)
    assert result.extra["peak_memory_range_mb"][0] < result.peak_memory_mb
    assert result.init_ms == pytest.approx(1374.293) and result.precision == "fp32"
    assert result.latency_ms == result.median_ms
    assert not jobs_of(hub, "compile")                       # already a TFLite model: no compile job
    (job,) = jobs_of(hub, "inference")
    assert job.profiling and not job.dataset_id and result.extra["job_id"] == job.job_id
    from edgeface.bench.result import save_results

    save_results(tmp_path / "r.json", [result])
    assert load_results(tmp_path / "r.json")[0] == result


def test_profile_onnx_compiled_for_the_npu(hub, tmp_path):
    result = profile_on_hub(ONNX, "SM8750", runtime="qnn_context_binary", compute_unit="npu",
                            out=tmp_path / "ctx.bin", timeout=60)
    assert result.runtime == "qnn_context_binary" and result.compute_unit == "npu"
    assert result.device == "Samsung Galaxy S25 (Family)" and result.extra["soc"] == "SM8750"
    assert result.extra["compile"]["options"] == "--target_runtime qnn_context_binary"
    assert (tmp_path / "ctx.bin").is_file()
    (job,) = jobs_of(hub, "inference")
    assert job.options == "--compute_unit npu"
    assert hub.models[job.model_id].model_type == 11   # MODEL_TYPE_QNN_CONTEXT_BINARY: the compiled model ran


def test_profile_on_a_device_profile(hub):
    pytest.importorskip("edgeface.bench.profiles")
    result = profile_on_hub(TFLITE, "galaxy-s24", timeout=60)        # the profile's hub_device
    assert result.device == "Samsung Galaxy S24" and result.profile == "galaxy-s24"
    assert result.extra["soc"] == "SM8650"
    result = profile_on_hub(TFLITE, "vivo-v60", timeout=60)          # not on AI Hub: same chipset
    assert result.device == "Snapdragon 7 Gen 4 QRD" and result.profile == "vivo-v60"
    assert result.extra["chipset"] == "qualcomm-snapdragon-7gen4"
    with pytest.raises(HubError, match="device profile 'pixel-8' has no Qualcomm SoC"):
        profile_on_hub(TFLITE, "pixel-8")


def test_bench_result_from_a_profile_without_per_run_times():
    profile = {"execution_summary": {"estimated_inference_time": 1234, "estimated_inference_peak_memory": 2 * 2**20},
               "execution_detail": [{"compute_unit": "GPU"}, {"compute_unit": "GPU"}, {"compute_unit": "CPU"}]}
    result = bench_result_from_profile(profile, model="m.tflite", device="d", runtime="tflite")
    assert result.median_ms == result.min_ms == pytest.approx(1.234) and result.runs == 1
    assert result.extra["median_is_estimate"] and result.peak_memory_mb == pytest.approx(2.0)
    assert result.layers == {"npu": 0, "gpu": 2, "cpu": 1} and result.compute_unit == "gpu"


# ---------------------------------------------------------------- inference

def test_infer_tflite_matches_the_local_model(hub):
    result = infer_on_hub(TFLITE, S24, samples=3, max_cosine_drop=0.01, timeout=60)
    assert result.passed and result.samples == 3 and result.runtime == "tflite"
    assert {o.name for o in result.report.outputs} == {"StatefulPartitionedCall_1:0", "StatefulPartitionedCall_1:1"}
    assert all(o.cosine_worst > 0.9999 and o.max_abs_err < 1e-5 for o in result.report.outputs)
    assert "real face crops" in result.inputs
    (job,) = jobs_of(hub, "inference")
    assert not job.profiling and job.dataset_id and job.output_dataset_id


def test_infer_compiled_context_binary_with_given_inputs(hub, tmp_path):
    batch = np.random.default_rng(1).uniform(-1, 1, (2, 112, 112, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", batch)
    result = infer_on_hub(ONNX, "SM8650", runtime="qnn_context_binary", inputs=tmp_path / "x.npy",
                          max_cosine_drop=0.01, timeout=60)
    assert result.passed and result.samples == 2 and result.compile["runtime"] == "qnn_context_binary"
    (output,) = result.report.outputs
    assert output.name == "embedding" and output.shape == [2, 128] and output.cosine_worst > 0.9999


def test_infer_gate_catches_a_device_that_computes_something_else(hub):
    hub.output_transform = lambda name, array: -array             # a sign-flipped output
    result = infer_on_hub(ONNX, S24, samples=2, max_cosine_drop=0.02, timeout=60)
    assert not result.passed
    assert any("embedding" in f and "cosine worst -1.0000" in f for f in result.failures)


def test_infer_refuses_wrong_inputs(hub, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(HubError, match=r"expected an \(N, 112, 112, 3\)"):
        infer_on_hub(ONNX, S24, inputs=tmp_path / "x.npy", timeout=60)


# ---------------------------------------------------------------- failures

def test_no_token_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(tmp_path / "missing.ini"))
    start = time.monotonic()
    with pytest.raises(HubAuthError) as info:
        profile_on_hub(TFLITE, S24)
    assert time.monotonic() - start < 5
    assert str(info.value) == NO_TOKEN


def test_config_file_without_token_fails_fast_and_api_token_fills_in(hub, tmp_path, monkeypatch):
    ini = hub.write_client_ini(tmp_path / "no_token.ini", with_token=False)
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    with pytest.raises(HubAuthError, match="no Qualcomm AI Hub token"):
        profile_on_hub(TFLITE, S24)
    assert hub.calls == []
    result = profile_on_hub(TFLITE, S24, api_token=hub.token, timeout=60)   # the file's URLs, the option's token
    assert result.backend == "hub"


def test_unreachable_service_fails_fast(hub, tmp_path, monkeypatch):
    ini = tmp_path / "dead.ini"
    ini.write_text(f"[api]\napi_token = t\napi_url = http://127.0.0.1:{closed_port()}\n"
                   f"web_url = http://127.0.0.1:1\n")
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    start = time.monotonic()
    with pytest.raises(HubUnreachableError,
                       match="cannot reach Qualcomm AI Hub at http://127.0.0.1:.*connection refused"):
        profile_on_hub(TFLITE, S24)
    assert time.monotonic() - start < 5


def test_unanswered_connection_times_out_fast(tmp_path, monkeypatch):
    """A host that accepts and never answers (a black-holed network) still fails in seconds."""
    from edgeface.hub.config import HubConfig, probe

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        config = HubConfig(api_token="t", api_url=f"http://127.0.0.1:{server.getsockname()[1]}")
        start = time.monotonic()
        with pytest.raises(HubUnreachableError, match="no answer within"):
            probe(config, timeout=1.0)
        assert time.monotonic() - start < 5


def test_rejected_token_is_reported_at_once(hub, tmp_path, monkeypatch):
    ini = hub.write_client_ini(tmp_path / "bad.ini", token="revoked")
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    with pytest.raises(HubAuthError, match=r"rejected the API token from .*bad.ini \(HTTP 401\).*qai-hub configure"):
        profile_on_hub(TFLITE, S24)
    assert hub.paths() == ["/api/v1/users/auth/user/"]            # stopped after the probe


def test_token_revoked_during_a_command(hub):
    """A 401 from the client itself (after the probe passed) is the same one-line error."""
    from edgeface.hub.config import connect

    client, _ = connect()
    hub.unauthorized = True
    with pytest.raises(HubAuthError, match="rejected the API token \\(HTTP 401\\)"):
        profile_on_hub(TFLITE, S24, client=client, timeout=60)


def test_failed_compile_job_reports_the_reason(hub):
    hub.fail_jobs["compile"] = "Failed to compile: op 'GridSample' is not supported on the HTP"
    with pytest.raises(HubJobFailedError) as info:
        compile_on_hub(ONNX, S24, "qnn_context_binary", timeout=60)
    message = str(info.value)
    assert "compile job" in message and "GridSample" in message and "/jobs/j" in message
    assert "\n" not in message


def test_failed_profile_job_reports_the_reason(hub):
    hub.fail_jobs["profile"] = "Device ran out of memory"
    with pytest.raises(HubJobFailedError,
                       match="profile job j.* failed on Qualcomm AI Hub: Device ran out of memory"):
        profile_on_hub(TFLITE, S24, timeout=60)


def test_job_that_never_finishes_times_out(hub):
    hub.never_finish = True
    start = time.monotonic()
    with pytest.raises(HubTimeoutError, match=r"profile job j\d+ did not finish within 2 s \(still "
                                              r"(CREATED|MEASURING_PERFORMANCE)\)"):
        profile_on_hub(TFLITE, S24, timeout=2)
    assert 1.5 < time.monotonic() - start < 6


def test_failed_upload_is_one_line(hub):
    hub.break_storage = True
    with pytest.raises(HubError) as info:
        profile_on_hub(TFLITE, S24, timeout=60)
    message = str(info.value)
    assert message.startswith("uploading detector.tflite: ") and "Failed to upload the file" in message
    assert "AccessDenied: Request has expired" in message and "\n" not in message and "┌" not in message


def test_client_exceptions_become_one_line_errors():
    import qai_hub
    from qai_hub.public_rest_api import APIException

    from edgeface.hub.jobs import hub_errors

    with pytest.raises(HubError, match="^reading: Qualcomm AI Hub answered: moved$"):
        with hub_errors("reading"):
            raise APIException("moved", status_code=302)
    box = "Internal API failure.\n┌────┐\n| Could not connect to Qualcomm AI Hub. |\n└────┘"
    with pytest.raises(HubError, match="^reading: Could not connect to Qualcomm AI Hub.$"):
        with hub_errors("reading"):
            raise qai_hub.InternalError(box)
    with pytest.raises(HubTimeoutError):
        with hub_errors("waiting"):
            raise TimeoutError("timed out after 10 seconds")


def test_unknown_device_is_named(hub):
    with pytest.raises(HubError, match="--device Pixel 9: no Qualcomm AI Hub device matches 'Pixel 9'"):
        profile_on_hub(TFLITE, "Pixel 9")
    with pytest.raises(HubError, match="no Qualcomm AI Hub device matches SoC SM8450"):
        profile_on_hub(TFLITE, "SM8450")
    assert not hub.jobs and not hub.models                          # nothing uploaded


def test_missing_client_says_which_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "qai_hub", None)               # import qai_hub -> ImportError
    with pytest.raises(HubNotInstalledError,
                       match=r"Qualcomm AI Hub needs the hub extra: pip install 'edgeface\[hub\]'"):
        profile_on_hub(TFLITE, S24, api_token="t")
    one_line_error(cli("profile", TFLITE, "--device", S24), "pip install 'edgeface[hub]'")


# ---------------------------------------------------------------- the command line

def test_cli_profile_json_and_report(hub, tmp_path):
    result = cli("profile", TFLITE, "--device", S24, "--json", "--report", tmp_path / "bench.json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)                                # the client printed nothing into it
    assert data["backend"] == "hub" and data["layers"] == {"npu": 28, "gpu": 0, "cpu": 2}
    (saved,) = load_results(tmp_path / "bench.json")
    assert saved.device == S24 and saved.median_ms == data["median_ms"]


def test_cli_profile_table(hub):
    result = runner.invoke(app, ["hub", "profile", str(TFLITE), "-d", "SM8650"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert S24 in result.stdout and "28/0/2" in result.stdout
    (job,) = jobs_of(hub, "inference")
    assert f"profile job {job.job_id} submitted: {hub.url}" in result.stderr.splitlines()[0]  # the progress


def test_cli_json_has_no_progress_lines(hub):
    result = cli("profile", TFLITE, "--device", S24, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["backend"] == "hub" and result.stderr == ""


def test_cli_compile_and_infer(hub, tmp_path):
    result = cli("compile", ONNX, "--device", "SM8650", "--runtime", "qnn_dlc", "--out", tmp_path / "e.dlc", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["target_path"] == str(tmp_path / "e.dlc")
    result = cli("infer", ONNX, "--device", S24, "--samples", "2", "--max-cosine-drop", "0.01",
                 "--report", tmp_path / "fid.json")
    assert result.exit_code == 0, result.output
    assert "embedding" in result.stdout
    assert json.loads((tmp_path / "fid.json").read_text())["fidelity"]["outputs"][0]["cosine_worst"] > 0.9999


def test_cli_infer_gate_failure_exits_1(hub):
    hub.output_transform = lambda name, array: array + 5.0
    result = cli("infer", ONNX, "--device", S24, "--samples", "2", "--max-cosine-drop", "0.01", "--json")
    assert result.exit_code == 1
    assert result.stderr.startswith("fidelity gate failed: output 'embedding'")
    assert json.loads(result.stdout)["passed"] is False


def test_cli_no_token_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(tmp_path / "missing.ini"))
    start = time.monotonic()
    line = one_line_error(cli("profile", TFLITE, "--device", S24), "error: no Qualcomm AI Hub token",
                          "qai-hub configure --api_token TOKEN", "--api-token")
    assert line == f"error: {NO_TOKEN}"
    assert time.monotonic() - start < 5


def test_cli_unreachable_one_line_exit_2(tmp_path, monkeypatch):
    ini = tmp_path / "dead.ini"
    ini.write_text(f"[api]\napi_token = t\napi_url = http://127.0.0.1:{closed_port()}\nweb_url = http://x\n")
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    start = time.monotonic()
    one_line_error(cli("compile", ONNX, "--device", S24), "cannot reach Qualcomm AI Hub")
    assert time.monotonic() - start < 5


def test_cli_rejected_token_one_line_exit_2(hub, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    one_line_error(cli("profile", TFLITE, "--device", S24), f"rejected the API token from ${TOKEN_ENV} (HTTP 401)")


# ---------------------------------------------------------------- token hygiene

SECRET = "s3cret-Token-9f8e7d6c5b4a"


def test_environment_token_comes_before_the_config_file(hub, tmp_path, monkeypatch):
    ini = hub.write_client_ini(tmp_path / "old.ini", token="revoked")
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    monkeypatch.setenv(TOKEN_ENV, hub.token)
    assert profile_on_hub(TFLITE, S24, timeout=60).backend == "hub"


def test_cli_api_token_works_but_warns_that_ps_shows_it(hub):
    result = cli("profile", TFLITE, "--device", S24, "--api-token", hub.token, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: --api-token is visible to other users") and TOKEN_ENV in result.stderr
    result = cli("profile", TFLITE, "--device", S24, "--api-token", "wrong")
    warning, error = result.stderr.strip().splitlines()
    assert warning.startswith("warning: --api-token is visible") and result.exit_code == 2
    assert error.startswith("error: ") and "rejected the API token from --api-token (HTTP 401)" in error


def test_cli_token_from_a_file_or_stdin_without_a_warning(hub, tmp_path):
    hub.write_client_ini(tmp_path / "client.ini", with_token=False)   # the fixture's file, now without a token
    token_file = tmp_path / "token.txt"
    token_file.write_text(hub.token + "\n")
    for args, stdin in (([token_file], None), (["-"], hub.token + "\n")):
        result = runner.invoke(app, ["hub", "profile", str(TFLITE), "--device", S24, "--json",
                                     "--api-token-file", *map(str, args)], input=stdin)
        assert result.exit_code == 0 and result.stderr == "", result.output
    one_line_error(cli("profile", TFLITE, "--device", S24, "--api-token-file", tmp_path / "none.txt"),
                   f"--api-token-file {tmp_path / 'none.txt'}: no such file")
    one_line_error(cli("profile", TFLITE, "--device", S24, "--api-token-file", "/dev/zero"), "not a regular file")
    one_line_error(cli("profile", TFLITE, "--device", S24, "--api-token", "x", "--api-token-file", token_file),
                   "give one of them")


@pytest.mark.parametrize("url, refused", [
    ("http://aihub.example.com", True), ("HTTP://10.0.0.5:8000/", True), ("http://127.0.0.1:8000", False),
    ("http://localhost:8000", False), ("http://[::1]:8000", False), ("https://aihub.example.com", False),
])
def test_plain_http_api_url_is_refused_unless_it_is_this_machine(tmp_path, monkeypatch, url, refused):
    from edgeface.hub.config import resolve_config

    ini = tmp_path / "client.ini"
    ini.write_text(f"[api]\napi_token = {SECRET}\napi_url = {url}\n")
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(ini))
    if not refused:
        assert resolve_config().api_url == url
        return
    with pytest.raises(HubError) as info:
        resolve_config()
    assert "plain http: the API token would cross the network unencrypted" in str(info.value)
    assert str(ini) in str(info.value) and SECRET not in str(info.value)


def test_token_with_odd_characters_is_refused_without_showing_it(hub, monkeypatch):
    for token in (SECRET + "\nX-Injected: 1", SECRET + " tail", SECRET + "é"):
        monkeypatch.setenv(TOKEN_ENV, token)
        with pytest.raises(HubAuthError, match=f"from \\${TOKEN_ENV} is not a Qualcomm AI Hub token") as info:
            profile_on_hub(TFLITE, S24)
        assert SECRET not in str(info.value)
    assert hub.calls == []


def test_token_never_appears_in_messages_or_logs(hub, tmp_path, monkeypatch, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(TOKEN_ENV, SECRET)      # rejected by the stand-in
    dead = tmp_path / "dead.ini"
    dead.write_text(f"[api]\napi_url = http://127.0.0.1:{closed_port()}\n")
    lines = [one_line_error(cli("profile", TFLITE, "--device", S24), "rejected the API token")]
    hub.unauthorized = True                    # a 401 from the client itself, after the probe
    monkeypatch.setenv(TOKEN_ENV, hub.token)
    with pytest.raises(HubAuthError) as info:
        from edgeface.hub.config import make_client, resolve_config

        profile_on_hub(TFLITE, S24, client=make_client(resolve_config()), timeout=60)
    lines.append(str(info.value))
    monkeypatch.setenv("QAIHUB_CLIENT_INI", str(dead))
    monkeypatch.setenv(TOKEN_ENV, SECRET)
    lines.append(one_line_error(cli("compile", ONNX, "--device", S24), "cannot reach Qualcomm AI Hub"))
    for line in lines:
        assert SECRET not in line and hub.token not in line, line
    assert caplog.text and SECRET not in caplog.text and hub.token not in caplog.text


def test_cli_failed_job_and_timeout_one_line_exit_2(hub):
    hub.fail_jobs["compile"] = "Failed to compile: unsupported op 'Einsum'"
    one_line_error(cli("compile", ONNX, "--device", S24), "compile job", "unsupported op 'Einsum'")
    hub.fail_jobs.clear()
    hub.never_finish = True
    one_line_error(cli("profile", TFLITE, "--device", S24, "--timeout", "1"), "did not finish within 1 s")


def test_cli_bad_arguments_one_line_exit_2(hub, tmp_path):
    one_line_error(cli("profile", tmp_path / "nope.onnx", "--device", S24), "no such model file")
    one_line_error(cli("profile", TFLITE, "--device", S24, "--runtime", "qnn_context_binary"),
                   "compiles ONNX and PyTorch models, not .tflite files")
    refused = cli("compile", ONNX, "--device", S24, "--runtime", "coreml")   # click's usage error
    assert refused.exit_code == 2 and "'coreml' is not one of" in refused.stderr
