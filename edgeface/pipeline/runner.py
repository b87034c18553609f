"""Run the pipeline's stages in order, skipping those whose outputs are fresh."""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from edgeface.errors import EdgefaceError
from edgeface.fsutil import atomic_write_bytes, write_json
from edgeface.pipeline.cache import StageDir, stage_key
from edgeface.pipeline.config import PipelineConfig
from edgeface.pipeline.stages import STAGES, StageContext


class PipelineError(EdgefaceError):
    """A stage failed, or the run directory cannot be used."""


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran", "resumed" or "cached"
    seconds: float
    folder: Path


@dataclass
class PipelineResult:
    run: Path
    outcomes: list[StageOutcome] = field(default_factory=list)

    @property
    def report(self) -> Path:
        return self.run / "stages" / "report" / "report.md"

    @property
    def bundle(self) -> Path:
        return self.run / "stages" / "bundle" / "bundle"


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


@contextlib.contextmanager
def _exclusive(run: Path) -> Iterator[None]:
    """One pipeline at a time per run directory (a second would overwrite the first's stages)."""
    import fcntl

    run.mkdir(parents=True, exist_ok=True)
    with open(run / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PipelineError(f"--out {run}: another edgeface pipeline is running there; wait for it or use "
                                f"another --out") from None
        yield


def _save_config(config: PipelineConfig, run: Path) -> None:
    import yaml

    text = "# the configuration this run used (edgeface pipeline --config accepts it)\n"
    text += yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write_bytes(run / "config.yaml", text.encode())


def _stage_index(option: str, name: Optional[str], default: int) -> int:
    names = stage_names()
    if name is None:
        return default
    if name not in names:
        raise PipelineError(f"{option} {name}: no such stage; the stages are {', '.join(names)}")
    return names.index(name)


def run_pipeline(config: PipelineConfig, run: Path, from_stage: Optional[str] = None, until: Optional[str] = None,
                 bars: bool = True, say: Callable[[str], None] = print) -> PipelineResult:
    """Run the stages into ``run/stages``, up to ``until`` (default: all); a stage whose
    inputs are unchanged since it last finished is skipped; ``from_stage`` and every stage
    after it are recomputed. ``say`` is told each stage's start and end with its time (done
    or failed), and one line for a stage skipped: a run of hours shows where it is."""
    first_forced = _stage_index("--from", from_stage, len(STAGES))
    last = _stage_index("--until", until, len(STAGES) - 1)
    if from_stage is not None and first_forced > last:
        raise PipelineError(f"--from {from_stage} comes after --until {until}: nothing to run")
    result = PipelineResult(Path(run))
    root = result.run / "stages"
    with _exclusive(result.run):
        _save_config(config, result.run)
        keys: dict[str, str] = {}
        records: dict[str, dict] = {}
        for index, stage in enumerate(STAGES[:last + 1]):
            key = stage_key(stage.name, stage.version, stage.settings(config), {n: keys[n] for n in stage.needs})
            keys[stage.name] = key
            folder = StageDir(root, stage.name)
            label = f"[{index + 1}/{last + 1}] {stage.name}"
            if index < first_forced and folder.is_fresh(key):
                records[stage.name] = folder.finished()["summary"]
                result.outcomes.append(StageOutcome(stage.name, "cached", 0.0, folder.final))
                say(f"{label}: up to date, skipped")
                continue
            if index >= first_forced:
                folder.force()
            work, resume = folder.begin(key)
            say(f"{label}: {stage.title}" + (" (resuming an interrupted attempt)" if resume else ""))
            context = StageContext(config, work, resume, {n: root / n for n in stage.needs},
                                   {n: records[n] for n in stage.needs}, lambda m, s=stage.name: say(f"  {s}: {m}"),
                                   bars)
            started = time.perf_counter()
            try:
                summary = _run_stage(stage, context, work)
            except BaseException as exc:  # Ctrl-C too: the stage's line ends with the time it had run
                ended = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                say(f"{label}: {ended} after {_duration(time.perf_counter() - started)}")
                raise
            seconds = round(time.perf_counter() - started, 2)
            folder.commit(key, {"name": stage.name, "title": stage.title, "seconds": seconds, "summary": summary})
            records[stage.name] = summary
            result.outcomes.append(StageOutcome(stage.name, "resumed" if resume else "ran", seconds, folder.final))
            say(f"{label}: done in {_duration(seconds)}")
    _write_timings(result)
    return result


def _run_stage(stage, context: StageContext, work: Path) -> dict:
    """The stage's summary; a failure becomes one PipelineError (the traceback of an
    unexpected one goes to work/error.log), earlier stages' outputs untouched."""
    kept = f"the finished stages are kept in {work.parent}; fix it and rerun: they are skipped"
    try:
        summary = stage.run(context)
        json.dumps(summary, default=str)  # a summary that cannot be stored is a bug: fail here, not at commit
        return summary
    except EdgefaceError as exc:
        raise PipelineError(f"stage {stage.name} failed: {exc}; {kept}") from None
    except Exception as exc:  # a bug or a library failure: keep the details, say where they are
        log = work / "error.log"
        atomic_write_bytes(log, traceback.format_exc().encode())
        raise PipelineError(f"stage {stage.name} failed: {type(exc).__name__}: {exc} (traceback in {log}); "
                            f"{kept}") from None


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _write_timings(result: PipelineResult) -> None:
    rows = [{"stage": o.name, "status": o.status, "seconds": o.seconds} for o in result.outcomes]
    write_json(result.run / "timings.json", rows)
