"""Compare ``edgeface bench --on host`` with TFLite's own ``benchmark_model`` on this machine.

    python scripts/bench_host_vs_benchmark_model.py MODEL.tflite --benchmark-binary ./benchmark_model \
        [--threads 1,2] [--runs 200] [--warmup 20]

Runs both on the same .tflite file with the same thread count and run counts (the tool with
``--min_secs=0 --warmup_min_secs=0`` so its counts are exact) and prints each field side
by side, with the ratio edgeface / benchmark_model. The binary must be built for this host
(``bazel build -c opt //tensorflow/lite/tools/benchmark:benchmark_model``, or TensorFlow's
prebuilt ``linux_x86-64_benchmark_model`` nightly); none ships with edgeface.

edgeface times one ``backend.run()`` (inputs in, invoke, outputs out) where the tool times
``Invoke`` alone, and its peak memory includes Python and numpy: expect the host figures a
little higher, the init figures close, and the memory deltas comparable.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

FIELDS = [("init_ms", "init_us"), ("first_inference_ms", "first_inference_us"),
          ("warmup_avg_ms", "warmup_avg_us"), ("inference_avg_ms", "inference_avg_us")]
STATS = [("min_ms", "min"), ("max_ms", "max"), ("std_ms", "std")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--benchmark-binary", type=Path, required=True)
    parser.add_argument("--threads", default="1")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)

    from edgeface.bench.adb import parse_benchmark_output
    from edgeface.bench.host import bench_host
    from edgeface.bench.target import open_target
    from edgeface.cli.bench import parse_threads

    target = open_target(args.model)
    for threads in parse_threads(args.threads):
        (ours,) = bench_host(target, threads=(threads,), runs=args.runs, warmup=args.warmup, pipeline=False)
        command = [str(args.benchmark_binary), f"--graph={args.model}", f"--num_threads={threads}",
                   f"--num_runs={args.runs}", f"--warmup_runs={args.warmup}", "--min_secs=0",
                   "--warmup_min_secs=0", "--report_peak_memory_footprint=true"]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            return 1
        theirs = parse_benchmark_output(proc.stdout + proc.stderr)
        stats = theirs["run_stats"]
        rows = [(name, getattr(ours, name), None if theirs[key] is None else theirs[key] / 1000)
                for name, key in FIELDS]
        rows += [(name, getattr(ours, name), stats[key] / 1000 if key in stats else None) for name, key in STATS]
        rows += [("memory_init_delta_mb", ours.extra["memory_init_delta_mb"], theirs.get("memory_init_delta_mb")),
                 ("memory_overall_delta_mb", ours.extra["memory_overall_delta_mb"],
                  theirs.get("memory_overall_delta_mb")),
                 ("peak_memory_mb", ours.peak_memory_mb, theirs.get("peak_memory_mb"))]
        print(f"\n{args.model} x{threads} threads, {args.warmup} warm-up + {args.runs} runs")
        print(f"{'field':26s} {'edgeface':>12s} {'benchmark_model':>16s} {'ratio':>7s}")
        for name, a, b in rows:
            ratio = f"{a / b:7.2f}" if a is not None and b else "      -"
            fa = "-" if a is None else f"{a:.4f}"
            fb = "-" if b is None else f"{b:.4f}"
            print(f"{name:26s} {fa:>12s} {fb:>16s} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
