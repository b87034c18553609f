"""``edgeface bench --report DIR``: ``bench.json`` (every result and budget check),
``bench.md`` (the same as tables) and ``bench.png`` (latency per device with each budget
as a line). Every file is written atomically.

``bench.json`` is the document :func:`edgeface.bench.result.save_results` writes
(``{"results": [...]}``, readable by ``load_results``) with two more keys: ``budgets``
(one entry per check) and ``passed``; and ``sdk_overhead`` when the whole SDK was timed on
a phone (edgeface/bench/sdk_report.py: per profile, the SDK overhead next to the model time).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

from edgeface.bench.budgets import BudgetCheck
from edgeface.bench.result import BenchResult
from edgeface.bench.sdk_report import OVERHEAD_HEADERS, OVERHEAD_NOTE, overhead_cells, sdk_overhead
from edgeface.fsutil import atomic_write_bytes, write_json

MPL_MISSING = ("bench.png skipped: matplotlib is not installed (pip install 'edgeface[toolchain]' or "
               "pip install matplotlib); bench.json and bench.md were written")


def fmt_ms(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def device_label(device: str, profile: Optional[str]) -> str:
    return f"{device} [{profile}]" if profile and profile != device else device


def result_rows(results: Sequence[BenchResult]) -> list[list[str]]:
    """model, device [profile], backend, runtime, unit, precision, threads, init, median, p90, p99, peak MB"""
    rows = []
    for r in results:
        latency = r.median_ms if r.median_ms is not None else r.inference_avg_ms
        if r.estimate_low_ms is not None and r.estimate_high_ms is not None:
            median = f"{fmt_ms(latency)} ({fmt_ms(r.estimate_low_ms)}-{fmt_ms(r.estimate_high_ms)})"
        else:
            median = fmt_ms(latency) + ("" if r.median_ms is not None or latency is None else " (avg)")
        rows.append([r.model, device_label(r.device, r.profile), r.backend, r.runtime, r.compute_unit,
                     r.precision, "-" if r.threads is None else str(r.threads), fmt_ms(r.init_ms), median,
                     fmt_ms(r.p90_ms), fmt_ms(r.p99_ms),
                     "-" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.1f}"])
    return rows


RESULT_HEADERS = ["model", "device [profile]", "backend", "runtime", "unit", "precision", "threads",
                  "init ms", "median ms", "p90 ms", "p99 ms", "peak MB"]
CHECK_HEADERS = ["profile", "device", "use case", "backend", "runtime", "unit", "threads", "stages (ms)",
                 "latency ms", "budget ms", "verdict", "note"]


def check_rows(checks: Sequence[BudgetCheck]) -> list[list[str]]:
    rows = []
    for c in checks:
        stages = " + ".join(f"{name} {fmt_ms(ms)}" for name, ms in c.stages.items())
        latency = fmt_ms(c.latency_ms)
        if c.low_ms is not None and c.high_ms is not None:
            latency += f" ({fmt_ms(c.low_ms)}-{fmt_ms(c.high_ms)})"
        rows.append([c.profile, c.device, c.use_case, c.backend, c.runtime, c.compute_unit,
                     "-" if c.threads is None else str(c.threads), stages, latency, fmt_ms(c.budget_ms),
                     c.status.upper() if c.status != "n/a" else "n/a", c.note])
    return rows


def report_document(results: Sequence[BenchResult], checks: Sequence[BudgetCheck],
                    meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    overhead = sdk_overhead(results)
    return {"results": [r.to_dict() for r in results],
            "budgets": [_finite(c.to_dict()) for c in checks],
            "passed": not any(c.failed for c in checks),
            **({"sdk_overhead": overhead} if overhead else {}),
            **({"run": meta} if meta else {})}


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def markdown(results: Sequence[BenchResult], checks: Sequence[BudgetCheck],
             meta: Optional[dict[str, Any]] = None) -> str:
    def table(headers: list[str], rows: list[list[str]]) -> list[str]:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
                *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)]

    lines = ["# edgeface bench", ""]
    if meta:
        lines += [f"`{meta.get('command', 'edgeface bench')}`", ""]
    failed = [c for c in checks if c.failed]
    if checks:
        not_applicable = sum(c.status == "n/a" for c in checks)
        verdict = (f"**{len(failed)} of {len(checks)} budget checks FAILED**" if failed
                   else f"All {sum(c.passed for c in checks)} budget checks passed"
                   + (f" ({not_applicable} n/a)" if not_applicable else ""))
        lines += [verdict, ""]
    else:
        lines += ["No budget was checked (a lone model is checked only against the use cases named with "
                  "`--use-case`; results need a device profile).", ""]
    lines += ["## Latency", "", *table(RESULT_HEADERS, result_rows(results)), ""]
    overhead = sdk_overhead(results)
    if overhead:
        lines += ["## The whole SDK next to the models", "", OVERHEAD_NOTE + ".", "",
                  *table(OVERHEAD_HEADERS, [overhead_cells(row) for row in overhead]), ""]
    if checks:
        lines += ["## Budgets", "", "A use case adds up its stages (docs/bench.md); latency is the median "
                  "(the average where a tool gives no median).", "",
                  *table(CHECK_HEADERS, check_rows(checks)), ""]
    sources = list(dict.fromkeys(r.source for r in results if r.source))
    if sources:
        lines += ["## How each figure was obtained", "", *(f"- {s}" for s in sources), ""]
    return "\n".join(lines)


def write_report(out_dir: str | Path, results: Sequence[BenchResult], checks: Sequence[BudgetCheck],
                 meta: Optional[dict[str, Any]] = None) -> tuple[list[Path], Optional[str]]:
    """Write the three files; returns (paths written, a warning or None)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    document = report_document(results, checks, meta)
    write_json(out / "bench.json", document)
    written.append(out / "bench.json")
    atomic_write_bytes(out / "bench.md", markdown(results, checks, meta).encode())
    written.append(out / "bench.md")
    try:
        png = chart_png(results, checks)
    except ImportError:
        return written, MPL_MISSING
    atomic_write_bytes(out / "bench.png", png)
    written.append(out / "bench.png")
    return written, None


def chart_png(results: Sequence[BenchResult], checks: Sequence[BudgetCheck]) -> bytes:
    """One panel per use case: a bar per device (and backend / unit / threads) with that
    pipeline's latency, green under its budget and red over, the budget a black line across
    the bar; estimate ranges as error bars. Without budget checks: one bar per result."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    panels: list[tuple[str, list[tuple[str, float, Optional[float], Optional[float], Optional[float], str]]]] = []
    if any(c.latency_ms is not None for c in checks):
        for use_case in dict.fromkeys(c.use_case for c in checks):
            bars = []
            for c in checks:
                if c.use_case != use_case or c.latency_ms is None:
                    continue
                label = f"{c.device}\n{c.backend} {c.compute_unit}" + (f" x{c.threads}" if c.threads else "")
                bars.append((label, c.latency_ms, c.budget_ms, c.low_ms, c.high_ms, c.status))
            if bars:
                panels.append((use_case, bars))
    else:
        bars = []
        for r in results:
            if r.latency_ms is None:
                continue
            role = r.extra.get("role", "model")
            label = f"{r.device}\n{role} {r.backend} {r.compute_unit}" + (f" x{r.threads}" if r.threads else "")
            bars.append((label, r.latency_ms, None, r.estimate_low_ms, r.estimate_high_ms, "n/a"))
        panels.append(("latency per model", bars))

    widest = max((len(b) for _, b in panels), default=1)
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 1.1 * widest + 2), 3.6 * len(panels)),
                             squeeze=False)
    colours = {"pass": "#3a9d5d", "fail": "#d9534f", "n/a": "#6c8ebf"}
    for ax, (title, bars) in zip(axes[:, 0], panels):
        xs = range(len(bars))
        heights = [b[1] for b in bars]
        ax.bar(list(xs), heights, color=[colours.get(b[5], "#6c8ebf") for b in bars], width=0.6, zorder=2)
        for x, (_, value, budget, low, high, _) in zip(xs, bars):
            if low is not None and high is not None:
                ax.errorbar([x], [value], yerr=[[max(value - low, 0)], [max(high - value, 0)]], fmt="none",
                            ecolor="#333333", capsize=4, zorder=3)
            if budget is not None and not math.isnan(budget):
                ax.hlines(budget, x - 0.42, x + 0.42, colors="black", linestyles="--", linewidth=1.5, zorder=4)
                ax.annotate(f"budget {fmt_ms(budget)}", (x + 0.42, budget), textcoords="offset points",
                            xytext=(0, 3), ha="right", fontsize=7)
            ax.annotate(fmt_ms(value), (x - 0.3, value), textcoords="offset points", xytext=(0, 3),
                        ha="left", fontsize=7, fontweight="bold")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([b[0] for b in bars], fontsize=7)
        ax.set_ylabel("ms")
        ax.set_title(title.replace("_", " "), fontsize=10)
        ax.grid(axis="y", alpha=0.3, zorder=0)
        top = max([b[1] for b in bars] + [b[2] for b in bars if b[2] is not None and not math.isnan(b[2])]
                  + [b[4] for b in bars if b[4] is not None] + [1e-3])
        bottom = min([b[1] for b in bars if b[1] > 0] + [b[3] for b in bars if b[3] is not None and b[3] > 0]
                     + [top])
        if top / bottom > 30:   # a budget far above the bars: a log axis keeps both readable
            ax.set_yscale("log")
            ax.set_ylim(bottom / 3, top * 3)
            ax.set_ylabel("ms (log scale)")
        else:
            ax.set_ylim(0, top * 1.18)
    fig.suptitle("latency per device: bars green under the budget, red over it; dashed line: the budget",
                 fontsize=8, y=0.995)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
