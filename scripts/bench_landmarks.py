"""Dense landmarks against MediaPipe's own face mesh, on the same real images (issue 20).

    .venv/bin/python scripts/bench_landmarks.py [--rounds 3] [--frames 60] [--threads 1] [--iris]

MediaPipe's side is ``mediapipe.solutions.face_mesh`` of mediapipe 0.10.21, the wheel the
``face-mesh`` bundle takes its model from: not a project dependency, so the script makes
its own venv on first use (``runs/bench-env/mediapipe-0.10``, git-ignored) and runs this
file there as a worker (numpy + mediapipe only).

- **Still images**: the astronaut (as it is, scaled by 0.6, turned by +-15 degrees) and
  scikit-image's lfw_subset faces (25x25, upscaled to 150x150 and padded by 75 px),
  those where both sides find one face. MediaPipe: ``static_image_mode=True``; edgeface:
  ``FaceAnalyzer.landmarks_arrays`` (whole-image search). Error = the mean distance
  between the two sides' 468 points over the distance between MediaPipe's eye centres.
  ``--iris``: the ``face-mesh-iris`` bundle (MediaPipe's attention mesh, its custom ops
  replayed with builtin ops) against ``refine_landmarks=True``: all 478 points, and the
  ten iris points alone.
- **Video**: a clip of the astronaut sliding and turning (``--frames``). MediaPipe:
  ``static_image_mode=False`` (its detector runs only when tracking is lost); edgeface:
  ``VideoAnalyzer`` on the face-mesh bundle (the same). Error per frame as above; time
  per frame of the whole clip, the sides taking turns ``--rounds`` times.

- **Cost per frame**: the liveness checks' own cost on this host (PassiveLiveness.add and
  ActiveChallenge.feed per frame, over the frames and landmarks of the clip; the passive
  decision's texture fit, once), and the landmark
  model's latency estimated for every device profile (``edgeface.bench.estimate``: NPU
  and one CPU core), to add to the video figure above.
- **Passive liveness** (``--liveness``): the evaluation set of ``edgeface.eval.liveness_set``
  made from the astronaut and the 100 lfw_subset faces (live re-rendered turns, prints,
  replays and replays under a sliding glare of the same photographs, each through a
  camera): APCER per attack type and
  BPCER (ISO/IEC 30107-3) of ``PassiveLiveness`` at its defaults, and the spread of its
  texture residual and turn per kind, on the photographs its defaults were chosen on and
  on the others.

Goals: error <= 1 % of the eye distance; edgeface >= 1.5x faster per frame in video;
APCER <= 1 % for prints and replays at BPCER <= 1 % (the glare replays are a stress case
the goal does not name).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pretrained import REPLY, ROOT, VenvWorker, interleaved, log, mediapipe_python  # noqa: E402

MESH_MEDIAPIPE = "0.10.21"  # the wheel edgeface.cards.pretrained.FACE_MESH_SOURCE pins
MESH_ENV = ROOT / "runs" / "bench-env" / "mediapipe-0.10"
ERROR_GOAL, SPEED_GOAL = 0.01, 1.5
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)  # FACE_MESH_GROUPS
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)


# -- MediaPipe's face mesh, in its own venv (numpy and mediapipe only) --------------------------

def mesh_worker(spec: dict) -> None:
    """For each request ``{"still": [names]}`` answers those images' points (or None);
    for ``{"clip": name, "runs": n}`` runs the clip's frames through a fresh video-mode
    FaceMesh n times, answering the last run's points per frame and each run's time."""
    import mediapipe as mp

    images = {name: np.load(path) for name, path in spec["images"].items()}
    refine = bool(spec.get("refine"))

    def points(result, image):
        if not result.multi_face_landmarks:
            return None
        h, w = image.shape[:2]
        return [[p.x * w, p.y * h, p.z * w] for p in result.multi_face_landmarks[0].landmark]

    for line in sys.stdin:
        request = json.loads(line)
        if request.get("still"):
            with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                 refine_landmarks=refine) as mesh:
                answer = {name: points(mesh.process(images[name]), images[name]) for name in request["still"]}
        else:
            frames = images[request["clip"]]
            times, found = [], []
            for _ in range(request["runs"]):
                with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                     refine_landmarks=refine) as mesh:
                    start, wall = time.perf_counter(), time.process_time()
                    found = [points(mesh.process(frame), frame) for frame in frames]
                    times.append({"ms": (time.perf_counter() - start) * 1e3,
                                  "cpu_s": time.process_time() - wall, "wall_s": time.perf_counter() - start})
            answer = {"times": times, "points": found}
        print(REPLY + json.dumps({"version": mp.__version__, "answer": answer}), flush=True)


# -- inputs -------------------------------------------------------------------------------------

def still_images() -> dict[str, np.ndarray]:
    from PIL import Image
    from skimage import data, transform

    astronaut = data.astronaut()
    images = {"astronaut": astronaut,
              "astronaut x0.6": np.asarray(Image.fromarray(astronaut).resize((307, 307), Image.BILINEAR))}
    for angle in (-15, 15):
        images[f"astronaut {angle:+d} deg"] = transform.rotate(astronaut, angle, preserve_range=True).astype(np.uint8)
    faces = data.lfw_subset()[:100]
    for i, face in enumerate(faces):
        grey = np.asarray(Image.fromarray((face * 255).astype(np.uint8)).resize((150, 150), Image.BILINEAR))
        canvas = np.full((300, 300), 128, np.uint8)
        canvas[75:225, 75:225] = grey
        images[f"lfw {i}"] = np.repeat(canvas[..., None], 3, axis=2)
    return images


def clip(frames: int) -> np.ndarray:
    """The astronaut sliding right 2 px a frame and turning a quarter degree a frame."""
    from skimage import data, transform

    astronaut = data.astronaut()
    out = np.zeros((frames, 512, 512 + 2 * frames, 3), np.uint8)
    for f in range(frames):
        turned = transform.rotate(astronaut, 0.25 * f, center=(230, 130), preserve_range=True).astype(np.uint8)
        out[f, :, 2 * f: 2 * f + 512] = turned
    return out


def error(ours: np.ndarray, theirs: np.ndarray, points: list[int] | None = None) -> float:
    """Mean distance over ``points`` (default all) over MediaPipe's eye distance."""
    theirs = np.asarray(theirs)
    eyes = np.linalg.norm(theirs[list(RIGHT_EYE), :2].mean(0) - theirs[list(LEFT_EYE), :2].mean(0))
    chosen = slice(None) if points is None else points
    return float(np.linalg.norm(ours[chosen, :2] - theirs[chosen, :2], axis=1).mean() / eyes)


# -- the two sides ------------------------------------------------------------------------------

def still_rows(analyzer, worker: VenvWorker, images: dict) -> tuple[list[float], list[float], int]:
    """Errors over all points and over the irises (when both sides give them), and the
    images skipped."""
    theirs = worker.ask({"still": list(images)})["answer"]
    errors, iris_errors, skipped = [], [], 0
    for name, image in images.items():
        found = analyzer.landmarks_arrays(image)
        if theirs[name] is None or len(found) != 1:
            skipped += 1
            continue
        errors.append(error(found.points[0], theirs[name]))
        if "right_iris" in found.groups and len(theirs[name]) == found.points.shape[1]:
            iris_errors.append(error(found.points[0], theirs[name],
                                     [*found.groups["right_iris"], *found.groups["left_iris"]]))
    return errors, iris_errors, skipped


def video_side(bundle: Path, threads: int, frames: np.ndarray):
    from edgeface import FaceAnalyzer
    from edgeface.video import VideoAnalyzer

    analyzer = FaceAnalyzer.create_from_bundle(bundle, search="whole", num_threads=threads)
    last: list = []

    def run(runs: int, warmup: int) -> dict:
        times = []
        for _ in range(runs):
            video = VideoAnalyzer(analyzer)
            start, cpu = time.perf_counter(), time.process_time()
            last[:] = [video.process(frame, 40.0 * f).tracks for f, frame in enumerate(frames)]
            times.append({"ms": (time.perf_counter() - start) * 1e3, "cpu_s": time.process_time() - cpu,
                          "wall_s": time.perf_counter() - start})
        return {"edgeface": _pooled(times)}
    return run, last


def _pooled(times: list[dict]) -> dict:
    return {"ms": [t["ms"] for t in times], "cpu_s": sum(t["cpu_s"] for t in times),
            "wall_s": sum(t["wall_s"] for t in times)}


def cost_rows(bundle: Path, last: list, frames: np.ndarray) -> None:
    from edgeface.bench.estimate import estimate_profiles
    from edgeface.bundle import load_bundle
    from edgeface.challenge import ActiveChallenge
    from edgeface.landmarks import Landmarks
    from edgeface.liveness import PassiveLiveness

    spec = load_bundle(bundle).manifest.landmarks
    found = [(frame, Landmarks(t[0].landmarks[None], np.ones(1, np.float32), spec.point_groups))
             for frame, t in zip(frames, last) if t and t[0].landmarks is not None]
    passive, challenge = PassiveLiveness(), ActiveChallenge(actions=("blink",))
    start = time.perf_counter()
    for i, (frame, landmarks) in enumerate(found):
        passive.add(frame, landmarks, t_ms=40.0 * i)
        challenge.feed(landmarks, 40.0 * i)
    per_frame = (time.perf_counter() - start) * 1e3 / max(len(found), 1)
    start = time.perf_counter()
    passive.residual()  # the three texture fits result() decides on
    decision = (time.perf_counter() - start) * 1e3
    print(f"\n# cost: the liveness checks {per_frame:.3f} ms a frame on this host (passive + active, {len(found)} of "
          f"{len(frames)} frames at 25 fps), and the passive decision's texture fits {decision:.1f} ms once; "
          f"the landmark model ({spec.file}) estimated per device profile:")
    print("| profile | device | unit | ms (range) |")
    print("|---|---|---|---|")
    for r in estimate_profiles(Path(bundle) / spec.file):
        spread = "" if r.estimate_low_ms is None else f" ({r.estimate_low_ms:.2f}-{r.estimate_high_ms:.2f})"
        print(f"| {r.profile} | {r.device} | {r.compute_unit} | {r.median_ms:.2f}{spread} |")


TUNING_PHOTOGRAPHS = 40  # the passive check's defaults were chosen on these (seeds 0 and 1); the rest are held out


def liveness_rows(analyzer, images: dict) -> None:
    from edgeface.liveness import PassiveLiveness

    photographs = [(name, image) for name, image in images.items() if name == "astronaut" or name.startswith("lfw")]
    check = PassiveLiveness()
    print(f"\n# passive liveness: sequences of 9 frames; texture residual threshold {check.threshold}, turn needed "
          f"{check.min_turn_deg:.0f} degrees, {check.spoof_turn_deg:.0f} to call a face flat")
    parts = (("tuning photographs", photographs[:TUNING_PHOTOGRAPHS], 0),
             ("held-out photographs", photographs[TUNING_PHOTOGRAPHS:], 2),
             # seed 2's results led to the undecided band (spoof_turn_deg), seed 3's to the confirming pairs;
             # seed 4 was first run with both
             ("held-out photographs, new sequences", photographs[TUNING_PHOTOGRAPHS:], 3),
             ("held-out photographs, fresh sequences", photographs[TUNING_PHOTOGRAPHS:], 4))
    for part, chosen, seed in parts:
        liveness_part(analyzer, part, dict(chosen), seed)


def liveness_part(analyzer, part: str, chosen: dict, seed: int) -> None:
    from edgeface.eval.liveness_set import KINDS, error_rates, score, sequences
    from edgeface.liveness import PassiveLiveness

    made = sequences(chosen, analyzer, seed=seed)
    results = [(s.kind, *score(s, analyzer, PassiveLiveness)) for s in made]
    print(f"\n{part}: {len(chosen)} photographs, {len(made)} sequences")
    print("| kind | sequences | called live | undecided | residual min / median / max "
          "| turn min / median / max |")
    print("|---|---|---|---|---|---|")
    for kind in KINDS:
        mine = [r for r in results if r[0] == kind]
        cells = [" / ".join(f"{v:.{digits}f}" for v in np.nanpercentile([r[k] for r in mine], [0, 50, 100]))
                 for k, digits in ((2, 3), (3, 1))]
        print(f"| {kind} | {len(mine)} | {sum(r[1] == 'live' for r in mine)} | "
              f"{sum(r[1] == 'undecided' for r in mine)} | {' | '.join(cells)} |")
    rates = error_rates([(kind, decision) for kind, decision, *_ in results])
    print("rates: " + ", ".join(f"{name} {100 * value:.1f} %" for name, value in rates.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="the sides take turns this many times (default 3)")
    parser.add_argument("--frames", type=int, default=60, help="frames in the video clip (default 60)")
    parser.add_argument("--threads", type=int, default=1, help="SDK interpreter threads (default 1)")
    parser.add_argument("--liveness", action="store_true", help="also evaluate the passive liveness check")
    parser.add_argument("--iris", action="store_true", help="the 478-point attention mesh (face-mesh-iris) "
                                                            "against MediaPipe's refine_landmarks=True")
    parser.add_argument("--bundle", type=Path, help="the bundle to measure (a detector and a landmark model, e.g. "
                                                    "one with a converted int8 model: edgeface bundle combine "
                                                    "--landmarks); default: the face-mesh card's")
    parser.add_argument("--mesh-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mesh_worker:
        mesh_worker(json.loads(args.mesh_worker))
        return 0
    from edgeface import FaceAnalyzer
    from edgeface.pretrained import fetch_model

    load = os.getloadavg()[0]
    bundle = args.bundle or fetch_model("face-mesh-iris" if args.iris else "face-mesh")
    images, frames = still_images(), clip(args.frames)
    python = mediapipe_python(MESH_ENV, MESH_MEDIAPIPE)
    with VenvWorker(python, __file__, "--mesh-worker", {"refine": args.iris}, {**images, "clip": frames}) as worker:
        log("still images")
        analyzer = FaceAnalyzer.create_from_bundle(bundle, search="whole", num_threads=args.threads)
        still, irises, skipped = still_rows(analyzer, worker, images)
        log("video clip")
        ours, last = video_side(bundle, args.threads, frames)
        reply: dict = {}

        def theirs(runs: int, warmup: int) -> dict:
            reply.update(worker.ask({"clip": "clip", "runs": runs}))
            return {"mediapipe": _pooled(reply["answer"]["times"])}
        timed = interleaved([theirs, ours], args.rounds, args.rounds, 0)
    video_errors = [error(tracks[0].landmarks, points) for tracks, points in zip(last, reply["answer"]["points"])
                    if points is not None and tracks and tracks[0].landmarks is not None]
    per_frame = {side: timed[side]["median_ms"] / args.frames for side in ("mediapipe", "edgeface")}
    ratio = per_frame["mediapipe"] / per_frame["edgeface"]
    print(f"# mediapipe {reply['version']} solutions.face_mesh against edgeface's bundle {Path(bundle).name}; "
          f"{os.cpu_count()} cores, load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print("| case | images / frames | mean error (eye distance) | worst | MediaPipe ms/frame | edgeface ms/frame "
          "| x | goal | met |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| still images | {len(still)} ({skipped} without one face on a side) | {100 * np.mean(still):.2f} % "
          f"| {100 * np.max(still):.2f} % | - | - | - | <= {100 * ERROR_GOAL:.0f} % | "
          f"{'yes' if np.mean(still) <= ERROR_GOAL else 'no'} |")
    if irises:
        print(f"| still images, the 10 iris points | {len(irises)} | {100 * np.mean(irises):.2f} % "
              f"| {100 * np.max(irises):.2f} % | - | - | - | <= {100 * ERROR_GOAL:.0f} % | "
              f"{'yes' if np.mean(irises) <= ERROR_GOAL else 'no'} |")
    met = np.mean(video_errors) <= ERROR_GOAL and ratio >= SPEED_GOAL
    print(f"| video clip | {len(video_errors)} of {args.frames} | {100 * np.mean(video_errors):.2f} % "
          f"| {100 * np.max(video_errors):.2f} % | {per_frame['mediapipe']:.2f} | {per_frame['edgeface']:.2f} "
          f"| {ratio:.2f} | <= {100 * ERROR_GOAL:.0f} %, >= {SPEED_GOAL}x | {'yes' if met else 'no'} |")
    print(f"cores busy (CPU time / wall time): MediaPipe {timed['mediapipe']['cores_busy']:.2f}, "
          f"edgeface {timed['edgeface']['cores_busy']:.2f} ({args.threads} interpreter thread(s))")
    cost_rows(bundle, last, frames)
    if args.liveness:
        liveness_rows(analyzer, images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
