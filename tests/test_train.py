"""Training: target encoding against the SDK's decoder, losses, short runs on synthetic data
(loss falls, detection AP / verification accuracy far above chance on held-out data),
resume, export to bundles the SDK runs, and the ``edgeface train`` / ``edgeface eval``
command line.

The two training runs are module fixtures shared by several tests; each is bounded to
about two minutes on two busy cores."""

import json
import time

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("cv2")

from typer.testing import CliRunner  # noqa: E402

from edgeface.cli.app import app  # noqa: E402

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------- encoding, losses

def _decoder(input_size=128):
    from edgeface.decoders import OutputInfo, parse_decoder
    from edgeface.cards.presets import TRAINED_PRESETS, preset_name
    from edgeface.schema import Fields

    fields = {**TRAINED_PRESETS[preset_name(input_size)]["decoder"], "outputs": {"boxes": 0, "scores": 1}}
    decoder = parse_decoder(Fields(fields, "decoder"), input_size, input_size)
    decoder.bind([OutputInfo("boxes", (1, 896, 14)), OutputInfo("scores", (1, 896, 1))])
    return decoder


@pytest.mark.parametrize("size", [128, 256])
def test_targets_decode_back_to_the_ground_truth_through_the_sdk_decoder(size):
    """assign_targets + to_raw is the exact inverse of the SDK's SSD decoder with the
    manifest the export writes: every positive anchor decodes to its face."""
    from edgeface.train.anchors import anchor_set, assign_targets, to_raw

    anchors = anchor_set(size)
    boxes = np.array([[[0.10, 0.20, 0.30, 0.45], [0.50, 0.40, 0.95, 0.98], [0, 0, 0, 0]]], np.float32)
    kps = np.random.default_rng(0).uniform(0, 1, (1, 3, 5, 2)).astype(np.float32)
    kps[0, 1] = np.nan  # face 1 has no keypoints
    out = assign_targets(anchors, boxes, kps, np.array([[1, 0, 0]], np.float32), np.array([[1, 1, 0]], np.float32))
    labels = out["labels"].numpy()[0]
    assert (labels > 0).sum() >= 2 and (labels == 0).sum() > 600
    t = np.concatenate([out["box_targets"].numpy()[0], out["keypoint_targets"].numpy()[0].reshape(896, 10)], 1)
    raw = to_raw(anchors, t)[None]
    scores = np.where(labels > 0, 20.0, -20.0)[None, :, None]
    found = _decoder(size).decode([raw, scores], 0.5)
    assert len(found) == (labels > 0).sum()
    weights = out["keypoint_weights"].numpy()[0][labels > 0]
    for box, points, has_kp in zip(found.boxes, found.keypoints, weights):
        face = int(np.argmin(np.abs(boxes[0, :2] - box).sum(1)))
        np.testing.assert_allclose(box, boxes[0, face], atol=1e-5)
        if has_kp:
            assert face == 0
            np.testing.assert_allclose(points, kps[0, 0], atol=1e-5)
        else:
            assert face == 1


def test_folded_model_emits_the_decoders_units():
    from edgeface.models import create_model
    from edgeface.train.anchors import anchor_set, fold_regression_scale, regression_factors

    anchors = anchor_set(128)
    model = create_model("blazeface", num_keypoints=5)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32)
    before = np.asarray(model(x)[0])
    fold_regression_scale(model, anchors)
    after = np.asarray(model(x)[0])
    np.testing.assert_allclose(after, before * regression_factors(anchors, 14), rtol=1e-4, atol=1e-3)


def test_losses_by_hand():
    import tensorflow as tf

    from edgeface.train import losses as L

    # focal: one positive at logit 0 (p = .5): 0.25 * 0.5^2 * ln 2; ignored anchors add nothing
    f = L.focal_loss(tf.constant([[0.0, 5.0]]), tf.constant([[1.0, -1.0]]))
    assert float(f) == pytest.approx(0.25 * 0.25 * np.log(2), rel=1e-5)
    # OHEM: 1 positive, 3 negatives kept of 5 (the hardest: highest logits)
    logits = tf.constant([[0.0, 4.0, 3.0, 2.0, -5.0, -6.0]])
    labels = tf.constant([[1.0, 0, 0, 0, 0, 0]])
    o = L.ohem_loss(logits, labels, negative_ratio=3, min_negatives=1)
    softplus = np.log1p(np.exp([4.0, 3.0, 2.0]))
    assert float(o) == pytest.approx(np.log(2) + softplus.sum(), rel=1e-5)
    # GIoU: identical boxes 1; disjoint unit boxes 2 apart: IoU 0, hull 3 x 1 -> -1/3
    g = L.giou(tf.constant([[0.0, 0, 1, 1], [0, 0, 1, 1]]), tf.constant([[0.0, 0, 1, 1], [2, 0, 3, 1]]))
    assert g.numpy() == pytest.approx([1.0, -1 / 3])
    # margins: cos 0.5 on the true class; ArcFace cos(60 + 28.6 deg); CosFace 0.5 - 0.35
    cos = tf.constant([[0.5, 0.1]])
    arc = L.margin_logits(cos, tf.constant([0]), "arcface", 1.0, 0.5).numpy()
    assert arc[0] == pytest.approx([np.cos(np.arccos(0.5) + 0.5), 0.1], rel=1e-5)
    cf = L.margin_logits(cos, tf.constant([0]), "cosface", 2.0, 0.35).numpy()
    assert cf[0] == pytest.approx([2 * 0.15, 0.2], rel=1e-5)


# ---------------------------------------------------------------- training runs

DETECTOR = dict(arch="blazeface", data="synthetic:320", batch=32, epochs=2, steps_per_epoch=30, lr=4e-3,
                deterministic=False)
RECOGNIZER = dict(arch="edgeface_xs_int8", data="synthetic:40:per_identity=12", input_size=64, embedding_size=64,
                  batch=32, epochs=3, steps_per_epoch=30, lr=2e-3, val_pairs="synthetic:30:identities=60",
                  far=1e-2, deterministic=False)


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory):
    from edgeface.train import DetectorConfig, train_detector

    out = tmp_path_factory.mktemp("train") / "det"
    started = time.perf_counter()
    result = train_detector(DetectorConfig(out=out, **DETECTOR), progress=False)
    print(f"\ndetector run: {time.perf_counter() - started:.1f} s; export stages {result.export.seconds}")
    return result


@pytest.fixture(scope="module")
def recognizer_run(tmp_path_factory):
    from edgeface.train import RecognizerConfig, train_recognizer

    out = tmp_path_factory.mktemp("train") / "rec"
    started = time.perf_counter()
    result = train_recognizer(RecognizerConfig(out=out, export_int8=True, **RECOGNIZER), progress=False)
    print(f"\nrecognizer run: {time.perf_counter() - started:.1f} s; export stages {result.export.seconds}")
    return result


def _loss_falls(result, ratio=0.8):
    steps = result.steps
    k = max(5, len(steps) // 6)
    assert np.mean(steps[-k:]) < ratio * np.mean(steps[:k]), (steps[:k], steps[-k:])
    assert result.history[-1]["loss"] < result.history[0]["loss"]


@pytest.mark.slow
def test_detector_learns_and_its_bundle_detects(detector_run):
    from edgeface.analyzer import FaceAnalyzer
    from edgeface.data import load_detection
    from edgeface.eval.metrics import evaluate_detections

    result = detector_run
    _loss_falls(result)
    run = result.run_dir
    for name in ("config.json", "metrics.csv", "metrics.json", "loss.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "config.json").read_text())["arch"] == "blazeface"
    assert len((run / "metrics.csv").read_text().splitlines()) == 3
    export = result.export
    assert export.keras.is_file() and export.saved_model is not None and (export.saved_model / "saved_model.pb").is_file()
    assert "fully delegated" in export.report.read_text()  # batch-1 export: one XNNPACK partition
    # AP through the SDK on held-out images, against random boxes (chance, about 0.003)
    ap = export.evaluations["fp32"]["subsets"]["all"]["ap"]
    val = load_detection("synthetic:64:seed=7919")
    samples = [val[i] for i in range(len(val))]
    rng = np.random.default_rng(0)
    chance = []
    for s in samples:
        size = np.exp(rng.uniform(np.log(8), np.log(96), 100))
        c = rng.uniform(0, 128, (100, 2))
        chance.append((np.concatenate([c - size[:, None] / 2, c + size[:, None] / 2], 1), rng.uniform(size=100), None))
    chance_ap = evaluate_detections(chance, [(s.boxes, None) for s in samples]).ap
    print(f"\ndetector AP {ap:.4f} after {result.history[-1]['step']} steps (chance {chance_ap:.4f})")
    assert ap >= 0.04 and ap > 10 * chance_ap
    # the bundle: trained decoder settings, five named keypoints, the SDK finds faces
    bundle = export.bundles["fp32"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    detector = manifest["models"]["detector"]
    assert detector["decoder"]["anchors"]["strides"] == [8, 16, 16, 16]
    assert detector["keypoint_names"] == ["right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"]
    assert manifest["training"]["arch"] == "blazeface"
    analyzer = FaceAnalyzer.create_from_bundle(bundle, score_threshold=0.3)
    found = sum(len(analyzer.detect(s.image)) for s in samples[:16])
    assert found > 0
    faces = analyzer.detect(samples[0].image)
    assert all(len(f.keypoints) == 5 for f in faces)


@pytest.mark.slow
def test_detector_resume_continues_from_the_checkpoint(detector_run):
    from edgeface.train import DetectorConfig, TrainError, train_detector

    run = detector_run.run_dir
    # without --resume the run directory is protected
    with pytest.raises(TrainError, match="--resume"):
        train_detector(DetectorConfig(out=run, **DETECTOR), progress=False)
    before = json.loads((run / "metrics.json").read_text())["epochs"]
    started = time.perf_counter()
    resumed = train_detector(DetectorConfig(out=run, resume=True, epochs=3, export=False, arch="blazeface"),
                             progress=False)
    print(f"\nresume (1 epoch): {time.perf_counter() - started:.1f} s")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[:2] == before
    assert resumed.history[-1]["step"] == 90  # the optimizer's step counter came back too
    assert resumed.config.data == DETECTOR["data"]  # the stored configuration wins
    assert len(resumed.steps) == 90
    assert (run / "checkpoints" / "ckpt-3.index").is_file()


@pytest.mark.slow
def test_a_run_killed_between_history_and_checkpoint_resumes_with_every_epoch(tmp_path, monkeypatch):
    """The pipeline's SIGKILL test found it by chance: a kill after an epoch's checkpoint but
    before its history was written lost that epoch's row on resume. The history is now
    written first; a kill before the checkpoint makes the resume redo the epoch, dropping
    the row (and step losses) it had recorded ahead."""
    from edgeface.train import DetectorConfig, train_detector
    from edgeface.train import trainer

    config = dict(DETECTOR, data="synthetic:64", batch=8, epochs=3, steps_per_epoch=3, export=False)
    saved = trainer._save_checkpoint

    def killed_at_epoch_2(state, epoch):
        if epoch == 1:
            raise KeyboardInterrupt  # as a SIGKILL would land: history of epoch 2 written, no checkpoint
        saved(state, epoch)

    monkeypatch.setattr(trainer, "_save_checkpoint", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_detector(DetectorConfig(out=tmp_path / "run", **config), progress=False)
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [h["epoch"] for h in written["epochs"]] == [1, 2] and not (tmp_path / "run" / "checkpoints" / "ckpt-2.index").exists()
    monkeypatch.setattr(trainer, "_save_checkpoint", saved)
    resumed = train_detector(DetectorConfig(out=tmp_path / "run", resume=True, epochs=3, export=False,
                                            arch="blazeface"), progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[0] == written["epochs"][0]
    assert len(resumed.steps) == 9  # epoch 2's step losses once, not twice


@pytest.mark.slow
def test_recognizer_learns_verifies_and_calibrates(recognizer_run):
    from edgeface.analyzer import FaceAnalyzer
    from edgeface.data import load_pairs

    result = recognizer_run
    _loss_falls(result, 0.7)
    export = result.export
    evaluation = export.evaluations["fp32"]
    print(f"\nverification accuracy {evaluation['accuracy']:.4f} on held-out identities after "
          f"{result.history[-1]['step']} steps; int8 {export.evaluations['int8']['accuracy']:.4f}")
    assert evaluation["accuracy"] >= 0.75  # chance: 0.5 (half the pairs are the same person)
    for precision in ("fp32", "int8"):
        bundle = export.bundles[precision]
        embedder = json.loads((bundle / "manifest.json").read_text())["models"]["embedder"]
        assert embedder["verify_far"] == pytest.approx(1e-2)
        assert embedder["verify_threshold"] == pytest.approx(export.evaluations[precision]["calibration"]["threshold"])
        assert embedder["alignment"]["template"]["right_eye"] == pytest.approx([38.2946 * 64 / 112, 51.6963 * 64 / 112])
        analyzer = FaceAnalyzer.create_from_bundle(bundle)
        pair = load_pairs("synthetic:2:identities=20")[0]
        e = analyzer.embed_chips(np.stack([pair.a, pair.b]))
        assert e.shape == (2, 64) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)
    assert (export.keras.parent / "eval_fp32" / "roc.png").is_file()
    report = export.report.read_text()
    assert "int8" in report and "embedding cos" in report


# ------------------------------------------------------------------------- CLI

def test_cli_user_errors_exit_2(tmp_path):
    r = cli("train", "detector", "--arch", "mobilefacenet", "--out", tmp_path / "a")
    assert r.exit_code == 2 and "--arch mobilefacenet is an embedder, not a detector" in r.output
    r = cli("train", "recognizer", "--arch", "nope", "--out", tmp_path / "b")
    assert r.exit_code == 2 and "unknown architecture 'nope'" in r.output
    r = cli("train", "detector", "--resume", "--out", tmp_path / "empty")
    assert r.exit_code == 2 and "--resume" in r.output
    r = cli("train", "detector", "--loss", "hinge", "--out", tmp_path / "c", "--data", "synthetic:4")
    assert r.exit_code == 2 and "--loss hinge" in r.output
    r = cli("eval", tmp_path)
    assert r.exit_code == 2 and "--data" in r.output
    r = cli("eval", tmp_path / "missing", "--data", "synthetic:2")
    assert r.exit_code == 2 and "no such bundle" in r.output


# config.json files as edgeface wrote them before the configs were dataclasses with
# documented fields: a run saved then must still resume.
SAVED_CONFIGS = [
    {"arch": "blazeface", "data": "synthetic", "out": "runs/train", "input_size": 128, "epochs": 3,
     "steps_per_epoch": None, "batch": 32, "lr": 0.002, "weight_decay": 0.0001, "optimizer": "adamw",
     "warmup_steps": None, "augment": True, "seed": 0, "deterministic": True, "mixed_precision": "auto",
     "val_data": None, "export": True, "export_int8": False, "resume": False, "data_options": {}, "loss": "focal",
     "box_loss": "smooth_l1", "box_weight": 1.0, "keypoint_weight": 1.0, "max_boxes": 64, "pos_iou": 0.35,
     "neg_iou": 0.25, "task": "detector"},
    {"arch": "mobilefacenet", "data": "synthetic", "out": "runs/train", "input_size": 112, "epochs": 10,
     "steps_per_epoch": None, "batch": 32, "lr": 0.001, "weight_decay": 0.0005, "optimizer": "adamw",
     "warmup_steps": None, "augment": True, "seed": 0, "deterministic": True, "mixed_precision": "auto",
     "val_data": None, "export": True, "export_int8": False, "resume": False, "data_options": {},
     "loss": "arcface", "embedding_size": 128, "margin": None, "scale": 32.0, "val_pairs": None, "far": 0.001,
     "task": "recognizer"},
]


@pytest.mark.parametrize("saved", SAVED_CONFIGS, ids=["detector", "recognizer"])
def test_a_saved_config_reads_back_as_it_was_written(tmp_path, saved):
    from edgeface.train.config import load_config

    (tmp_path / "config.json").write_text(json.dumps(saved))
    config = load_config(tmp_path)
    assert config.task == saved["task"] and config.to_dict() == saved


@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "task: expected detector or recognizer, got None"),
    ('{"task": "segmenter"}', "task: expected detector or recognizer, got 'segmenter'"),
    (json.dumps({**SAVED_CONFIGS[0], "epochs": "three"}), "epochs: expected an integer, got 'three'"),
    (json.dumps({**SAVED_CONFIGS[0], "batch": 0}), "batch: must be at least 1 and at most 4,096, got 0"),
    (json.dumps({**SAVED_CONFIGS[0], "lr": None}), "lr: expected a finite number, got None"),
    (json.dumps({**SAVED_CONFIGS[0], "arch": None}), "arch: expected a string, got None"),
    (json.dumps({**SAVED_CONFIGS[0], "epoch": 3}), "epoch: unknown field"),
])
def test_resume_refuses_a_broken_config_json_by_field(tmp_path, content, problem):
    (tmp_path / "config.json").write_text(content)
    r = cli("train", "detector", "--resume", "--out", tmp_path)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert f"--resume: {tmp_path / 'config.json'}: {problem}" in " ".join(r.output.split()), r.output


@pytest.mark.slow
def test_cli_eval_detection_and_verification(detector_run, recognizer_run, tmp_path):
    bundle = detector_run.export.bundles["fp32"]
    r = cli("eval", bundle, "--data", "synthetic:8:seed=5", "--json", "--report", tmp_path / "det")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)["detection"]
    assert summary["subsets"]["all"]["images"] == 8 and 0 <= summary["subsets"]["all"]["ap"] <= 1
    assert (tmp_path / "det" / "precision_recall.png").is_file()
    rec = recognizer_run.export.bundles["int8"]
    r = cli("eval", rec, "--pairs", "synthetic:10:identities=20", "--far", "0.05", "--calibrate", "--json",
            "--report", tmp_path / "rec")
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)["verification"]
    assert v["pairs"] == 100 and v["folds"] == 10 and v["calibrated"]
    assert {t["far"] for t in v["tar_at_far"]} == {1e-3, 1e-4} and not v["tar_at_far"][0]["reliable"]
    manifest = json.loads((rec / "manifest.json").read_text())["models"]["embedder"]
    assert manifest["verify_far"] == 0.05 and manifest["verify_threshold"] == pytest.approx(v["calibration"]["threshold"])
    assert (tmp_path / "rec" / "roc.png").is_file()


@pytest.mark.slow
def test_cli_trains_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "run"
    args = ["train", "detector", "--data", "synthetic:16", "--epochs", "1", "--steps-per-epoch", "2", "--batch", "4",
            "--no-export", "--out", out]
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["epochs"] == 1 and summary["export"] is None
    r = cli(*args)
    assert r.exit_code == 2 and "already there" in r.output


@pytest.mark.slow
def test_trains_from_files_csv_and_identity_folders(tmp_path):
    """The readers' formats go through the same training: a detection CSV (5 % held out
    for validation) and an identity-folder root."""
    from PIL import Image

    from edgeface.data import SyntheticFaces
    from edgeface.train import DetectorConfig, RecognizerConfig, train_detector, train_recognizer

    gen = SyntheticFaces(3)
    rows = ["image,x1,y1,x2,y2," + ",".join(f"k{i}{a}" for i in range(5) for a in "xy")]
    for i, sample in enumerate(gen.detection_set(24, size=128)):
        Image.fromarray(sample.image).save(tmp_path / f"{i}.png")
        for box, kps in zip(sample.boxes, sample.keypoints):
            rows.append(",".join([f"{i}.png", *(f"{v:.2f}" for v in box), *(f"{v:.2f}" for v in kps.ravel())]))
        if len(sample.boxes) == 0:
            rows.append(f"{i}.png,,,,")
    (tmp_path / "faces.csv").write_text("\n".join(rows) + "\n")
    det = train_detector(DetectorConfig(data=str(tmp_path / "faces.csv"), out=tmp_path / "det", epochs=1,
                                        steps_per_epoch=2, batch=4, export=False, deterministic=False), progress=False)
    assert det.history[0]["step"] == 2 and "val_ap" in det.history[0]  # validated on the held-out 5 %
    root = tmp_path / "people"
    for identity, name in enumerate(["ada", "bob", "cyd"]):
        (root / name).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(gen.face_crop(identity, k)).save(root / name / f"{k}.png")
    rec = train_recognizer(RecognizerConfig(arch="edgeface_xs_int8", data=str(root), out=tmp_path / "rec",
                                            input_size=64, embedding_size=32, epochs=1, steps_per_epoch=2, batch=4,
                                            export=False, deterministic=False), progress=False)
    assert rec.history[0]["step"] == 2 and "val_acc" not in rec.history[0]  # no pairs given: no validation


MIRRORED = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import edgeface.train.trainer as trainer
from edgeface.train import DetectorConfig, train_detector

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
trainer.choose_strategy = lambda: strategy
result = train_detector(DetectorConfig(arch="blazeface", data="synthetic:32", batch=4, epochs=2, steps_per_epoch=4,
                                       lr=4e-3, out=sys.argv[1], export=False, val_data="none"), progress=False)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "history": result.history, "steps": result.steps}))
"""


@pytest.mark.slow
def test_training_runs_under_a_two_replica_mirrored_strategy(tmp_path):
    """The tf.distribute path (per-replica loss scaling, distributed dataset, reduced
    metrics) with two replicas: two logical CPU devices stand in for two GPUs."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert [h["epoch"] for h in out["history"]] == [1, 2] and len(out["steps"]) == 8
    assert all(np.isfinite(out["steps"])) and out["history"][0]["images_per_s"] > 0
    # a global batch of 2 x 4 images per step
    assert out["history"][-1]["step"] == 8
    assert (tmp_path / "run" / "checkpoints" / "checkpoint").is_file()


def test_progress_note_shows_a_bracketed_path_and_control_characters_literally(capsys):
    from edgeface.train.trainer import _Progress

    _Progress(enabled=True, epochs=1, steps=1).note("exported runs/[v2]/bundle\x1b[31m")
    shown = capsys.readouterr().err
    assert "runs/[v2]/bundle" in shown  # Rich markup would have eaten "[v2]"
    assert "\\x1b[31m" in shown and "\x1b[31m" not in shown
