"""``edgeface pipeline``: config validation, the stage cache, and the whole pipeline on a
tiny config end to end (train -> TFLite -> Hexagon -> evaluate -> bundle -> bench -> report),
its reruns, ``--from`` and a run killed mid-training that resumes to identical outputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgeface.cli.app import app
from edgeface.pipeline import PipelineConfigError, default_config_text, load_config, parse_config, stage_names
from edgeface.pipeline.cache import StageDir, stage_key
from edgeface.pipeline.config import PipelineConfig
from edgeface.pipeline.stages import choose_artifacts
from tests.strategies import yaml_scalars

runner = CliRunner()

try:
    import onnxruntime_qnn  # noqa: F401

    HAVE_QNN = True
except ImportError:
    HAVE_QNN = False

TINY = {
    "name": "tiny",
    "data": {"detector": "synthetic:64", "recognizer": "synthetic:20:per_identity=6:size=64",
             "recognizer_val": "synthetic:4:identities=20:size=64:seed=77"},
    "detector": {"epochs": 2, "steps_per_epoch": 4, "batch": 8},
    "recognizer": {"epochs": 1, "steps_per_epoch": 3, "batch": 8, "embedding_size": 32},
    "quantize": {"precisions": ["fp32", "int8"]},
    "hexagon": {"socs": ["SM8650"] if HAVE_QNN else [], "precisions": ["w8a8"]},
    "evaluate": {"detection": "synthetic:16:seed=5", "pairs": "synthetic:4:identities=20:size=64:seed=9"},
    "bench": {"profiles": ["galaxy-s24", "pixel-8"], "runs": 3},
}


# ------------------------------------------------------------------- config

def test_default_config_text_round_trips_to_the_defaults():
    text = default_config_text()
    assert "# " in text and "hexagon:" in text
    assert parse_config(yaml.safe_load(text)) == PipelineConfig()
    assert load_config(None) == PipelineConfig()


@pytest.mark.parametrize("data, field", [
    ({"detector": {"epcohs": 3}}, "detector.epcohs: unknown field"),
    ({"recognizer": {"epochs": "ten"}}, "recognizer.epochs: expected an integer"),
    ({"quantize": {"precisions": "int8"}}, "quantize.precisions: expected a list of strings"),
    ({"quantize": {"precisions": ["int4"]}}, "quantize.precisions: int4 unknown"),
    ({"hexagon": {"socs": ["SM9999"]}}, "hexagon.socs[0]:"),
    ({"bench": {"profiles": ["no-such-phone"]}}, "bench.profiles[0]:"),
    ({"bench": {"host_threads": [0]}}, "bench.host_threads"),
    ({"detector": {"lr": -1}}, "detector.lr: must be positive"),
    ({"recognizer": {"far": 2}}, "recognizer.far"),
    ({"detector": {"arch": "yolo"}}, "detector.arch: yolo unknown"),
    ({"detector": {"optimizer": "adamx"}}, "detector.optimizer: adamx unknown; choose from adamw, sgd"),
    ({"recognizer": {"mixed_precision": "yes"}}, "recognizer.mixed_precision: yes unknown"),
    ({"data": ["synthetic"]}, "data: expected a mapping"),
    ({"seed": True}, "seed: expected an integer"),
])
def test_config_errors_name_the_field(data, field):
    with pytest.raises(PipelineConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data, "p.yaml")


@pytest.mark.parametrize("data, field", [
    ({"detector": {"lr": float("nan")}}, "detector.lr: expected a finite number, got nan"),
    ({"recognizer": {"lr": float("inf")}}, "recognizer.lr: expected a finite number, got inf"),
    ({"recognizer": {"embedding_size": -5}}, "recognizer.embedding_size: must be at least 8 and at most 4,096"),
    ({"detector": {"batch": 10**12}}, "detector.batch: must be at least 1 and at most 4,096, got 1000000000000"),
    ({"recognizer": {"lr": 10**400}}, "recognizer.lr: must be positive and at most 10"),
    ({"seed": -1}, "seed: must be at least 0"),
    ({"bench": {"host_threads": [1, 10**9]}}, "bench.host_threads[1]: must be at least 1 and at most 256"),
    ({"recognizer": {"far": 0}}, "recognizer.far: must be positive"),
])
def test_numeric_fields_are_finite_and_in_range(data, field):
    with pytest.raises(PipelineConfigError, match=re.escape(f"p.yaml: {field}")):
        parse_config(data, "p.yaml")


def _numeric_fields(cls=PipelineConfig, prefix=""):
    """(dotted name, type, Range) of every numeric field, nested sections included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _numeric_fields(hints[f.name], f"{prefix}{f.name}.")
        elif "range" in f.metadata:
            yield f"{prefix}{f.name}", hints[f.name], f.metadata["range"]


NUMERIC_FIELDS = list(_numeric_fields())


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(NUMERIC_FIELDS), value=yaml_scalars)
def test_random_values_in_numeric_fields_are_accepted_in_range_or_refused_by_name(field, value):
    name, tp, limits = field
    *sections, key = name.split(".")
    data = {key: [value] if typing.get_origin(tp) is list else value}
    for section in reversed(sections):
        data = {section: data}
    try:
        config = parse_config(data, "p.yaml")
    except PipelineConfigError as exc:
        text = str(exc)
        assert text.startswith(f"p.yaml: {name}") and "\n" not in text and len(text) < 300, text
        return
    got = config
    for part in name.split("."):
        got = getattr(got, part)
    got = got[0] if isinstance(got, list) else got
    assert got is None or (limits.contains(got) and math.isfinite(got) and got == value)


def test_config_file_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(PipelineConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector:\n  epochs: [1\n")
    with pytest.raises(PipelineConfigError, match=r"bad.yaml: not valid YAML at line \d+, column \d+"):
        load_config(bad)


def test_cli_bad_config_and_stage_are_one_line_errors(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("detector: {epochs: 0}\n")
    r = runner.invoke(app, ["pipeline", "--config", str(bad), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "detector.epochs: must be at least 1" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["pipeline", "--from", "nope", "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "--from nope: no such stage" in r.output
    r = runner.invoke(app, ["pipeline", "--from", "bench", "--until", "data", "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "nothing to run" in r.output
    r = runner.invoke(app, ["pipeline", "--print-default-config"])
    assert r.exit_code == 0 and parse_config(yaml.safe_load(r.output)) == PipelineConfig()


@pytest.mark.parametrize("section, config_cls", [("detector", "DetectorConfig"), ("recognizer", "RecognizerConfig")])
def test_training_sections_are_the_training_configs_fields(section, config_cls):
    """Every training config field the pipeline does not set itself is a section field, with
    the same type, help and range (one declaration)."""
    import edgeface.train.config as train_config
    from edgeface.pipeline.config import PIPELINE_OWNED

    cls, section_cls = getattr(train_config, config_cls), type(getattr(PipelineConfig(), section))
    own = {f.name: f for f in dataclasses.fields(cls) if f.name not in PIPELINE_OWNED}
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    assert list(fields) == list(own)
    hints, own_hints = typing.get_type_hints(section_cls), typing.get_type_hints(cls)
    assert all(fields[n].metadata == own[n].metadata and hints[n] == own_hints[n] for n in fields)
    text = default_config_text()
    assert all(f"  {n}: " in text for n in fields)
    assert section_cls.__module__ == "edgeface.pipeline.config"  # so that a config pickles, as before
    assert pickle.loads(pickle.dumps(PipelineConfig())) == PipelineConfig()


def test_section_fields_reach_the_training_configs_and_the_pipeline_keeps_its_defaults(tmp_path):
    from edgeface.pipeline.stages import _training_config

    config = parse_config({"seed": 5, "detector": {"box_weight": 2.5, "optimizer": "sgd"},
                           "recognizer": {"scale": 16, "warmup_steps": 0}, "data": {"recognizer_val": "pairs.txt"}})
    detector = _training_config(config, "detector", tmp_path, resume=False)
    assert (detector.box_weight, detector.optimizer, detector.epochs, detector.lr) == (2.5, "sgd", 4, 0.004)
    assert (detector.data, detector.seed, detector.out, detector.export) == ("synthetic:1600", 5, tmp_path, False)
    embedder = _training_config(config, "embedder", tmp_path, resume=True)
    assert (embedder.scale, embedder.warmup_steps, embedder.arch, embedder.input_size, embedder.lr) == \
        (16.0, 0, "edgeface_xs_int8", 64, 0.002)
    assert (embedder.val_pairs, embedder.resume, embedder.embedding_size, embedder.far) == \
        ("pairs.txt", True, 128, 1e-3)
    with pytest.raises(PipelineConfigError, match=r"p.yaml: detector.out: unknown field"):
        parse_config({"detector": {"out": "elsewhere"}}, "p.yaml")


def test_training_stage_keys_read_as_before_the_sections_nested_the_training_configs():
    """A run made before keeps its trained stages: the default sections key as they did
    (their old dataclass repr); a field added since changes the key only off its default."""
    from edgeface.pipeline.stages import STAGES

    train = {stage.name: stage.settings for stage in STAGES if stage.name.startswith("train_")}
    settings = train["train_detector"](PipelineConfig())
    assert settings["section"] == ("DetectorSection(arch='blazeface', epochs=4, steps_per_epoch=100, batch=32, "
                                   "lr=0.004, loss='focal', box_loss='smooth_l1')")
    assert train["train_recognizer"](PipelineConfig())["section"] == (
        "RecognizerSection(arch='edgeface_xs_int8', input_size=64, embedding_size=128, epochs=4, "
        "steps_per_epoch=100, batch=32, lr=0.002, loss='arcface', far=0.001)")
    changed = train["train_detector"](parse_config({"detector": {"box_weight": 2.0}}))
    assert changed["section"] == [settings["section"], {"box_weight": 2.0}]


# -------------------------------------------------------------------- cache

def test_stage_key_covers_config_inputs_and_nothing_else():
    base = stage_key("convert", 1, ["fp32"], {"train": "a"})
    assert base == stage_key("convert", 1, ["fp32"], {"train": "a"})
    assert len({base, stage_key("convert", 1, ["fp32", "int8"], {"train": "a"}),
                stage_key("convert", 1, ["fp32"], {"train": "b"}), stage_key("convert", 2, ["fp32"], {"train": "a"}),
                stage_key("bundle", 1, ["fp32"], {"train": "a"})}) == 5


def test_stage_dir_commits_whole_and_resumes_only_the_same_key(tmp_path):
    stage = StageDir(tmp_path, "train")
    assert stage.finished() is None and not stage.is_fresh("k1")
    work, resume = stage.begin("k1")
    assert not resume
    (work / "checkpoint").write_text("epoch 1")
    work, resume = stage.begin("k1")  # the interrupted attempt, same inputs: handed back
    assert resume and (work / "checkpoint").read_text() == "epoch 1"
    work, resume = stage.begin("k2")  # other inputs: wiped
    assert not resume and not (work / "checkpoint").exists()
    (work / "out.txt").write_text("v2")
    stage.commit("k2", {"summary": {"n": 2}})
    assert stage.is_fresh("k2") and not stage.is_fresh("k1") and not stage.partial.exists()
    assert (stage.final / "out.txt").read_text() == "v2" and stage.finished()["summary"] == {"n": 2}
    work, _ = stage.begin("k3")  # a new attempt never touches the finished outputs
    assert stage.is_fresh("k2") and (stage.final / "out.txt").exists()


def _row(role, precision, metric, size, runtime="tflite", failures=()):
    key = "ap" if role == "detector" else "accuracy"
    return {"role": role, "runtime": runtime, "precision": precision, "size_bytes": size,
            "gate_failures": list(failures), "metrics": {key: metric}}


def test_choose_artifacts_takes_the_smallest_within_the_drop_whose_gate_passed():
    rows = [_row("detector", "fp32", 0.80, 400), _row("detector", "fp16", 0.80, 200),
            _row("detector", "int8", 0.70, 100),  # too far below fp32
            _row("embedder", "fp32", 0.95, 4000), _row("embedder", "int8", 0.94, 1000, failures=["cosine"]),
            _row("embedder", "fp16", 0.94, 2000), _row("embedder", "w8a8", 0.99, 10, runtime="qnn-htp")]
    chosen = choose_artifacts(rows, max_drop=0.02)
    assert chosen["detector"]["precision"] == "fp16" and chosen["embedder"]["precision"] == "fp16"
    assert choose_artifacts(rows, max_drop=0.2)["detector"]["precision"] == "int8"
    assert choose_artifacts(rows, max_drop=0.0)["embedder"]["precision"] == "fp32"


@pytest.fixture
def two_stages(monkeypatch):
    """Two stand-in stages, a then b (which reads a); b fails while the returned list is
    not empty."""
    import edgeface.pipeline.runner as pipeline_runner
    from edgeface.errors import EdgefaceError
    from edgeface.pipeline.stages import Stage

    broken = []

    def make_b(context):
        if broken:
            raise EdgefaceError("b broke")
        return {}

    monkeypatch.setattr(pipeline_runner, "STAGES", (Stage("a", (), lambda c: None, lambda context: {}, "make a"),
                                                    Stage("b", ("a",), lambda c: None, make_b, "make b")))
    return broken


def _pipeline_lines(out: Path, *args):
    """The CLI's result and its stderr lines, times written as T."""
    result = runner.invoke(app, ["pipeline", "--out", str(out), *args])
    return result, re.sub(r"\d+\.\d s", "T", result.stderr).splitlines()


def test_cli_every_stage_says_its_start_and_end_with_its_time_on_stderr(tmp_path, two_stages):
    """Run, then up to date, then the second stage failing; the stage lines are progress
    (stderr), the summary is the result (stdout), and --json says nothing but JSON."""
    run = tmp_path / "run"
    first, lines = _pipeline_lines(run)
    assert first.exit_code == 0, first.output
    assert lines == ["[1/2] a: make a", "[1/2] a: done in T", "[2/2] b: make b", "[2/2] b: done in T"]
    assert first.stdout.startswith("pipeline finished: 2 of 2 stages ran in ")
    again, lines = _pipeline_lines(run)
    assert lines == ["[1/2] a: up to date, skipped", "[2/2] b: up to date, skipped"], again.output
    two_stages.append(True)
    failed, lines = _pipeline_lines(run, "--from", "b")
    assert failed.exit_code == 2 and failed.stdout == ""
    assert lines[:3] == ["[1/2] a: up to date, skipped", "[2/2] b: make b", "[2/2] b: failed after T"]
    assert lines[3].startswith("error: stage b failed: b broke; the finished stages are kept in ")
    assert len(lines) == 4 and "\\n" not in lines[3]  # one line, no escaped newline in it
    two_stages.clear()
    quiet, lines = _pipeline_lines(run, "--json")
    assert quiet.exit_code == 0 and lines == [] and len(json.loads(quiet.stdout)["stages"]) == 2


def test_a_stage_forced_by_from_that_failed_is_not_skipped_by_the_next_run(tmp_path, two_stages):
    """--from b asked for b to be recomputed; when that attempt fails, the outputs of b's
    earlier run must not count as up to date on the next run without --from."""
    run = tmp_path / "run"
    assert _pipeline_lines(run)[0].exit_code == 0
    two_stages.append(True)
    assert _pipeline_lines(run, "--from", "b")[0].exit_code == 2
    assert (run / "stages" / "b" / "stage.json").exists()  # the earlier outputs are kept meanwhile
    failed, lines = _pipeline_lines(run)
    assert failed.exit_code == 2 and lines[1].startswith("[2/2] b: make b") and lines[2] == "[2/2] b: failed after T"
    two_stages.clear()
    fixed, lines = _pipeline_lines(run)  # (the failed attempt's folder is resumed: same key)
    assert fixed.exit_code == 0 and lines[1].startswith("[2/2] b: make b") and lines[2] == "[2/2] b: done in T"
    assert _pipeline_lines(run)[1] == ["[1/2] a: up to date, skipped", "[2/2] b: up to date, skipped"]


# ----------------------------------------------------------- end to end

def _pipeline_cmd(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edgeface.cli.app", "pipeline", "--config", str(config), "--out", str(out),
            "--json", *extra]


def _run(config: Path, out: Path, *extra: str) -> dict:
    proc = subprocess.run(_pipeline_cmd(config, out, *extra), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _status(summary: dict) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in summary["stages"]}


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_config, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "tiny"
    return out, _run(tiny_config, out)


def _bundle_digest(bundle: Path) -> dict[str, str]:
    """sha256 of the bundle's TFLite files (QNN contexts embed build details)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    return {role: hashlib.sha256((bundle / m["file"]).read_bytes()).hexdigest()
            for role, m in manifest["models"].items()}


@pytest.mark.slow
def test_pipeline_end_to_end_writes_report_and_a_bundle_the_sdk_runs(finished_run):
    run, summary = finished_run
    assert [s["stage"] for s in summary["stages"]] == stage_names()
    assert set(_status(summary).values()) == {"ran"}
    report = json.loads((run / "stages" / "report" / "report.json").read_text())
    labels = {a["label"] for a in report["artifacts"]}
    assert {"detector tflite fp32", "detector tflite int8", "embedder tflite fp32", "embedder tflite int8"} <= labels
    for a in report["artifacts"]:
        assert a["size_bytes"] > 0
        assert 0.0 <= a["metrics"]["ap" if a["role"] == "detector" else "accuracy"] <= 1.0
    if HAVE_QNN:
        assert {"detector qnn-htp w8a8 SM8650", "embedder qnn-htp w8a8 SM8650"} <= labels
        contexts = [c for role in ("detector", "embedder") for c in report["hexagon"][role]["contexts"]]
        assert all(c["nodes_on_htp"] == c["nodes_total"] > 0 for c in contexts)
    ship = {p["profile"]: p for p in report["ship"]}
    assert {"host", "galaxy-s24", "pixel-8"} <= set(ship)
    assert ship["galaxy-s24"]["compute_unit"] == "npu" and ("QNN context for SM8650" in ship["galaxy-s24"]["runtime"]
                                                           or not HAVE_QNN)
    markdown = (run / "stages" / "report" / "report.md").read_text()
    for heading in ("What to ship to which device", "Accuracy of every artifact", "Qualcomm Hexagon", "Latency",
                    "Training", "Data", "Stage timings"):
        assert f"## {heading}" in markdown
    for png in ("accuracy.png", "bench.png", "detector_train.png", "train_detector.png"):
        assert (run / "stages" / "report" / png).read_bytes()[:4] == b"\x89PNG"

    from edgeface import FaceAnalyzer
    from edgeface.data import load_detection

    image = load_detection("synthetic:1:seed=11")[0].image
    analyzer = FaceAnalyzer.create_from_bundle(summary["bundle"])
    faces = analyzer.analyze(image)
    assert isinstance(faces, list)
    chip = analyzer.embed_chips(load_detection("synthetic:1:seed=11")[0].image[None, :64, :64])
    assert chip.shape == (1, 32)
    if HAVE_QNN:  # in a child process: TensorFlow, loaded later in this one, crashed after the HTP simulator
        code = ("import sys; from edgeface import FaceAnalyzer; from edgeface.data import load_detection; "
                "htp = FaceAnalyzer.create_from_bundle(sys.argv[1], soc='SM8650'); "
                "print(htp.embed_chips(load_detection('synthetic:1:seed=11')[0].image[None, :64, :64]).shape)")
        child = subprocess.run([sys.executable, "-c", code, summary["bundle"]], capture_output=True, text=True,
                               timeout=600)
        assert child.returncode == 0 and child.stdout.strip().endswith("(1, 32)"), child.stderr[-3000:]


@pytest.mark.slow
def test_rerun_skips_fresh_stages_and_from_or_a_config_change_recomputes_downstream(finished_run, tiny_config,
                                                                                   tmp_path):
    run, first = finished_run
    digest = _bundle_digest(Path(first["bundle"]))
    again = _run(tiny_config, run)
    assert set(_status(again).values()) == {"cached"}
    restarted = _run(tiny_config, run, "--from", "bench")
    assert [s for s, status in _status(restarted).items() if status == "ran"] == ["bench", "report"]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**TINY, "bench": {**TINY["bench"], "runs": 4}}))
    after = _run(changed, run)
    assert [s for s, status in _status(after).items() if status == "ran"] == ["bench", "report"]
    assert _bundle_digest(Path(after["bundle"])) == digest


def _trained_weights(run: Path, stage: str) -> dict:
    """Every variable of a training stage's last checkpoint."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(str(run / "stages" / stage / "run" / "checkpoints"))
    return {name: tf.train.load_variable(path, name) for name, _ in tf.train.list_variables(path)}


@pytest.mark.slow
def test_run_killed_mid_training_resumes_and_matches_an_uninterrupted_run(finished_run, tiny_config, tmp_path):
    reference, _ = finished_run
    out = tmp_path / "killed"
    proc = subprocess.Popen(_pipeline_cmd(tiny_config, out, "--until", "train_detector"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = out / "stages" / "train_detector.partial" / "run" / "checkpoints" / "ckpt-1.index"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "the run ended before its first checkpoint"
    assert not (out / "stages" / "train_detector").exists(), "killed too late: the stage had finished"
    assert (out / "stages" / "data" / "stage.json").exists()

    resumed = _run(tiny_config, out, "--until", "train_detector")
    assert _status(resumed) == {"data": "cached", "train_detector": "resumed"}
    assert resumed["report"] is None and resumed["bundle"] is None
    history = json.loads((out / "stages" / "train_detector" / "stage.json").read_text())["summary"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    weights, expected = _trained_weights(out, "train_detector"), _trained_weights(reference, "train_detector")
    assert weights.keys() == expected.keys() and len(weights) > 10
    assert all(np.array_equal(weights[k], expected[k]) for k in expected)


def test_bench_stage_measures_the_host_estimates_profiles_and_profiles_on_hub_when_asked(fixture_bundle, tmp_path,
                                                                                          monkeypatch):
    """The bench stage on a fixture bundle, AI Hub replaced by a recorder (tests/test_hub.py
    tests the client itself against a stand-in of the service)."""
    import shutil
    import types

    from edgeface.bench.result import BenchResult
    from edgeface.pipeline.stages import StageContext, run_bench

    calls = []

    def profile_on_hub(model_path, device_name, **options):
        calls.append((Path(model_path).name, device_name))
        return BenchResult(model=str(model_path), backend="hub", device=device_name, runtime="tflite",
                           compute_unit="npu", profile=options.get("profile"), median_ms=0.5, runs=100)

    hub = types.ModuleType("edgeface.hub.profile")
    hub.profile_on_hub = profile_on_hub
    monkeypatch.setitem(sys.modules, "edgeface.hub.profile", hub)
    shutil.copytree(fixture_bundle("blob_blazeface"), tmp_path / "bundle_stage" / "bundle")
    config = parse_config({"bench": {"profiles": ["galaxy-s24"], "runs": 2, "hub": True}})
    work = tmp_path / "bench"
    work.mkdir()
    summary = run_bench(StageContext(config, work, False, {"bundle": tmp_path / "bundle_stage"}, {}, lambda m: None,
                                     False))
    results = summary["document"]["results"]
    assert {r["backend"] for r in results} == {"host", "estimate", "hub"}
    assert {(r["backend"], r["profile"]) for r in results if r["backend"] != "host"} == {
        ("estimate", "galaxy-s24"), ("hub", "galaxy-s24")}
    assert calls == [("detector.tflite", "Samsung Galaxy S24"), ("embedder.tflite", "Samsung Galaxy S24")]
    assert {c["backend"] for c in summary["document"]["budgets"]} == {"host", "estimate", "hub"}
    assert {"bench.json", "bench.md"} <= set(summary["files"])


def test_bundle_stage_ships_the_chosen_models_with_their_hexagon_targets_and_training(fixture_bundle, tmp_path):
    """run_bundle on stand-in stage records: each role's chosen TFLite model, the compile
    stage's targets for it, and the training info of its conversion bundle."""
    from edgeface.bundle import load_bundle, write_bundle
    from edgeface.pipeline.stages import StageContext, run_bundle

    def part(role, source, extra_files=None, **top):
        data = json.loads((fixture_bundle(source) / "manifest.json").read_text())
        data["models"] = {role: data["models"][role]}
        entry = data["models"][role]
        files = {entry["file"]: (fixture_bundle(source) / entry["file"]).read_bytes(), **(extra_files or {})}
        return {**data, **top}, files

    convert, compile_ = tmp_path / "convert", tmp_path / "compile"
    for role, source in (("detector", "blob_detector_only"), ("embedder", "blob_blazeface")):
        write_bundle(convert / role, *part(role, source, training={"arch": f"{role}-arch"}))
    manifest, files = part("embedder", "blob_blazeface", {"qnn/SM8650/e.onnx": b"context"})
    manifest["models"]["embedder"]["targets"] = {"SM8650": {
        "file": "qnn/SM8650/e.onnx", "format": "onnx", "accelerator": "qnn-htp", "precision": "w8a8",
        "htp_arch": 75, "soc_model": 57}}
    write_bundle(compile_ / "embedder", manifest, files)
    rows = [{"role": role, "runtime": "tflite", "precision": "fp32", "size_bytes": 1, "gate_failures": [],
             "metrics": {"ap": 0.9, "accuracy": 0.9}} for role in ("detector", "embedder")]
    records = {"evaluate": {"artifacts": rows},
               "convert": {role: {"artifacts": {"fp32": {"bundle": role}}} for role in ("detector", "embedder")},
               "compile": {"embedder": {"bundle": "embedder", "targets": {"SM8650": "w8a8"}}}}
    config = parse_config({"name": "shipped"})
    work = tmp_path / "bundle_stage"
    work.mkdir()
    run_bundle(StageContext(config, work, False, {"convert": convert, "compile": compile_}, records,
                            lambda m: None, False))
    shipped = load_bundle(work / "bundle")
    assert shipped.manifest.name == "shipped"
    assert set(shipped.manifest.embedder.targets) == {"SM8650"} and not shipped.manifest.detector.targets
    assert shipped.read_model(shipped.manifest.embedder.targets["SM8650"]) == b"context"
    assert shipped.manifest.extra["training"] == {"detector": {"arch": "detector-arch"},
                                                  "embedder": {"arch": "embedder-arch"}}
    assert shipped.manifest.detector == load_bundle(convert / "detector").manifest.detector
