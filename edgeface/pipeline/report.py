"""The pipeline's report: report.md for people, report.json for machines, PNG charts.

It answers, at the top, "which artifact do I ship to which phone": per device profile, the
way to run the bundle (the HTP context compiled for its SoC, else the NPU or CPU path the
estimator covers) and whether each use case fits its latency budget. Below it: accuracy of
every artifact, HTP offload and fidelity, latency, training, data and stage timings.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional

from edgeface.fsutil import atomic_write_bytes, write_json
from edgeface.pipeline.cache import StageDir

UNIT_ORDER = ("npu", "gpu", "cpu")  # the preferred way to run, when its budgets pass


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows] + [""]


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _num(value: Optional[float], digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _kib(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1024:.0f} KiB"


# ----------------------------------------------------------------- ship table

def ship_plan(config, records: dict[str, dict]) -> list[dict]:
    """Per device profile: the compute unit to use (the first of npu, gpu, cpu whose budget
    checks all pass, else the one failing the fewest), the runtime path, and the verdict
    per use case."""
    from edgeface.bench.profiles import load_profile

    checks = records["bench"]["document"]["budgets"]
    targets = {soc for role in records["bundle"]["targets"].values() for soc in role}
    plan = []
    for profile_id in dict.fromkeys(c["profile"] for c in checks):
        mine = [c for c in checks if c["profile"] == profile_id and c["status"] != "n/a"]
        units = [u for u in UNIT_ORDER if any(c["compute_unit"] == u for c in mine)]
        if not units:
            continue

        def failures(unit: str) -> int:
            return sum(c["status"] == "fail" for c in mine if c["compute_unit"] == unit)

        unit = next((u for u in units if failures(u) == 0), min(units, key=failures))
        profile = load_profile(profile_id)
        soc = profile.soc.part if profile.soc else None
        plan.append({"profile": profile_id, "device": profile.name, "soc": soc, "compute_unit": unit,
                     "runtime": _runtime_path(unit, soc, targets, records),
                     "use_cases": {c["use_case"]: {"status": c["status"], "latency_ms": c["latency_ms"],
                                                   "budget_ms": c["budget_ms"]}
                                   for c in mine if c["compute_unit"] == unit},
                     "all_pass": failures(unit) == 0})
    return plan


def _runtime_path(unit: str, soc: Optional[str], targets: set[str], records: dict) -> str:
    chosen = records["bundle"]["chosen"]
    tflite = f"TFLite (detector {chosen['detector']['precision']}, embedder {chosen['embedder']['precision']})"
    if unit == "npu":
        if soc in targets:
            precisions = {role: t.get(soc) for role, t in records["bundle"]["targets"].items()}
            return (f"QNN context for {soc} (detector {precisions.get('detector') or 'CPU'}, "
                    f"embedder {precisions.get('embedder') or 'CPU'}): FaceAnalyzerOptions(soc='{soc}')")
        return f"HTP via the TFLite QNN delegate; add {soc} to hexagon.socs to ship a context" if soc else "NPU"
    if unit == "host":
        return tflite
    return f"{tflite} on the {unit.upper()}" + (" (XNNPACK)" if unit == "cpu" else "")


# --------------------------------------------------------------------- charts

def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig, path: Path) -> Path:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def accuracy_chart(rows: list[dict], path: Path) -> Path:
    """Headline metric per artifact, one panel per model."""
    plt = _figure()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, (role, metric, title) in zip(axes, (("detector", "ap", "detector AP@0.5"),
                                                ("embedder", "accuracy", "verification accuracy"))):
        mine = [r for r in rows if r["role"] == role]
        labels = [r["label"].removeprefix(f"{role} ") for r in mine]
        values = [r["metrics"][metric] for r in mine]
        ax.barh(labels, values, color=["#4c72b0" if r["runtime"] == "tflite" else "#dd8452" for r in mine])
        ax.set_title(title)
        ax.set_xlim(0, 1)
        for i, v in enumerate(values):
            ax.text(min(v, 0.85) + 0.01, i, f"{v:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    path = _save_png(fig, path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------- report

def _sections(config, records: dict, timings: list[dict], plan: list[dict]) -> list[str]:
    lines = [f"# edgeface pipeline report: {config.name}", ""]
    chosen = records["bundle"]["chosen"]
    lines += [f"**Bundle:** `stages/bundle/bundle`: detector {config.detector.arch} "
              f"{chosen['detector']['precision']} (AP {_num(chosen['detector']['metrics']['ap'], 3)}), embedder "
              f"{config.recognizer.arch} {chosen['embedder']['precision']} (accuracy "
              f"{_pct(chosen['embedder']['metrics']['accuracy'])}); Hexagon targets: "
              + (", ".join(sorted({s for t in records['bundle']['targets'].values() for s in t})) or "none"), ""]
    lines += ["## What to ship to which device", "",
              "Per device profile, the first compute unit (NPU, GPU, CPU) whose use cases all fit their budgets "
              "(latency estimated from the graph for phones, measured for this host).", ""]
    use_cases = list(dict.fromkeys(u for p in plan for u in p["use_cases"]))
    rows = []
    for p in plan:
        verdicts = [_verdict(p["use_cases"].get(u)) for u in use_cases]
        rows.append([p["device"], p["soc"] or "-", p["compute_unit"], p["runtime"], *verdicts])
    lines += _table(["device", "SoC", "unit", "how to run the bundle", *use_cases], rows)
    lines += _accuracy_section(records)
    lines += _hexagon_section(records)
    lines += _latency_section(records)
    lines += _training_section(records)
    lines += _data_section(records)
    lines += ["## Stage timings", ""]
    lines += _table(["stage", "status", "seconds"], [[t["stage"], t["status"], f"{t['seconds']:.1f}"] for t in timings])
    return lines


def _verdict(check: Optional[dict]) -> str:
    if not check or check["latency_ms"] is None:
        return "-"
    mark = "pass" if check["status"] == "pass" else "**FAIL**"
    return f"{mark} {check['latency_ms']:.1f} / {check['budget_ms']:.0f} ms"


def _accuracy_section(records: dict) -> list[str]:
    rows = records["evaluate"]["artifacts"]
    chosen = records["bundle"]["chosen"]
    lines = ["## Accuracy of every artifact", "",
             f"On the test sets (`{records['evaluate']['test_sets']['detection']}`, "
             f"`{records['evaluate']['test_sets']['pairs']}`), through the SDK; the HTP rows run the compiled "
             "contexts in the HTP simulator. ![accuracy](accuracy.png)", ""]
    table = []
    for role, metric in (("detector", "ap"), ("embedder", "accuracy")):
        mine = [r for r in rows if r["role"] == role]
        reference = next(r for r in mine if r["runtime"] == "tflite" and r["precision"] == "fp32")["metrics"][metric]
        for r in mine:
            m = r["metrics"]
            detail = (f"NME {_num(m.get('keypoint_nme'), 3)}" if role == "detector"
                      else ", ".join(f"TAR@FAR{k.split('far')[1]} {_num(v, 3)}" for k, v in m.items()
                                     if k.startswith("tar@")))
            shipped = "yes" if r["runtime"] == "tflite" and chosen[role]["precision"] == r["precision"] else ""
            gate = "pass" if not r["gate_failures"] else "FAIL: " + "; ".join(r["gate_failures"])
            table.append([role, r["label"].removeprefix(f"{role} "), _kib(r["size_bytes"]),
                          f"{metric} {_num(m[metric])}", f"{m[metric] - reference:+.4f}", detail, gate, shipped])
    return lines + _table(["model", "artifact", "size", "metric", "vs fp32", "more", "fidelity gate", "shipped"],
                          table)


def _hexagon_section(records: dict) -> list[str]:
    compiled = records["compile"]
    lines = ["## Qualcomm Hexagon (QNN context binaries)", ""]
    if "skipped" in compiled:
        return lines + [f"Not built: {compiled['skipped']}", ""]
    rows = []
    for role, c in compiled.items():
        for x in c["contexts"]:
            share = x["nodes_on_htp"] / x["nodes_total"] if x["nodes_total"] else None
            rows.append([role, x["soc"], f"v{x['htp_arch']}", x["precision"],
                         f"{x['nodes_on_htp']}/{x['nodes_total']} ({_pct(share)})", _kib(x["context_bytes"]),
                         x["fidelity"], "pass" if x["passed"] else "FAIL: " + "; ".join(x["failures"]),
                         "yes" if c["targets"].get(x["soc"]) == x["precision"] else ""])
        rows += [[role, "-", "-", "-", "-", "-", s, "not built", ""] for s in c["skipped"]]
    return lines + _table(["model", "SoC", "Hexagon", "precision", "nodes on HTP", "context", "fidelity (simulator)",
                           "gate", "in bundle"], rows)


def _latency_section(records: dict) -> list[str]:
    from edgeface.bench.report import fmt_ms

    results = records["bench"]["document"]["results"]
    host = [r for r in results if r["backend"] == "host"]
    lines = ["## Latency", "", "Measured on this host (median of the configured runs, each model in a fresh "
             "process):", ""]
    lines += _table(["stage", "runtime", "precision", "threads", "median", "p90", "peak MB"],
                    [[r["extra"].get("role", "model"), r["runtime"], r["precision"], r["threads"] or "-",
                      fmt_ms(r["median_ms"]), fmt_ms(r["p90_ms"]),
                      "-" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.0f}"] for r in host])
    failed = [c for c in records["bench"]["document"]["budgets"] if c["status"] == "fail"]
    lines += [f"Estimated for every profile and checked against its budgets: {len(failed)} of "
              f"{len(records['bench']['document']['budgets'])} checks fail; every figure in "
              "[bench.md](bench.md), chart: ![latency](bench.png)", ""]
    return lines


def _training_section(records: dict) -> list[str]:
    rows = []
    for stage, headline in (("train_detector", "val_ap"), ("train_recognizer", "val_acc")):
        t = records[stage]
        final = t["final"]
        rows.append([stage.removeprefix("train_"), t["arch"], t["input_size"], len(t["history"]), t["steps"],
                     _num(final.get("loss")), f"{headline} {_num(final.get(headline))}",
                     _num(final.get("images_per_s"), 1)])
    return ["## Training", "", "Curves: ![detector](train_detector.png) ![recognizer](train_recognizer.png)", "",
            *_table(["model", "arch", "input", "epochs", "steps", "final loss", "validation", "images/s"], rows)]


def _data_section(records: dict) -> list[str]:
    sets = records["data"]["sets"]
    rows = [[name, s["spec"], ", ".join(f"{k} {v}" for k, v in s.items() if k != "spec")] for name, s in sets.items()]
    return ["## Data", "", *_table(["set", "spec", "size"], rows),
            "Previews: ![train](detector_train.png) ![test](detection_test.png) ![pairs](pairs_test.png)", ""]


def _copy_figures(inputs: dict[str, Path], records: dict, out: Path) -> None:
    for name in records["data"]["previews"]:
        shutil.copyfile(inputs["data"] / name, out / name)
    for stage in ("train_detector", "train_recognizer"):
        plot = records[stage].get("plot")
        if plot and (inputs[stage] / plot).exists():
            shutil.copyfile(inputs[stage] / plot, out / f"{stage}.png")
    for name in records["bench"]["files"]:
        shutil.copyfile(inputs["bench"] / name, out / name)


def write_pipeline_report(config, records: dict[str, dict], inputs: dict[str, Path], out: Path) -> dict:
    timings = []
    for name, folder in inputs.items():
        finished = StageDir(folder.parent, name).finished() or {}
        timings.append({"stage": name, "status": "finished", "seconds": finished.get("seconds", 0.0)})
    plan = ship_plan(config, records)
    _copy_figures(inputs, records, out)
    accuracy_chart(records["evaluate"]["artifacts"], out / "accuracy.png")
    markdown = "\n".join(_sections(config, records, timings, plan))
    atomic_write_bytes(out / "report.md", markdown.encode())
    document = {"config": config.to_dict(), "ship": plan, "bundle": records["bundle"],
                "artifacts": records["evaluate"]["artifacts"], "hexagon": records["compile"],
                "bench": records["bench"]["document"], "training": {k: records[k] for k in ("train_detector",
                                                                                          "train_recognizer")},
                "data": records["data"], "stage_seconds": {t["stage"]: t["seconds"] for t in timings}}
    write_json(out / "report.json", document, default=str)
    return {"report": "report.md", "json": "report.json", "ship": plan}
