"""The whole SDK next to its models alone, per device profile: what a frame costs through
the SDK (``edgeface bench --on adb --sdk-binary``, edgeface/bench/sdk_adb.py), its stages,
the models' run time inside those same calls, and the SDK overhead: the frame's time minus
the models' run time, in ms and as a ratio of the model time (0.25: the SDK adds a quarter
to what the models take). Where the run also had ``benchmark_model``'s model-only figures
(``--benchmark-binary``) for the same phone and thread count, the frame's model time by
those (detector + faces x embedder, their averages) stands beside it.

Figures are means over every timed call of every frame: stage means add up to the frame's
mean, which medians would not.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any, Optional, Sequence

from edgeface.bench.result import BenchResult

SDK_ROLE = "sdk"
# The stages edgeface_bench reports, in pipeline order (its "total" is the whole call).
STAGES = ("preprocess", "detect", "align", "embed", "search")
# milliseconds but the ratio and the memory
OVERHEAD_HEADERS = ["profile", "device", "threads", "frame", *STAGES, "model in SDK", "benchmark_model",
                    "SDK overhead", "overhead / model", "peak MB"]


def is_sdk(result: BenchResult) -> bool:
    return (result.extra or {}).get("role") == SDK_ROLE


def sdk_overhead(results: Sequence[BenchResult]) -> list[dict[str, Any]]:
    """One row per whole-SDK result: profile, device, threads, frame_ms, stages_ms, model_ms,
    benchmark_model_ms (None without benchmark_model figures), overhead_ms, overhead_ratio,
    peak_memory_mb and faces_per_frame."""
    rows = []
    for r in results:
        if not is_sdk(r) or r.inference_avg_ms is None:
            continue
        extra = r.extra
        invoke = extra.get("invoke_ms") or {}
        faces = list((extra.get("faces") or {}).values())
        faces_per_frame = fmean(faces) if faces else 0.0
        model_ms = sum(invoke.values()) if invoke else None
        overhead = None if model_ms is None else r.inference_avg_ms - model_ms
        rows.append({
            "profile": r.profile, "device": r.device, "threads": r.threads, "frame_ms": r.inference_avg_ms,
            "frame_median_ms": r.median_ms, "stages_ms": dict(extra.get("stages_ms") or {}), "model_ms": model_ms,
            "benchmark_model_ms": _benchmark_model_ms(r, results, faces_per_frame, "embedder" in invoke),
            "overhead_ms": overhead,
            "overhead_ratio": None if overhead is None or not model_ms else overhead / model_ms,
            "peak_memory_mb": r.peak_memory_mb, "faces_per_frame": faces_per_frame})
    return rows


def _benchmark_model_ms(sdk: BenchResult, results: Sequence[BenchResult], faces_per_frame: float,
                        embeds: bool) -> Optional[float]:
    """A frame's model time by benchmark_model on the same phone and thread count: the
    detector once, the embedder once per face found; None where a figure is missing."""
    by_role = {}
    for r in results:
        role = (r.extra or {}).get("role")
        if (r.backend == sdk.backend and r.device == sdk.device and r.threads == sdk.threads
                and r.runtime == "tflite" and role in ("detector", "embedder")):
            by_role[role] = r.inference_avg_ms
    if by_role.get("detector") is None or (embeds and by_role.get("embedder") is None):
        return None
    return by_role["detector"] + (faces_per_frame * by_role["embedder"] if embeds else 0.0)


def overhead_cells(row: dict[str, Any]) -> list[str]:
    """A row of :func:`sdk_overhead` as the cells of OVERHEAD_HEADERS."""
    from edgeface.bench.report import fmt_ms

    ratio = row["overhead_ratio"]
    return [row["profile"] or "-", row["device"], "-" if row["threads"] is None else str(row["threads"]),
            fmt_ms(row["frame_ms"]), *(fmt_ms(row["stages_ms"].get(s)) for s in STAGES),
            fmt_ms(row["model_ms"]), fmt_ms(row["benchmark_model_ms"]), fmt_ms(row["overhead_ms"]),
            "-" if ratio is None else f"{ratio:.2f}",
            "-" if row["peak_memory_mb"] is None else f"{row['peak_memory_mb']:.1f}"]


OVERHEAD_NOTE = ("ms; frame: the SDK's analyze (detect, align, embed) and 1:N search per frame on the phone, the mean "
                 "over every timed call; model: the detector's and embedder's run time inside those calls; SDK "
                 "overhead: frame - model, and as a ratio of model; benchmark_model: the same frame's model time "
                 "by TFLite's benchmark_model (detector + faces x embedder)")
