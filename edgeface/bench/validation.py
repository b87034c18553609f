"""The estimator's validation tables (``edgeface bench validate-estimator``,
``scripts/validate_estimator.py``) as Markdown, from ``validate_transfer`` and
``validate_graph`` in :mod:`edgeface.bench.estimate`."""

from __future__ import annotations

from typing import Any


def _fmt(stat) -> str:
    return "-" if stat is None else f"{stat['median']:.1f} / {stat['p90']:.1f}"


def validation_markdown(transfer: dict[str, Any], graph: dict[str, Any], full: bool = False) -> str:
    lines: list[str] = []
    out = lines.append
    src = transfer["source"]
    out(f"## Transfer: one measurement on {transfer['reference']} -> every device\n")
    out(f"Leave-one-model-out over {src['package']} {src['version']} perf.yaml "
        f"({transfer['overall']['n']} predictions, NPU-placed models, runtimes "
        f"{', '.join(transfer['runtimes'])}). Absolute percentage error, median / p90.\n")
    o = transfer["overall"]
    out(f"**All devices: edgeface {_fmt(o['model'])}, naive {_fmt(o['naive'])}**"
        f" (devices whose published figures are copies of another device's are left out: "
        f"{', '.join(transfer['copies']) or 'none'})\n")
    out("| device | Hexagon | predictions | edgeface median / p90 % | naive median / p90 % |")
    out("|---|---|---:|---:|---:|")
    for row in sorted(transfer["by_device"], key=lambda r: r["model"]["median"]):
        out(f"| {row['device']} | v{row['htp_arch']} | {row['n']} | {_fmt(row['model'])} | {_fmt(row['naive'])} |")
    if full:
        out("\n| device | runtime | precision | n | edgeface median / p90 % | naive median / p90 % |")
        out("|---|---|---|---:|---:|---:|")
        for row in transfer["rows"]:
            out(f"| {row['device']} | {row['runtime']} | {row['precision']} | {row['n']} | "
                f"{_fmt(row['model'])} | {_fmt(row['naive'])} |")
    out("\n## From the graph alone\n")
    out(f"{graph['points']} predictions from {graph['graphs']} graphs "
        f"({', '.join(graph['graph_names'])}); leave-one-graph-out. "
        f"Absolute percentage error, median / p90.\n")
    out("| runtime | precision | graphs | predictions | edgeface median / p90 % | within 30 % | "
        "baseline: ms/GMAC | baseline: a + b x GMAC (within 30 %) |")
    out("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in graph["rows"]:
        out(f"| {row['runtime']} | {row['precision']} | {row['graphs']} | {row['points']} | {_fmt(row['model'])} | "
            f"{row['within_30']:.0f} % | {_fmt(row['naive'])} | {_fmt(row['affine'])} "
            f"({row['affine_within_30']:.0f} %) |")
    out("\nGraphs not comparable with a published model (kept out): " +
        "; ".join(f"{g['name']} ({g['why']})" for g in graph["not_comparable"]))
    if graph.get("host_cpu"):
        h = graph["host_cpu"]
        out(f"\nCPU (this host's measurements, {h['n']} graphs, leave-one-out): "
            f"edgeface {_fmt(h['model'])}, MACs-only {_fmt(h['naive'])}")
    return "\n".join(lines) + "\n"
