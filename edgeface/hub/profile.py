"""AI Hub profile jobs as :class:`edgeface.bench.result.BenchResult` rows.

A profile runs the model on a real device in Qualcomm's lab (about 100 timed runs) and
returns, in microseconds and bytes: each run's time (``all_inference_times``), the
"estimated inference time" (the fastest run), load times, the peak-memory range of
inference, and the compute unit (NPU / GPU / CPU) of every layer. The result keeps the
distribution (median, mean, p90, min, max, std over the runs), the peak memory (upper end
of the range, MiB), and the layer counts per compute unit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgeface.bench.result import BenchResult
from edgeface.hub import HubError
from edgeface.hub.compile import check_device, device_info, download_target, model_file, prepare_model
from edgeface.hub.devices import resolve_device
from edgeface.hub.jobs import Deadline, Progress, hub_errors, wait_for

COMPUTE_UNITS = ("npu", "gpu", "cpu")
_MIB = 1024.0 * 1024.0


def profile_options(compute_unit: Optional[str] = None, extra: str = "") -> str:
    """The client's options string for a profile job."""
    flags = []
    if compute_unit:
        unit = compute_unit.strip().lower()
        allowed = ("npu", "gpu", "cpu", "all")
        if unit not in allowed:
            raise HubError(f"--compute-unit {compute_unit}: choose one of {', '.join(allowed)}")
        flags += ["--compute_unit", unit]
    if extra:
        flags.append(extra.strip())
    return " ".join(flags)


def _ms(us: Any) -> Optional[float]:
    return round(float(us) / 1000.0, 4) if isinstance(us, (int, float)) and us > 0 else None


def layer_counts(profile: dict) -> dict[str, int]:
    counts = {unit: 0 for unit in COMPUTE_UNITS}
    for layer in profile.get("execution_detail") or []:
        unit = str(layer.get("compute_unit", "")).lower()
        if unit in counts:
            counts[unit] += 1
    return counts


def bench_result_from_profile(profile: dict, *, model: str, device: str, runtime: str,
                              compute_unit: Optional[str] = None, precision: str = "unknown",
                              profile_id: Optional[str] = None, source: str = "",
                              extra: Optional[dict[str, Any]] = None) -> BenchResult:
    """A ``BenchResult`` (backend "hub") from the dict ``InferenceJob.download_profile()`` returns."""
    summary = profile.get("execution_summary") or {}
    runs_us = [t for t in summary.get("all_inference_times") or [] if isinstance(t, (int, float)) and t > 0]
    estimated = _ms(summary.get("estimated_inference_time"))
    layers = layer_counts(profile)
    if compute_unit and compute_unit != "all":
        unit = compute_unit
    elif sum(layers.values()):
        unit = max(COMPUTE_UNITS, key=lambda u: layers[u])  # the unit running most layers
    else:
        unit = "unknown"
    peak_range = summary.get("inference_memory_peak_range")
    if isinstance(peak_range, (list, tuple)) and len(peak_range) == 2 and peak_range[1]:
        peak_mb = round(peak_range[1] / _MIB, 3)
        range_mb = [round(peak_range[0] / _MIB, 3), round(peak_range[1] / _MIB, 3)]
    else:
        value = summary.get("estimated_inference_peak_memory")
        peak_mb = round(value / _MIB, 3) if isinstance(value, (int, float)) and value > 0 else None
        range_mb = None
    info = dict(extra or {})
    info.update({"estimated_inference_ms": estimated, "peak_memory_range_mb": range_mb,
                 "warm_load_ms": _ms(summary.get("warm_load_time"))})
    result = BenchResult(model=model, backend="hub", device=device, runtime=runtime, compute_unit=unit,
                         precision=precision, profile=profile_id, layers=layers,
                         init_ms=_ms(summary.get("first_load_time")), peak_memory_mb=peak_mb,
                         source=source, extra=info)
    if runs_us:
        runs = np.asarray(runs_us, np.float64) / 1000.0
        result.runs = len(runs)
        result.median_ms = round(float(np.median(runs)), 4)
        result.inference_avg_ms = round(float(runs.mean()), 4)
        result.p90_ms = round(float(np.percentile(runs, 90)), 4)
        result.p99_ms = round(float(np.percentile(runs, 99)), 4)
        result.min_ms = round(float(runs.min()), 4)
        result.max_ms = round(float(runs.max()), 4)
        result.std_ms = round(float(runs.std()), 4)
    elif estimated is not None:  # no per-run times: AI Hub's single figure (its fastest run)
        result.median_ms = estimated
        result.min_ms = estimated
        result.runs = 1
        info["median_is_estimate"] = True
    return result


def _precision(path: Path) -> str:
    fmt = {".tflite": "tflite", ".onnx": "onnx"}.get(path.suffix.lower())
    if fmt is None:
        return "unknown"
    try:
        from edgeface.bench.target import model_precision
    except ImportError:
        return "unknown"
    return model_precision(path.read_bytes(), fmt)


def profile_on_hub(model_path: str | Path, device_name: str, *, runtime: Optional[str] = None,
                   compute_unit: Optional[str] = None, precision: Optional[str] = None,
                   profile: Optional[str] = None, api_token: Optional[str] = None,
                   timeout: Optional[float] = None, options: str = "", profile_extra: str = "",
                   out: Optional[str | Path] = None, client=None, token_source: str = "--api-token",
                   progress: Progress = None) -> BenchResult:
    """Profile a model on a real device through Qualcomm AI Hub.

    ``device_name``: an AI Hub device name, a SoC part number (SM8650) or a device profile id
    (see :mod:`edgeface.hub.devices`). ``runtime``: tflite, qnn_context_binary, qnn_dlc or
    onnx; default the file's own format (uploaded as it is); another runtime compiles the
    ONNX model first (``options``: extra compile flags; ``out``: where to save the compiled
    model). ``compute_unit``: npu, gpu, cpu or all (AI Hub's default: the fastest it can use).
    ``timeout``: seconds for all job waits together (default 1800). ``api_token`` (default: the
    environment or the client's configuration, :mod:`edgeface.hub.config`) is named
    ``token_source`` in messages. ``progress`` is told each job's URL as soon as it is
    submitted, and its states (:func:`~edgeface.hub.jobs.wait_for`).
    Raises :class:`~edgeface.hub.HubError` subclasses with one-line messages.
    """
    from edgeface.hub.config import connect

    path = model_file(model_path)
    choice = resolve_device(device_name)
    deadline = Deadline(timeout)
    options_str = profile_options(compute_unit, profile_extra)
    if client is None:
        client, _ = connect(api_token, token_source=token_source)
    check_device(client, choice)
    model, runtime, compiled = prepare_model(client, path, choice, runtime, options, deadline, progress)
    if compiled is not None and out is not None:
        got = download_target(compiled.target_model, runtime, Path(out), f"downloading the {runtime} model")
        compiled.target_path, compiled.target_size = str(got), got.stat().st_size
    start = time.monotonic()
    with hub_errors(f"profiling {path.name}"):
        job = client.submit_inference_job(model, device=choice.to_device(), inputs=None, profile=True,
                                          options=options_str, name=f"edgeface profile {path.stem}",
                                          retry=False)
        if isinstance(job, list):
            job = job[0]
    wait_for(job, deadline, "profile job", progress)
    with hub_errors(f"downloading the profile of job {job.job_id}"):
        result = job.download_profile()
    if not isinstance(result, dict) or not result.get("execution_summary"):
        raise HubError(f"profile job {job.job_id} returned no profile (see {job.url})")
    name, os_version, chipset = device_info(job)
    name = name or choice.describe()
    extra: dict[str, Any] = {"job_id": job.job_id, "job_url": job.url, "device_os": os_version,
                             "chipset": chipset, "soc": choice.soc, "options": options_str,
                             "job_seconds": round(time.monotonic() - start, 3)}
    if compiled is not None:
        extra["compile"] = compiled.to_dict()
    return bench_result_from_profile(
        result, model=str(path), device=name, runtime=runtime, compute_unit=compute_unit,
        precision=precision or _precision(path), profile_id=profile or choice.profile,
        source=f"Qualcomm AI Hub profile job {job.job_id}", extra=extra)
