#!/usr/bin/env python3
"""How many live feeds one core carries: naive per-frame analysis against video mode, and
the multi-feed processor here and on Ray.

Feeds are 640x480, 25 fps, with 1, 2 or 3 real faces moving across (the ``synthetic:``
photo feeds of edgeface.feeds.synthetic: the astronaut, LFW 20 and LFW 18), encoded once
to H.264 .mp4 files so that every feed really decodes video. The models are the default
pretrained bundle (BlazeFace + dlib ResNet, ``edgeface models fetch default``), one
interpreter thread; the watch-list holds the three faces.

(a) naive: ``FaceAnalyzer.analyze`` (detect + align + embed + match) on every frame;
(b) video mode: ``VideoAnalyzer`` (detect every 5th frame, track, recognise once per
    track); both as frames per second per core (frames / process CPU seconds, so other
    load on the machine slows the clock, not the figure), with the identities each found;
(c) the multi-feed processor with N such feeds played in real time for ``--run-s``
    seconds: drops, fps, processing CPU (the processor thread's own CPU time) and the
    feeds per core it implies; video decoding is timed on its own first and reported
    separately (PyAV, every frame of the clips);
(d) the same on 2 Ray actors of a local cluster (one CPU each).

Goals (the issue): (b) >= 4x (a) with the same identities found; >= 8 feeds of 25 fps per
core. Prints tables; ``--json PATH`` also saves the numbers.

    python scripts/bench_feeds.py
    python scripts/bench_feeds.py --feeds 4,8,12,16 --run-s 8 --ray-feeds 16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

FPS = 25.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip-s", type=float, default=10.0, help="length of each test clip (s)")
    parser.add_argument("--feeds", default="4,8,12,16", help="feed counts for (c)")
    parser.add_argument("--run-s", type=float, default=8.0, help="how long each (c)/(d) run lasts (s)")
    parser.add_argument("--ray-feeds", type=int, default=16, help="feeds for (d); 0 skips it")
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from edgeface import FaceAnalyzer
    from edgeface.pretrained import fetch_model

    bundle = fetch_model("default")
    results: dict = {"bundle": str(bundle), "detect_every": args.detect_every}
    with tempfile.TemporaryDirectory(prefix="bench_feeds.") as tmp:
        tmp = Path(tmp)
        gallery = _watch_list(bundle, tmp / "watch.efg")
        analyzer = FaceAnalyzer.create_from_bundle(bundle, gallery=gallery, search="whole")
        clips = _clips(tmp, args.clip_s)
        results["per_frame"] = [_naive_vs_video(analyzer, clip, args.detect_every) for clip in clips[:3]]
        _print_per_frame(results["per_frame"])
        results["decode"] = _decode(clips[:3])
        print(f"\nvideo decoding (PyAV, 640x480 H.264, all threads): {results['decode']['fps_per_core']:.0f} "
              f"frames/s per core ({results['decode']['frames']} frames)")
        runs = [_feeds_run(bundle, gallery, clips, n, args, ray=False) for n in map(int, args.feeds.split(","))]
        if args.ray_feeds:
            runs.append(_feeds_run(bundle, gallery, clips, args.ray_feeds, args, ray=True))
        results["feeds"] = runs
        _print_feeds(runs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _watch_list(bundle: Path, path: Path) -> Path:
    from edgeface import FaceAnalyzer
    from edgeface.feeds.synthetic import PHOTO_FACES, face_still

    analyzer = FaceAnalyzer.create_from_bundle(bundle, gallery=path, search="whole")
    for name in PHOTO_FACES:
        analyzer.enroll(name, [face_still("photo", name)])
    analyzer.gallery.save()
    return path


def _clips(tmp: Path, seconds: float) -> list[dict]:
    """Clips with 1, 2 and 3 faces, each in two versions (seeds) so that feeds playing
    them are not in step, written as .mp4 files (frames are made again when needed:
    they are cheap, and 1500 of them would hold 1.4 GB)."""
    from edgeface.feeds.synthetic import SyntheticSpec, synthetic_frames
    from edgeface.video import VideoWriter

    clips = []
    for seed in (1, 2):
        for faces in (1, 2, 3):
            spec = SyntheticSpec.parse(f"synthetic:faces={faces},seconds={seconds},seed={seed}")
            path = tmp / f"faces{faces}-seed{seed}.mp4"
            with VideoWriter(path, fps=FPS) as writer:
                for t, frame in synthetic_frames(spec):
                    writer.write(frame, t)
            clips.append({"faces": faces, "spec": spec, "path": path})
    return clips


def _naive_vs_video(analyzer, clip: dict, detect_every: int) -> dict:
    from edgeface.feeds.synthetic import synthetic_frames
    from edgeface.video import VideoAnalyzer, VideoOptions

    video = VideoAnalyzer(analyzer, VideoOptions(detect_every=detect_every))
    frames, naive_s, video_s = 0, 0.0, 0.0
    naive_ids, video_ids = set(), set()
    for t, frame in synthetic_frames(clip["spec"]):
        cpu = time.process_time()
        faces = analyzer.analyze(frame)
        mid = time.process_time()
        events = video.process(frame, t).events
        video_s += time.process_time() - mid
        naive_s += mid - cpu
        frames += 1
        naive_ids |= {face.identity for face in faces} - {None}
        video_ids |= {e.identity for e in events if e.kind == "identity_matched"}
    return {"faces": clip["faces"], "frames": frames, "expected": sorted(clip["spec"].names),
            "naive_fps_per_core": frames / naive_s, "naive_identities": sorted(naive_ids),
            "video_fps_per_core": frames / video_s, "video_identities": sorted(video_ids),
            "detector_runs": video.detector_runs, "recognitions": video.recognitions,
            "speedup": naive_s / video_s}


def _decode(clips: list[dict]) -> dict:
    from edgeface.video import open_video

    frames = 0
    cpu = time.process_time()
    for clip in clips:
        frames += sum(1 for _ in open_video(clip["path"]))
    return {"frames": frames, "fps_per_core": frames / (time.process_time() - cpu)}


def _feeds_run(bundle: Path, gallery: Path, clips: list[dict], n: int, args, ray: bool) -> dict:
    """N real-time file feeds (the clips in turn) for ``args.run_s`` seconds."""
    from edgeface.feeds.config import parse_config
    from edgeface.feeds.processor import serve_feeds

    config = parse_config({
        "bundle": str(bundle), "gallery": str(gallery), "detect_every": args.detect_every, "metrics_every_s": 0,
        "duration_s": args.run_s,
        "feeds": [{"id": f"cam{i:02d}", "source": str(clips[i % len(clips)]["path"]), "realtime": True}
                  for i in range(n)],
        "ray": {"enabled": ray, "actors": 2, "num_cpus": 2, "cpus_per_actor": 1}})
    snap = serve_feeds(config, log=lambda line: None)
    t = snap["totals"]
    latencies = [row["event_latency_ms"]["p95"] for row in snap["feeds"].values() if row["event_latency_ms"]]
    return {"feeds": n, "ray_actors": 2 if ray else 0, "wall_s": snap["wall_s"], "fps_in": t["fps_in"],
            "fps_out": t["fps_out"], "dropped": t["dropped"], "frames_out": t["frames_out"],
            "cpu_cores": snap["cpu_cores"], "processing_cores": t["process_cpu_s"] / snap["wall_s"],
            "feeds_per_core": t["frames_out"] / max(t["process_cpu_s"], 1e-9) / FPS,
            "event_p95_ms": max(latencies) if latencies else None, "processes": snap["processes"]}


def _print_per_frame(rows: list[dict]) -> None:
    print("\n(a) naive detect+embed every frame vs (b) video mode, frames/s per core")
    print(f"{'faces':>5} {'frames':>6} {'(a) naive':>10} {'(b) video':>10} {'speedup':>8} "
          f"{'det runs':>8} {'recogn.':>7}  identities (a) | (b)")
    for r in rows:
        same = "same" if r["naive_identities"] == r["video_identities"] == r["expected"] else "DIFFER"
        print(f"{r['faces']:>5} {r['frames']:>6} {r['naive_fps_per_core']:>10.1f} {r['video_fps_per_core']:>10.1f} "
              f"{r['speedup']:>7.1f}x {r['detector_runs']:>8} {r['recognitions']:>7}  "
              f"{','.join(r['naive_identities'])} | {','.join(r['video_identities'])} ({same})")


def _print_feeds(rows: list[dict]) -> None:
    print(f"\n(c) multi-feed processor, real-time 640x480 25 fps feeds (1-3 faces), one process; (d) 2 Ray actors")
    print(f"{'feeds':>5} {'where':>8} {'fps in':>7} {'fps out':>7} {'dropped':>7} {'CPU cores':>9} "
          f"{'processing':>10} {'feeds/core':>10} {'event p95 ms':>12}")
    for r in rows:
        where = f"ray x{r['ray_actors']}" if r["ray_actors"] else "local"
        p95 = "-" if r["event_p95_ms"] is None else f"{r['event_p95_ms']:.0f}"
        print(f"{r['feeds']:>5} {where:>8} {r['fps_in']:>7.1f} {r['fps_out']:>7.1f} {r['dropped']:>7} "
              f"{r['cpu_cores']:>9.2f} {r['processing_cores']:>10.2f} {r['feeds_per_core']:>10.1f} {p95:>12}")
    print("CPU cores: process CPU / wall (decoding, processing, Python overhead); processing: the processor "
          "threads' own CPU / wall;\nfeeds/core: 25-fps feeds one core of processing carries "
          "(frames out / processing CPU s / 25), decoding not included.")


if __name__ == "__main__":
    sys.exit(main())
