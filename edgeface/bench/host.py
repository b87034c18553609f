"""``edgeface bench --on host``: measure a model or bundle on this machine.

The measurement follows TFLite's ``benchmark_model`` so the two compare field by field:

- **init**: reading the model file, creating the interpreter (or onnxruntime session)
  and allocating tensors, through the SDK's own runtime layer
  (:func:`edgeface.runtime.open_backend`), exactly what an app pays at start-up;
- **first inference**, then **warm-up** runs (their average), then **runs** timed one by
  one: average, median, p90, p99, min, max, standard deviation;
- **memory**: the resident set (RSS) at the start, after init and at the end, given as
  deltas like ``benchmark_model``'s "Memory footprint delta from the start of the tool",
  and the process's peak RSS.

One timed run is one ``backend.run()``: inputs copied in, ``invoke()``, outputs copied
out (``benchmark_model`` times ``Invoke`` alone; the copies are microseconds for face
models). Inputs are random, seeded, in each input tensor's own dtype.

Each (model, thread count) is measured in a fresh Python process by default
(``isolate=True``): the peak RSS (``getrusage``'s ``ru_maxrss``, which only ever grows
over a process's life) then belongs to that one measurement, and runs never share
caches or thread pools. The peak includes Python, numpy and the runtime library (about
60 MB); the deltas do not. In-process measurement (``isolate=False``) reports the deltas
only, since the process's lifetime peak would say nothing about the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from edgeface.bench.result import BenchResult
from edgeface.bench.target import BenchError, ModelEntry, Target

RESULT_MARK = "EDGEFACE_BENCH_RESULT "
DEFAULT_GALLERY_SIZE = 10_000
RUNTIMES = {"tflite": "litert", "onnx": "onnxruntime"}


# --------------------------------------------------------------------------- memory


def current_rss_mb() -> Optional[float]:
    """This process's resident set now, in MiB (None where it cannot be read)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:
        return None


def peak_rss_mb() -> Optional[float]:
    """This process's peak resident set over its whole life, in MiB. On Linux it is read
    from VmHWM: getrusage's ru_maxrss carries the parent's peak across fork + exec, so a
    measurement process started by a 2 GB TensorFlow process would report 2 GB."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere
    except (ImportError, OSError):
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20
    except Exception:
        return None


# --------------------------------------------------------------------------- one measurement


def _random_input(info, rng):
    import numpy as np

    shape = tuple(1 if d is None or d < 0 else int(d) for d in info.shape)
    if np.issubdtype(info.dtype, np.integer):
        bounds = np.iinfo(info.dtype)
        return rng.integers(bounds.min, int(bounds.max) + 1, size=shape, dtype=info.dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(info.dtype)


def _import_runtime(fmt: str) -> str:
    """Import the runtime before the memory baseline, so its import is not the model's
    cost (``benchmark_model`` is one binary that has nothing to import); returns its version."""
    from importlib import metadata

    try:
        if fmt == "tflite":
            import ai_edge_litert.interpreter  # noqa: F401

            return metadata.version("ai-edge-litert")
        import onnxruntime

        return onnxruntime.__version__
    except (ImportError, metadata.PackageNotFoundError):
        return ""  # open_backend raises the clear error


def measure(path: str | Path, fmt: str, where: str, num_threads: int, runs: int, warmup: int,
            data: Optional[bytes] = None) -> dict[str, Any]:
    """Measure one model in this process; times in ms, memory in MiB."""
    import numpy as np

    from edgeface.runtime import open_backend

    version = _import_runtime(fmt)
    rss_start = current_rss_mb()
    start = time.perf_counter_ns()
    if data is None:
        data = Path(path).read_bytes()
    backend = open_backend(fmt, data, where, num_threads)
    init_ns = time.perf_counter_ns() - start
    rss_init = current_rss_mb()
    rng = np.random.default_rng(0)
    inputs = [_random_input(info, rng) for info in backend.inputs]

    def timed() -> float:
        t0 = time.perf_counter_ns()
        backend.run(inputs)
        return (time.perf_counter_ns() - t0) / 1e6

    first = timed()
    warm = [timed() for _ in range(warmup)]
    times = np.array([timed() for _ in range(runs)], np.float64)
    rss_end = current_rss_mb()

    def delta(value: Optional[float]) -> Optional[float]:
        return None if value is None or rss_start is None else round(value - rss_start, 3)

    return {
        "runtime_version": version,
        "init_ms": init_ns / 1e6,
        "first_inference_ms": first,
        "warmup_avg_ms": float(np.mean(warm)) if warm else None,
        "warmup_runs": len(warm),
        "runs": int(times.size),
        "inference_avg_ms": float(times.mean()),
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "p99_ms": float(np.percentile(times, 99)),
        "min_ms": float(times.min()),
        "max_ms": float(times.max()),
        "std_ms": float(times.std()),
        "rss_start_mb": rss_start,
        "memory_init_delta_mb": delta(rss_init),
        "memory_overall_delta_mb": delta(rss_end),
        "inputs": [[list(a.shape), str(a.dtype)] for a in inputs],
    }


def _measure_isolated(path: Path, fmt: str, where: str, num_threads: int, runs: int, warmup: int,
                      timeout: float) -> dict[str, Any]:
    job = {"path": str(path), "format": fmt, "where": where, "threads": num_threads,
           "runs": runs, "warmup": warmup}
    try:
        proc = subprocess.run([sys.executable, "-m", "edgeface.bench.host", json.dumps(job)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired:
        raise BenchError(f"{where}: the host benchmark took longer than {timeout:.0f} s: "
                         f"lower --runs or --warmup") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            answer = json.loads(line[len(RESULT_MARK):])
            if "error" in answer:
                raise BenchError(answer["error"])
            return answer
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    raise RuntimeError(f"the benchmark process for {where} ended with code {proc.returncode}: {tail}")


def _worker(argv: Sequence[str]) -> int:
    """``python -m edgeface.bench.host JOB_JSON``: one isolated measurement."""
    from edgeface.errors import EdgefaceError

    job = json.loads(argv[0])
    try:
        answer = measure(job["path"], job["format"], job["where"], job["threads"], job["runs"], job["warmup"])
        answer["peak_memory_mb"] = peak_rss_mb()
    except EdgefaceError as exc:
        answer = {"error": str(exc)}
    sys.stdout.write(RESULT_MARK + json.dumps(answer) + "\n")
    return 0


# --------------------------------------------------------------------------- the backend


def host_device(profile_id: str = "host") -> tuple[str, str]:
    """(device name, profile id) for a measurement on this machine. The name is always this
    machine's (the generated "host" profile's); the profile is the one whose budgets apply:
    "host", or a device profile when this machine *is* that device (an RB3 board running
    edgeface, say)."""
    from edgeface.bench.profiles import host_profile

    return host_profile().name, profile_id


def bench_host(target: Target, threads: Sequence[int] = (1,), runs: int = 50, warmup: int = 5,
               isolate: bool = True, pipeline: bool = True, gallery_size: int = DEFAULT_GALLERY_SIZE,
               profile_id: str = "host", timeout: float = 600.0) -> list[BenchResult]:
    """Measure every model of ``target`` at every thread count; with ``pipeline``, also the
    host stages of a bundle's use cases (:func:`host_stages`: align, 1:N search)."""
    _check_counts(threads, runs, warmup)
    device, profile = host_device(profile_id)
    results = []
    with target.files() as files:
        for entry, path in files:
            for n in threads:
                if isolate:
                    m = _measure_isolated(path, entry.format, entry.where, n, runs, warmup, timeout)
                else:
                    m = measure(path, entry.format, entry.where, n, runs, warmup, data=entry.data)
                    m["peak_memory_mb"] = None
                results.append(_result(target, entry, m, n, device, profile, isolate))
    if pipeline:
        results += host_stages(target, runs=runs, warmup=warmup, gallery_size=gallery_size,
                               device=device, profile=profile)
    return results


def _check_counts(threads: Sequence[int], runs: int, warmup: int) -> None:
    if not threads or any(n < 1 or n > 256 for n in threads):
        raise BenchError(f"--threads {','.join(map(str, threads))}: each count must be 1..256, e.g. --threads 1,2,4")
    if runs < 1:
        raise BenchError(f"--runs {runs}: give at least 1 timed run (50 is benchmark_model's default)")
    if warmup < 0:
        raise BenchError(f"--warmup {warmup}: must be 0 or more")


def _result(target: Target, entry: ModelEntry, m: dict[str, Any], threads: int, device: str,
            profile: Optional[str], isolate: bool) -> BenchResult:
    runtime = RUNTIMES[entry.format]
    memory = ("peak RSS of a process that measured only this model (Python and runtime included)"
              if isolate else "no peak RSS (measured in-process; see the memory deltas)")
    extra = {"role": entry.role, "file": entry.name, "runtime_version": m["runtime_version"],
             "warmup_runs": m["warmup_runs"], "rss_start_mb": m["rss_start_mb"],
             "memory_init_delta_mb": m["memory_init_delta_mb"],
             "memory_overall_delta_mb": m["memory_overall_delta_mb"], "inputs": m["inputs"],
             "isolated": isolate}
    return BenchResult(
        model=f"{target.label}#{entry.role}" if target.is_bundle else target.label,
        backend="host", device=device, runtime=runtime, compute_unit="cpu", precision=entry.precision,
        profile=profile, threads=threads, runs=m["runs"], init_ms=m["init_ms"],
        first_inference_ms=m["first_inference_ms"], warmup_avg_ms=m["warmup_avg_ms"],
        inference_avg_ms=m["inference_avg_ms"], median_ms=m["median_ms"], p90_ms=m["p90_ms"],
        p99_ms=m["p99_ms"], min_ms=m["min_ms"], max_ms=m["max_ms"], std_ms=m["std_ms"],
        peak_memory_mb=m["peak_memory_mb"],
        source=f"measured on this host with {runtime} {m['runtime_version']} through edgeface.runtime, "
               f"{threads} thread(s), {m['warmup_runs']} warm-up + {m['runs']} timed runs; {memory}",
        extra=extra)


# --------------------------------------------------------------------------- host stages


def _time_loop(step, runs: int, warmup: int) -> dict[str, Any]:
    import numpy as np

    def timed() -> float:
        t0 = time.perf_counter_ns()
        step()
        return (time.perf_counter_ns() - t0) / 1e6

    first = timed()
    warm = [timed() for _ in range(warmup)]
    return dict(first_inference_ms=first, warmup_avg_ms=float(np.mean(warm)) if warm else None,
                **timing_summary([timed() for _ in range(runs)]))


def timing_summary(times_ms: Sequence[float]) -> dict[str, Any]:
    """The BenchResult fields of a list of timed runs (ms): their count, average, median,
    p90, p99, min, max and standard deviation."""
    import numpy as np

    times = np.asarray(times_ms, dtype=np.float64)
    return dict(runs=int(times.size), inference_avg_ms=float(times.mean()), median_ms=float(np.median(times)),
                p90_ms=float(np.percentile(times, 90)), p99_ms=float(np.percentile(times, 99)),
                min_ms=float(times.min()), max_ms=float(times.max()), std_ms=float(times.std()))


def host_stages(target: Target, runs: int = 50, warmup: int = 5, gallery_size: int = DEFAULT_GALLERY_SIZE,
                device: Optional[str] = None, profile: Optional[str] = None) -> list[BenchResult]:
    """The pipeline stages that are not models, timed on this host for a bundle that has an
    embedder: "align" (one face, with a detector too) and "search" (one 1:N query). Every
    backend adds them to its models' latency for the use cases that include them."""
    manifest = target.bundle.manifest if target.bundle is not None else None
    if manifest is None or manifest.embedder is None:
        return []
    if device is None or profile is None:
        device, profile = host_device()
    out = []
    if manifest.detector is not None:
        aligned = measure_align(manifest, runs, warmup)
        if aligned is not None:
            runtime, detail, timing = aligned
            out.append(BenchResult(
                model=f"{target.label}#align", backend="host", device=device, runtime=runtime,
                compute_unit="cpu", precision="uint8", profile=profile, threads=1, **timing,
                source=f"{detail}, measured on this host with {runtime}", extra={"role": "align"}))
    if gallery_size > 0:
        detail, timing = measure_search(manifest.embedder.embedding_size, gallery_size, runs, warmup)
        out.append(BenchResult(
            model=f"{target.label}#search", backend="host", device=device, runtime="numpy",
            compute_unit="cpu", precision="fp32", profile=profile, threads=1, **timing,
            source=f"{detail}, measured on this host (edgeface.gallery, numpy)",
            extra={"role": "search", "gallery_size": gallery_size}))
    return out


def measure_align(manifest, runs: int = 50, warmup: int = 5) -> Optional[tuple[str, str, dict[str, Any]]]:
    """Time the SDK's alignment (similarity transform + warp to the embedder's chip) of one
    face in a 640x480 frame: (runtime, what was timed, timings); None when the detector's
    keypoints do not fit the template (the SDK reports that on load)."""
    import numpy as np

    from edgeface import align as align_module

    names = manifest.detector.keypoint_names
    spec = manifest.embedder.alignment
    try:
        aligner = align_module.Aligner(spec, names)
    except Exception:
        return None
    template = dict(spec.template)
    fallback = np.mean(list(template.values()), axis=0)
    rng = np.random.default_rng(0)
    points = np.array([template.get(n, fallback) for n in names], np.float64) * 2.0 + (200.0, 150.0)
    keypoints = (points + rng.normal(0, 0.5, size=points.shape))[None]
    image = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    timing = _time_loop(lambda: aligner.chips(image, keypoints), runs, warmup)
    runtime = "opencv" if align_module._cv2 is not None else "numpy"
    return runtime, f"alignment of one face ({spec.width}x{spec.height} chip from a 640x480 frame)", timing


def measure_search(dim: int, gallery_size: int, runs: int = 50, warmup: int = 5) -> tuple[str, dict[str, Any]]:
    """Time one 1:N query (top 5) against a gallery of ``gallery_size`` random templates."""
    import numpy as np

    gallery = random_gallery(dim, gallery_size)
    query = np.random.default_rng(1).standard_normal(dim).astype(np.float32)
    timing = _time_loop(lambda: gallery.search(query, top_k=5), runs, warmup)
    return f"one 1:N query, top 5, over {gallery_size} templates of {dim}-d", timing


def random_gallery(dim: int, size: int, path: Optional[Path] = None):
    """A gallery of ``size`` identities with one random (seeded) template each: search time
    depends on the gallery's size, not on what it holds. Saved to ``path`` when given."""
    import numpy as np

    from edgeface.gallery import Gallery

    gallery = Gallery(dim)
    templates = np.random.default_rng(0).standard_normal((size, dim)).astype(np.float32)
    for i in range(size):
        gallery.enroll(f"id{i}", templates[i])
    if path is not None:
        gallery.save(path)
    return gallery


if __name__ == "__main__":  # pragma: no cover - run by _measure_isolated
    sys.exit(_worker(sys.argv[1:]))
