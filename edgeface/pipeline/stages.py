"""The pipeline's stages: each reads the folders of the stages it needs and writes its own.

    data -> train_detector, train_recognizer -> convert (TFLite fp32/fp16/int8, each checked
    by the fidelity gate and evaluated on the validation data) -> compile (QNN context
    binaries per SoC) -> evaluate (every artifact on the test sets, HTP simulator included)
    -> bundle (the artifact to ship per model, with its Hexagon targets) -> bench (host
    measured, every profile estimated, budgets) -> report

A stage returns a JSON-able summary (kept in its ``stage.json``); paths in it are relative
to the stage's folder, so a run directory can be moved.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from edgeface.errors import EdgefaceError
from edgeface.pipeline.config import PipelineConfig

ROLES = {"detector": "train_detector", "embedder": "train_recognizer"}  # bundle role -> its training stage


@dataclass
class StageContext:
    config: PipelineConfig
    work: Path                      # the stage's folder (RUN/stages/NAME.partial while it runs)
    resume: bool                    # work holds an interrupted attempt with the same inputs
    inputs: dict[str, Path]         # finished folders of the stages this one needs
    records: dict[str, dict]        # their stage.json summaries
    progress: Callable[[str], None]
    bars: bool                      # show the trainer's own progress bars


@dataclass(frozen=True)
class Stage:
    name: str
    needs: tuple[str, ...]
    settings: Callable[[PipelineConfig], Any]   # the part of the config the outputs depend on
    run: Callable[[StageContext], dict]
    title: str
    version: int = 1                            # bump when the stage's code changes its outputs


# ------------------------------------------------------------------------- data

def data_fingerprint(spec: str | None) -> Any:
    """What identifies a dataset without reading it: the spec of a synthetic set, or the
    size and mtime of an annotation file (or of a folder's entries)."""
    if spec is None or spec.startswith("synthetic"):
        return spec
    path = Path(spec)
    if path.is_file():
        st = path.stat()
        return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    if path.is_dir():
        entries = sorted(path.rglob("*"))
        return {"path": str(path.resolve()), "entries": len(entries),
                "bytes": sum(p.stat().st_size for p in entries if p.is_file()),
                "mtime_ns": max((p.stat().st_mtime_ns for p in entries), default=0)}
    return {"path": str(path), "missing": True}


def _data_settings(c: PipelineConfig) -> dict:
    specs = {"detector": c.data.detector, "recognizer": c.data.recognizer, "detector_val": c.data.detector_val,
             "recognizer_val": c.data.recognizer_val, "test_detection": c.evaluate.detection,
             "test_pairs": c.evaluate.pairs}
    return {name: data_fingerprint(spec) for name, spec in specs.items()}


def _load(kind: str, spec: str, field_name: str):
    """A dataset through edgeface.data, its errors prefixed with the config field."""
    import edgeface.data as data

    loader = {"detection": data.load_detection, "recognition": data.load_recognition, "pairs": data.load_pairs}[kind]
    try:
        return loader(spec)
    except EdgefaceError as exc:
        raise EdgefaceError(f"{field_name}: {exc}") from None


def run_data(ctx: StageContext) -> dict:
    """Open every dataset of the config (a bad path fails here, not after training) and draw
    a preview of each."""
    from edgeface.pipeline.preview import detection_preview, pairs_preview

    c = ctx.config
    if c.evaluate.detection == c.data.detector:
        raise EdgefaceError("evaluate.detection: the test set is the detector's training set; use held-out "
                            "data (a different seed for a synthetic set)")
    det = _load("detection", c.data.detector, "data.detector")
    rec = _load("recognition", c.data.recognizer, "data.recognizer")
    test = _load("detection", c.evaluate.detection, "evaluate.detection")
    pairs = _load("pairs", c.evaluate.pairs, "evaluate.pairs")
    for spec, kind, name in ((c.data.detector_val, "detection", "data.detector_val"),
                             (c.data.recognizer_val, "pairs", "data.recognizer_val")):
        if spec:
            _load(kind, spec, name)
    ctx.progress("drawing previews")
    detection_preview(det, ctx.work / "detector_train.png")
    detection_preview(test, ctx.work / "detection_test.png")
    pairs_preview(pairs, ctx.work / "pairs_test.png")
    same = sum(bool(p.same) for p in pairs)
    return {"sets": {
        "detector_train": {"spec": c.data.detector, "images": len(det)},
        "recognizer_train": {"spec": c.data.recognizer, "images": len(rec),
                             "identities": int(getattr(rec, "num_identities", 0))},
        "detection_test": {"spec": c.evaluate.detection, "images": len(test)},
        "pairs_test": {"spec": c.evaluate.pairs, "pairs": len(pairs), "same": same, "different": len(pairs) - same}},
        "previews": ["detector_train.png", "detection_test.png", "pairs_test.png"]}


# --------------------------------------------------------------------- training

def _train(ctx: StageContext, role: str) -> dict:
    from edgeface.train import train_detector, train_recognizer

    c = ctx.config
    run = ctx.work / "run"
    resume = ctx.resume and (run / "checkpoints" / "checkpoint").is_file()
    if not resume:
        shutil.rmtree(run, ignore_errors=True)
    else:
        ctx.progress("resuming from the last checkpoint")
    config = _training_config(c, role, run, resume)
    result = (train_detector if role == "detector" else train_recognizer)(config, progress=ctx.bars)
    return {"arch": result.config.arch, "input_size": result.config.input_size, "run": "run",
            "resumed": resume, "history": result.history, "final": result.final, "steps": len(result.steps),
            "plot": "run/loss.png" if (run / "loss.png").exists() else None}


def _training_config(c: PipelineConfig, role: str, out: Path, resume: bool):
    """The role's training config: its section's fields plus those the pipeline sets itself
    (pipeline/config.py's PIPELINE_OWNED)."""
    from edgeface.train import DetectorConfig, RecognizerConfig

    if role == "detector":
        return DetectorConfig(**vars(c.detector), data=c.data.detector, val_data=c.data.detector_val, out=out,
                              seed=c.seed, export=False, resume=resume)
    return RecognizerConfig(**vars(c.recognizer), data=c.data.recognizer, val_pairs=c.data.recognizer_val, out=out,
                            seed=c.seed, export=False, resume=resume)


def run_train_detector(ctx: StageContext) -> dict:
    return _train(ctx, "detector")


def run_train_recognizer(ctx: StageContext) -> dict:
    return _train(ctx, "embedder")


# ------------------------------------------------------------------- conversion

def _model_bytes(bundle: Path) -> int:
    from edgeface.bundle import load_bundle

    spec = load_bundle(bundle).manifest.models()[0]
    return (bundle / spec.file).stat().st_size


def run_convert(ctx: StageContext) -> dict:
    """Export each trained model (.keras, SavedModel) and convert it to TFLite at every
    precision, through edgeface.converters (fidelity gate) and edgeface.eval (validation
    metrics; the embedder's threshold calibrated at recognizer.far)."""
    from edgeface.train.export import export_run
    from edgeface.train.trainer import load_run, validation_set

    summary = {}
    for role, stage in ROLES.items():
        ctx.progress(f"{role}: loading the trained model")
        result = load_run(ctx.inputs[stage] / "run")
        val = validation_set(result.config)
        exported = export_run(result, val, ctx.config.quantize.precisions, progress=ctx.progress,
                              out=ctx.work / role)
        summary[role] = {
            "keras": str(exported.keras.relative_to(ctx.work)),
            "report": str(exported.report.relative_to(ctx.work)) if exported.report else None,
            "artifacts": {p: {"bundle": str(b.relative_to(ctx.work)), "size_bytes": _model_bytes(b),
                              "gate_failures": exported.gate_failures.get(p, []),
                              "validation": exported.evaluations.get(p)}
                          for p, b in exported.bundles.items()}}
    return summary


def _qnn_missing() -> str | None:
    from edgeface.runtime.qnn import qnn_devices

    try:
        qnn_devices()
    except EdgefaceError as exc:
        return str(exc)
    return None


def run_compile(ctx: StageContext) -> dict:
    """QNN context binaries of each model's fp32 TFLite for every configured SoC, at the
    first HTP precision that passes its gate (edgeface.converters.hexagon)."""
    from edgeface.converters.hexagon import compile_bundle
    from edgeface.converters.job import role_summary

    h = ctx.config.hexagon
    if not h.socs:
        return {"skipped": "hexagon.socs is empty"}
    missing = _qnn_missing()
    if missing:
        return {"skipped": missing}
    converted = ctx.records["convert"]
    summary = {}
    for role in ROLES:
        source = ctx.inputs["convert"] / converted[role]["artifacts"]["fp32"]["bundle"]
        ctx.progress(f"{role}: compiling for {', '.join(h.socs)}")
        bundle, results = compile_bundle(source, ctx.work / role, h.socs, h.precisions, ctx.progress)
        from edgeface.bundle import load_bundle

        spec = next(m for m in load_bundle(bundle).manifest.models() if m.role == role)
        summary[role] = {
            "bundle": str(bundle.relative_to(ctx.work)),
            "targets": {soc: t.precision for soc, t in spec.targets.items()},
            "contexts": [{"soc": a.context.soc, "precision": a.context.precision, "htp_arch": a.context.htp_arch,
                          "nodes_on_htp": a.context.nodes_on_htp, "nodes_total": a.context.nodes_total,
                          "context_bytes": a.context.binary_bytes, "compile_seconds": a.context.compile_seconds,
                          "fidelity": role_summary(a.fidelity), "passed": not a.failures, "failures": a.failures}
                         for r in results for a in r.artifacts],
            "skipped": [s for r in results for s in r.skipped]}
    return summary


# ------------------------------------------------------------------- evaluation

def _artifacts(ctx: StageContext) -> list[dict]:
    """Every artifact to evaluate: (role, label, bundle path, soc)."""
    out = []
    for role in ROLES:
        for precision, a in ctx.records["convert"][role]["artifacts"].items():
            out.append({"role": role, "runtime": "tflite", "precision": precision, "soc": None,
                        "bundle": ctx.inputs["convert"] / a["bundle"], "size_bytes": a["size_bytes"],
                        "gate_failures": a["gate_failures"]})
        compiled = ctx.records["compile"].get(role)
        if compiled and ctx.config.evaluate.htp:
            sizes = {(x["soc"], x["precision"]): x["context_bytes"] for x in compiled["contexts"]}
            for soc, precision in compiled["targets"].items():
                out.append({"role": role, "runtime": "qnn-htp", "precision": precision, "soc": soc,
                            "bundle": ctx.inputs["compile"] / compiled["bundle"],
                            "size_bytes": sizes.get((soc, precision)), "gate_failures": []})
    return out


def run_evaluate(ctx: StageContext) -> dict:
    """Every artifact on the same test sets with the same metrics (float, quantized, HTP
    simulator): detection AP and keypoint NME; verification accuracy and TAR@FAR."""
    import edgeface.eval as ev
    from edgeface.data import cache_in_memory
    from edgeface.train.trainer import RecognizerTask

    c = ctx.config
    test = cache_in_memory(_load("detection", c.evaluate.detection, "evaluate.detection"))
    pairs = RecognizerTask.materialise(_load("pairs", c.evaluate.pairs, "evaluate.pairs"))
    rows = []
    for a in _artifacts(ctx):
        label = f"{a['role']} {a['runtime']} {a['precision']}" + (f" {a['soc']}" if a["soc"] else "")
        ctx.progress(f"evaluating {label}")
        started = time.perf_counter()
        report = ctx.work / label.replace(" ", "_")
        if a["role"] == "detector":
            result = ev.evaluate_detection_bundle(a["bundle"], test, soc=a["soc"], threads=c.threads)
            ev.write_detection_report(result, report)
            s = result.summary()["subsets"]["all"]
            metrics = {"ap": s["ap"], "keypoint_nme": s["keypoint_nme"]}
        else:
            result = ev.evaluate_verification_bundle(a["bundle"], pairs, soc=a["soc"], threads=c.threads,
                                                     far=c.recognizer.far)
            ev.write_verification_report(result, report)
            s = result.summary()
            metrics = {"accuracy": s["accuracy"], "accuracy_std": s["accuracy_std"],
                       **{f"tar@far{t['far']:g}": t["tar"] for t in s["tar_at_far"]}}
        rows.append({**{k: v for k, v in a.items() if k != "bundle"}, "label": label, "metrics": metrics,
                     "report": report.name, "seconds": round(time.perf_counter() - started, 2)})
    return {"artifacts": rows, "test_sets": {"detection": c.evaluate.detection, "pairs": c.evaluate.pairs}}


# ---------------------------------------------------------------------- bundle

HEADLINE = {"detector": "ap", "embedder": "accuracy"}


def choose_artifacts(rows: list[dict], max_drop: float) -> dict[str, dict]:
    """Per role, the TFLite artifact to ship: the smallest whose gate passed and whose
    headline metric is within ``max_drop`` of fp32's (fp32 itself always qualifies)."""
    chosen = {}
    for role, metric in HEADLINE.items():
        tflite = [r for r in rows if r["role"] == role and r["runtime"] == "tflite"]
        reference = next(r for r in tflite if r["precision"] == "fp32")["metrics"][metric]
        ok = [r for r in tflite if r["precision"] == "fp32"
              or not r["gate_failures"] and r["metrics"][metric] >= reference - max_drop]
        chosen[role] = min(ok, key=lambda r: (r["size_bytes"], r["precision"]))
    return chosen


def run_bundle(ctx: StageContext) -> dict:
    """One bundle to ship: per model the chosen TFLite artifact, plus its Hexagon targets."""
    from edgeface.bundle import Manifest, load_bundle, write_bundle

    c = ctx.config
    chosen = choose_artifacts(ctx.records["evaluate"]["artifacts"], c.quantize.max_drop)
    models, training, files = {}, {}, {}
    for role, row in chosen.items():
        part = load_bundle(ctx.inputs["convert"] / ctx.records["convert"][role]["artifacts"][row["precision"]]["bundle"])
        files.update(part.files(include_targets=False, roles=(role,)))
        models[role] = getattr(part.manifest, role)
        compiled = ctx.records["compile"].get(role)
        if compiled:
            htp = load_bundle(ctx.inputs["compile"] / compiled["bundle"])
            targets = getattr(htp.manifest, role).targets
            models[role] = replace(models[role], targets=targets)
            files.update({t.file: htp.read_model(t) for t in targets.values()})
        training[role] = part.manifest.extra.get("training", {})
    det, emb = chosen["detector"], chosen["embedder"]
    description = (f"edgeface pipeline '{c.name}': {c.detector.arch} ({det['precision']}) + "
                   f"{c.recognizer.arch} ({emb['precision']})")
    write_bundle(ctx.work / "bundle", Manifest(name=c.name, description=description, **models,
                                               extra={"training": training}), files)
    return {"bundle": "bundle", "chosen": {role: {"precision": r["precision"], "size_bytes": r["size_bytes"],
                                                  "metrics": r["metrics"]} for role, r in chosen.items()},
            "targets": {role: ctx.records["compile"].get(role, {}).get("targets", {}) for role in ROLES},
            "files": {name: len(data) for name, data in files.items()}}


# ----------------------------------------------------------------------- bench

def run_bench(ctx: StageContext) -> dict:
    """The shipped bundle measured on this host and estimated on every profile; budgets
    checked per use case (edgeface.bench); AI Hub when bench.hub is on."""
    from edgeface.bench.budgets import check_budgets
    from edgeface.bench.report import report_document, write_report
    from edgeface.bench.runner import BenchSettings, EstimateBench, HostBench, HubBench, measure_target
    from edgeface.bench.target import open_target

    b = ctx.config.bench
    target = open_target(ctx.inputs["bundle"] / "bundle")
    host = HostBench().profiles([])
    phones = [p for p in EstimateBench().profiles(b.profiles) if p.id != "host"]
    settings = BenchSettings(threads=tuple(b.host_threads), runs=b.runs, warmup=5, gallery_size=10_000)
    ctx.progress("measuring on this host")
    results = measure_target(HostBench(), target, host, settings)  # with the align and search stages
    ctx.progress(f"estimating for {len(phones)} profiles")
    results += measure_target(EstimateBench(), target, phones, settings, host_stages=False)
    if b.hub:
        ctx.progress("profiling on Qualcomm AI Hub")
        results += measure_target(HubBench(), target, HubBench().profiles(b.profiles), settings, host_stages=False)
    profiles = {p.id: p for p in host + phones}
    checks = check_budgets(results, profiles, b.use_cases or None, True, target.roles())
    meta = {"command": "edgeface pipeline (bench stage)"}
    written, warning = write_report(ctx.work, results, checks, meta)
    return {"document": report_document(results, checks, meta), "files": [p.name for p in written],
            "warning": warning}


# ---------------------------------------------------------------------- report

def run_report(ctx: StageContext) -> dict:
    from edgeface.pipeline.report import write_pipeline_report

    return write_pipeline_report(ctx.config, ctx.records, ctx.inputs, ctx.work)


# The fields each training section had before it nested its training config, in their
# order then: the stage key spells them as it did, so the stages of earlier runs stay cached.
_KEYED_FIELDS = {"detector": ("arch", "epochs", "steps_per_epoch", "batch", "lr", "loss", "box_loss"),
                 "embedder": ("arch", "input_size", "embedding_size", "epochs", "steps_per_epoch", "batch", "lr",
                              "loss", "far")}


def _section_key(section: Any, role: str) -> Any:
    """The training section as its stage key has always written it (the repr of its first
    fields), with any later field that is not at its default after it."""
    keyed = _KEYED_FIELDS[role]
    text = f"{type(section).__qualname__}({', '.join(f'{n}={getattr(section, n)!r}' for n in keyed)})"
    changed = {f.name: getattr(section, f.name) for f in fields(section)
               if f.name not in keyed and getattr(section, f.name) != f.default}
    return [text, changed] if changed else text


def _train_settings(role: str) -> Callable[[PipelineConfig], Any]:
    def settings(c: PipelineConfig) -> Any:
        if role == "detector":
            return {"section": _section_key(c.detector, role), "data": c.data.detector, "val": c.data.detector_val,
                    "seed": c.seed}
        return {"section": _section_key(c.recognizer, role), "data": c.data.recognizer, "val": c.data.recognizer_val,
                "seed": c.seed}
    return settings


STAGES: tuple[Stage, ...] = (
    Stage("data", (), _data_settings, run_data, "open the datasets"),
    Stage("train_detector", ("data",), _train_settings("detector"), run_train_detector, "train the detector"),
    Stage("train_recognizer", ("data",), _train_settings("embedder"), run_train_recognizer, "train the recognizer"),
    Stage("convert", ("train_detector", "train_recognizer"), lambda c: c.quantize.precisions, run_convert,
          "quantize and convert to TFLite"),
    Stage("compile", ("convert",), lambda c: c.hexagon, run_compile, "compile QNN contexts for the HTP"),
    Stage("evaluate", ("data", "convert", "compile"), lambda c: {"evaluate": c.evaluate, "far": c.recognizer.far},
          run_evaluate, "evaluate every artifact"),
    Stage("bundle", ("convert", "compile", "evaluate"), lambda c: {"name": c.name, "max_drop": c.quantize.max_drop},
          run_bundle, "assemble the bundle to ship"),
    Stage("bench", ("bundle",), lambda c: c.bench, run_bench, "benchmark: host and device profiles"),
    Stage("report", ("data", "train_detector", "train_recognizer", "convert", "compile", "evaluate", "bundle",
                     "bench"), lambda c: None, run_report, "write the report"),
)
