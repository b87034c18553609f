"""Training benchmark on this machine's CPU: data pipeline throughput, training steps/s
per architecture, and the quality reached on the synthetic set after a fixed budget of
steps. Prints tables; writes runs/bench_train/results.json.

    .venv/bin/python scripts/bench_train.py                  # everything (about 15-25 min on 2 cores)
    .venv/bin/python scripts/bench_train.py --budget 300     # training steps of the quality runs
    .venv/bin/python scripts/bench_train.py --only pipeline,speed

Figures are measured within one run; on a shared machine they move with its load (the
load average is printed with them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path("runs/bench_train")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def bench_pipeline(batches: int = 8, batch: int = 32) -> list[dict]:
    """Images/s out of the tf.data pipelines: synthetic rendering included (cold) and from
    the trainer's in-memory cache (warm, augmentation only)."""
    from edgeface.data import detection_pipeline, load_detection, load_recognition, recognition_pipeline
    from edgeface.train.trainer import _Cached

    rows = []
    cases = [("detection 128 (render + augment)", lambda: load_detection(f"synthetic:{batches * batch}"),
              lambda d: detection_pipeline(d, 128, batch, True)),
             ("recognition 112 (render + augment)",
              lambda: load_recognition(f"synthetic:{batches * batch // 8}:per_identity=8"),
              lambda d: recognition_pipeline(d, 112, batch, True))]
    for label, make, pipe in cases:
        data = _Cached(make())
        for phase in ("cold", "warm"):
            started = time.perf_counter()
            n = sum(int(images.shape[0]) for images, _ in pipe(data))
            seconds = time.perf_counter() - started
            rows.append({"pipeline": label.replace("render + ", "") if phase == "warm" else label,
                         "phase": phase, "images": n, "images_per_s": round(n / seconds, 1)})
    return rows


def _run(task: str, arch: str, steps: int, epochs: int, out: Path, **kwargs):
    from edgeface.train import DetectorConfig, RecognizerConfig, train_detector, train_recognizer

    shutil.rmtree(out, ignore_errors=True)
    if task == "detector":
        config = DetectorConfig(arch=arch, out=out, epochs=epochs, steps_per_epoch=steps, export=False,
                                deterministic=False, **kwargs)
        return train_detector(config, progress=False)
    config = RecognizerConfig(arch=arch, out=out, epochs=epochs, steps_per_epoch=steps, export=False,
                              deterministic=False, **kwargs)
    return train_recognizer(config, progress=False)


def bench_speed(steps: int, batch: int) -> list[dict]:
    """Steady-state training steps/s (the second epoch: no tracing, data cached)."""
    from edgeface.cards import all_cards

    rows = []
    for arch, card in all_cards().items():
        kind, size = card.kind, card.input_size
        sizes = [size] if kind == "detector" else [size, 64]
        for input_size in sizes:
            if kind == "detector":
                data = f"synthetic:{steps * batch}" + (f":size={size}" if size != 128 else "")
                result = _run("detector", arch, steps, 2, OUT / "speed" / arch, data=data, batch=batch,
                              val_data="none")
            else:
                result = _run("recognizer", arch, steps, 2, OUT / "speed" / f"{arch}_{input_size}",
                              data=f"synthetic:{max(2, steps * batch // 8)}:per_identity=8", batch=batch,
                              input_size=input_size, val_pairs="none")
            shutil.rmtree(result.run_dir, ignore_errors=True)
            epoch = result.history[-1]
            rows.append({"arch": arch, "input": input_size, "batch": batch,
                         "steps_per_s": round(steps / epoch["seconds"], 2),
                         "images_per_s": epoch["images_per_s"], "load": load()})
            print(f"  {arch} {input_size}: {rows[-1]['steps_per_s']} steps/s", flush=True)
    return rows


def bench_quality(budget: int, batch: int) -> list[dict]:
    """Validation figures on held-out synthetic data after ``budget`` steps."""
    runs = [("detector", "blazeface", dict(data="synthetic:2000", lr=4e-3)),
            ("recognizer", "edgeface_xs_int8", dict(data="synthetic:200:per_identity=20", input_size=64,
                                                    embedding_size=128, lr=2e-3)),
            ("recognizer", "mobilefacenet_int8", dict(data="synthetic:200:per_identity=20", input_size=64,
                                                      embedding_size=128, lr=2e-3))]
    rows = []
    epochs = 4
    for task, arch, kwargs in runs:
        started = time.perf_counter()
        result = _run(task, arch, budget // epochs, epochs, OUT / "quality" / arch, batch=batch, **kwargs)
        shutil.rmtree(result.run_dir / "checkpoints", ignore_errors=True)  # keep metrics and plots
        final = result.history[-1]
        figure = "val_ap" if task == "detector" else "val_acc"
        rows.append({"task": task, "arch": arch, "input": result.config.input_size, "steps": final["step"],
                     "batch": batch, "metric": "AP@0.5 (all faces)" if task == "detector" else "10-fold accuracy",
                     "value": round(final[figure], 4),
                     "curve": [round(h[figure], 4) for h in result.history],
                     "extra": (f"NME {final['val_nme']:.3f}" if task == "detector" and final.get("val_nme")
                               else f"TAR@FAR1e-2 {final.get('val_tar@far1e-2', 0):.3f}"),
                     "minutes": round((time.perf_counter() - started) / 60, 1), "load": load()})
        print(f"  {arch}: {rows[-1]['metric']} {rows[-1]['value']} after {final['step']} steps", flush=True)
    return rows


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="pipeline,speed,quality")
    parser.add_argument("--budget", type=int, default=400, help="training steps of each quality run")
    parser.add_argument("--speed-steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    parts = args.only.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    import platform

    results = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load_start": load()}
    if "pipeline" in parts:
        print("data pipeline ...", flush=True)
        results["pipeline"] = bench_pipeline(batch=args.batch)
        print(table(results["pipeline"], ["pipeline", "phase", "images", "images_per_s"]), flush=True)
    if "speed" in parts:
        print("training speed ...", flush=True)
        results["speed"] = bench_speed(args.speed_steps, args.batch)
        print(table(results["speed"], ["arch", "input", "batch", "steps_per_s", "images_per_s", "load"]), flush=True)
    if "quality" in parts:
        print(f"quality after {args.budget} steps ...", flush=True)
        results["quality"] = bench_quality(args.budget, args.batch)
        print(table(results["quality"], ["task", "arch", "input", "steps", "batch", "metric", "value", "curve",
                                         "extra", "minutes", "load"]), flush=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{OUT / 'results.json'}; load average at the end {load()}")


if __name__ == "__main__":
    main()
