"""``edgeface liveness``: is the face in a video live? An active challenge of actions in
order, the passive 3-D check, and (with an embedder) the same face from start to end."""

from __future__ import annotations

import contextlib
from typing import Annotated, Optional

import typer

from edgeface.cli.choices import Search
from edgeface.cli.common import (BundleOption, JsonOption, ThreadsOption, analyzer_for, console, print_json, shown,
                                 user_errors)
from edgeface.cli.exit_codes import GATE_FAILED
from edgeface.cli.progress import Meter, progress_lines


@user_errors
def liveness(video: Annotated[str, typer.Argument(
                 help="A video file, a camera device (/dev/video0) or a stream URL.", show_default=False,
                 metavar="VIDEO")],
             bundle: BundleOption = None,
             actions: Annotated[Optional[str], typer.Option(
                 "--actions", help="The actions asked, in order, comma-separated (blink, smile, turn_left, "
                                   "turn_right, nod): for a recording, the order it was asked to follow. "
                                   "Default: three at random, shown as they are asked.")] = None,
             time_limit: Annotated[float, typer.Option(
                 "--time-limit", min=0.1, max=600.0, help="Seconds allowed for each action.")] = 5.0,
             json_out: JsonOption = False,
             max_frames: Annotated[Optional[int], typer.Option(
                 "--max-frames", min=1, help="Stop after this many frames.")] = None,
             threads: ThreadsOption = 1) -> None:
    """Check that the face in a video is live: the actions asked, in order, in time, in depth.

    The face must do each action asked within the time limit, move in depth rather than as
    a flat picture, and stay the same face (checked by its embedding with an embedder). Needs a bundle with a landmark model (edgeface models fetch face-mesh). Exit code 1 when
    the face is not found live."""
    from edgeface.challenge import ACTIONS, ActiveChallenge, ChallengeOptions
    from edgeface.errors import EdgefaceError
    from edgeface.video import VideoAnalyzer, open_video
    from edgeface.video.liveness import LivenessSession

    asked = None
    if actions is not None:
        asked = tuple(a.strip() for a in actions.split(",") if a.strip())
        unknown = [a for a in asked if a not in ACTIONS]
        if unknown or not asked:
            raise EdgefaceError(f"--actions {actions!r}: choose from {', '.join(ACTIONS)}, comma-separated")
    analyzer = analyzer_for(bundle, threads, Search.whole)
    session = LivenessSession(VideoAnalyzer(analyzer),
                              ActiveChallenge(ChallengeOptions(time_limit_ms=1000 * time_limit), actions=asked))
    events, frames, prompt = [], 0, None
    tell = progress_lines(json_out)
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_video(video))
        meter = stack.enter_context(Meter(json_out))
        for timestamp_ms, frame in source:
            step = session.process(frame, timestamp_ms)
            frames += 1
            events += step.events
            if step.prompt != prompt:
                prompt = step.prompt
                tell(f"{timestamp_ms / 1000:.2f} s: {prompt}")
            meter.update(f"liveness: frame {frames}")
            if step.verdict is not None or (max_frames is not None and frames >= max_frames):
                break
    verdict = session.finish()
    report = {"video": video, "frames": frames, **verdict.to_dict(), "events": events}
    if json_out:
        print_json(report)
    else:
        out = console()
        out.print(shown(f"{'LIVE' if verdict.live else 'NOT LIVE'}: {verdict.reason}"))
        out.print(shown(f"actions asked: {', '.join(verdict.actions)}; passive check: {verdict.passive.decision} "
                        f"({verdict.passive.reason})"))
    if not verdict.live:
        raise typer.Exit(GATE_FAILED)
