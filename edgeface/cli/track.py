"""``edgeface track``: faces tracked through a video file or stream, named from a gallery."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli.choices import Search
from edgeface.cli.common import (BundleOption, JsonOption, SearchOption, ThreadsOption, analyzer_for,
                                 check_output_file, console, print_json, require_gallery, shown, user_errors)
from edgeface.cli.progress import Meter, progress_lines


@user_errors
def track(video: Annotated[str, typer.Argument(
              help="A video file, a camera device (/dev/video0) or a stream URL (rtsp://...).", show_default=False,
              metavar="VIDEO")],
          bundle: BundleOption = None,
          gallery: Annotated[Optional[str], typer.Option(
              "--gallery", "-g",
              help="Gallery file or Milvus URI to name faces from (edgeface enroll makes one).")] = None,
          detect_every: Annotated[int, typer.Option(
              "--detect-every", min=1, help="Run the detector every N frames (and when a track is lost).")] = 5,
          json_out: JsonOption = False,
          out_video: Annotated[Optional[Path], typer.Option(
              "--out-video", help="Write the video with boxes, track ids and names drawn (.mp4, .mkv).")] = None,
          events: Annotated[Optional[Path], typer.Option(
              "--events", help="Append track events (started, identity matched, ended) to this file as "
                               "JSON lines, written as they happen.")] = None,
          max_frames: Annotated[Optional[int], typer.Option(
              "--max-frames", min=1, help="Stop after this many frames (for live streams).")] = None,
          threads: ThreadsOption = 1, search: SearchOption = None) -> None:
    """Track faces through a video: stable track ids, one identity per track, a summary per track.

    Each detection frame is one pass of the detector unless --search asks for tiles."""
    from edgeface.feeds.events import JsonlSink
    from edgeface.video import VideoAnalyzer, VideoOptions, open_video
    from edgeface.video.annotate import annotate
    from edgeface.video.writer import VideoWriter

    if gallery is not None:
        require_gallery(gallery)
    for path, option in ((events, "--events"), (out_video, "--out-video")):
        if path is not None:
            check_output_file(path, option, inputs=[Path(video)])
    all_events = []
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_video(video))
        writer = stack.enter_context(VideoWriter(out_video, fps=source.fps or 25.0)) if out_video else None
        sink = stack.enter_context(JsonlSink(events)) if events else None
        analyzer = analyzer_for(bundle, threads, search or Search.whole, gallery=gallery)
        tracker = VideoAnalyzer(analyzer, VideoOptions(detect_every=detect_every))

        def emit(new_events) -> None:
            for event in new_events:
                all_events.append(event.to_dict())
                if sink is not None:
                    sink(all_events[-1])

        meter = stack.enter_context(Meter(json_out))
        of = f"/{source.frames}" if source.frames else ""
        started = time.monotonic()
        for timestamp_ms, frame in source:
            result = tracker.process(frame, timestamp_ms)
            meter.update(f"tracking: frame {tracker.frames}{of}, {_rate(tracker.frames, started)}")
            emit(result.events)
            if writer is not None:
                writer.write(annotate(frame, result.tracks), timestamp_ms)
            if max_frames is not None and tracker.frames >= max_frames:
                break
        emit(tracker.finish())
    progress_lines(json_out)(f"tracked {tracker.frames} frames in {time.monotonic() - started:.1f} s, "
                             f"{_rate(tracker.frames, started)}")
    summaries = [s.to_dict() for s in tracker.summaries()]
    report = {"video": video, "frames": tracker.frames, "detector_runs": tracker.detector_runs,
              "recognitions": tracker.recognitions, "tracks": summaries, "events": all_events}
    if json_out:
        return print_json(report)
    _print_table(report, out_video, events)


def _rate(frames: int, started: float) -> str:
    return f"{frames / max(time.monotonic() - started, 1e-6):.1f} fps"


def _print_table(report: dict, out_video: Optional[Path], events: Optional[Path]) -> None:
    from rich.table import Table

    table = Table("track", "seen (s)", "frames", "identity", "similarity", "recognitions")
    for s in report["tracks"]:
        table.add_row(str(s["track_id"]), f"{s['first_ms'] / 1000:.2f} - {s['last_ms'] / 1000:.2f}",
                      str(s["frames"]), shown(s["identity"]) if s["identity"] else "[dim]unknown[/]",
                      "-" if s["similarity"] is None else f"{s['similarity']:.3f}", str(s["recognitions"]))
    if not report["tracks"]:
        table.add_row("-", "no face found", "", "", "", "")
    out = console()
    out.print(table)
    out.print(shown(f"{report['frames']} frames, detector on {report['detector_runs']}, "
                    f"{report['recognitions']} recognitions"
                    + (f"; annotated video: {out_video}" if out_video else "")
                    + (f"; events: {events}" if events else "")))
