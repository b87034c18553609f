"""Training from every data format the readers take, each run exported to a bundle the SDK
runs: a detector from a WIDER FACE ``*_bbx_gt.txt``, a RetinaFace ``label.txt`` and a CSV
(synthetic images saved as files, so the boxes are the drawn faces'), a recognizer from an
identity-folder root validated on an LFW-style ``pairs.txt``; then that recognizer compiled
for the Hexagon HTP of SM8650 (w8a8) and evaluated in the HTP simulator with
``edgeface eval --soc``.

The runs are as short as a run can be (a few steps, tiny batches): they prove the formats
reach training and export, not that anything is learned (tests/test_train.py does that).
The fixed costs dominate (measured on the two shared development cores, load 6-9): a
detector's export 35-45 s (mostly the conversion's fidelity check), the recognizer's run
70 s, the Hexagon compile 45-65 s and its simulator evaluation 20 s; 6 minutes in all."""

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("cv2")

from edgeface.data import SyntheticFaces, load_detection  # noqa: E402
from tests.test_hexagon import qnn  # noqa: E402  (skipped without onnxruntime-qnn)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

IMAGES = "images/0--Synthetic"  # relative to the annotation files: where each reader looks by default


@pytest.fixture(scope="module")
def detection_files(tmp_path_factory):
    """12 synthetic 128x128 images saved as PNG under ``root/images/0--Synthetic``, and
    their faces: [(relative name, boxes x1y1x2y2, keypoints)]."""
    from PIL import Image

    root = tmp_path_factory.mktemp("formats")
    (root / IMAGES).mkdir(parents=True)
    samples = []
    for i, sample in enumerate(SyntheticFaces(11).detection_set(12, size=128)):
        name = f"0--Synthetic/{i}.png"
        Image.fromarray(sample.image).save(root / "images" / name)
        samples.append((name, sample.boxes, sample.keypoints))
    return root, samples


def _xywh(box) -> str:
    x1, y1, x2, y2 = box
    return f"{x1:.2f} {y1:.2f} {x2 - x1:.2f} {y2 - y1:.2f}"


def _wider(root: Path, samples) -> Path:
    lines = []
    for name, boxes, _ in samples:
        lines += [name, str(len(boxes))]
        lines += [f"{_xywh(b)} 0 0 0 0 0 0" for b in boxes] or ["0 0 0 0 0 0 0 0 0 0"]
    path = root / "wider_face_train_bbx_gt.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _retinaface(root: Path, samples) -> Path:
    lines = []
    for name, boxes, keypoints in samples:
        lines.append(f"# {name}")
        for box, points in zip(boxes, keypoints):
            landmarks = " ".join(f"{x:.2f} {y:.2f} 0.0" for x, y in points)
            lines.append(f"{_xywh(box)} {landmarks} 0.9")
    path = root / "label.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _csv(root: Path, samples) -> Path:
    rows = ["image,x1,y1,x2,y2," + ",".join(f"k{i}{axis}" for i in range(5) for axis in "xy")]
    for name, boxes, keypoints in samples:
        image = f"images/{name}"
        rows += [",".join([image, *(f"{v:.2f}" for v in box), *(f"{v:.2f}" for v in points.ravel())])
                 for box, points in zip(boxes, keypoints)] or [f"{image},,,,"]
    path = root / "faces.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _finite(result) -> None:
    assert result.steps and all(math.isfinite(loss) for loss in result.steps)
    assert math.isfinite(result.history[-1]["loss"])


@pytest.mark.parametrize("writer, fmt", [(_wider, "wider"), (_retinaface, "retinaface"), (_csv, "csv")])
def test_detector_trains_from_each_file_format_and_one_exports(detection_files, tmp_path, writer, fmt):
    """Each format trains; the CSV run also exports (the export does not depend on the
    format, and costs ~40 s a run)."""
    from edgeface import FaceAnalyzer
    from edgeface.train import DetectorConfig, train_detector

    root, samples = detection_files
    annotation = writer(root, samples)
    dataset = load_detection(annotation)  # read back: the file holds the drawn faces
    assert dataset.format == fmt and len(dataset) == len(samples)
    for i, (_, boxes, keypoints) in enumerate(samples):
        np.testing.assert_allclose(dataset[i].boxes, boxes, atol=0.01)
        if fmt != "wider":  # WIDER FACE has no keypoints
            np.testing.assert_allclose(dataset[i].keypoints, keypoints, atol=0.01)
    started = time.perf_counter()
    result = train_detector(DetectorConfig(data=str(annotation), out=tmp_path / "run", epochs=1, steps_per_epoch=2,
                                           batch=4, deterministic=False, export=fmt == "csv"), progress=False)
    print(f"\n{fmt}: {time.perf_counter() - started:.1f} s")
    _finite(result)
    assert result.history[-1]["step"] == 2
    if fmt != "csv":
        return
    bundle = result.export.bundles["fp32"]
    assert json.loads((bundle / "manifest.json").read_text())["training"]["data"] == str(annotation)
    faces = FaceAnalyzer.create_from_bundle(bundle).detect(dataset[0].image)
    assert isinstance(faces, list) and all(len(face.keypoints) == 5 for face in faces)


# ---------------------------------------------------------------- recognizer

SIZE = 32  # the recognizer's input: small, to keep training and export short
FAR = 0.1


def _lfw_pairs(root: Path, gen) -> Path:
    """10 folds of one same-person and one different-person pair, LFW layout
    (``lfw/<name>/<name>_0001.png``), on identities the training set does not have."""
    from PIL import Image

    lines = ["10 1"]
    for fold in range(10):
        same, other = f"Person_{fold}a", f"Person_{fold}b"
        for person, images, identity in ((same, 2, 1000 + 2 * fold), (other, 1, 1001 + 2 * fold)):
            (root / "lfw" / person).mkdir(parents=True)
            for k in range(images):
                Image.fromarray(gen.face_crop(identity, k, size=SIZE)).save(
                    root / "lfw" / person / f"{person}_{k + 1:04d}.png")
        lines += [f"{same} 1 2", f"{same} 1 {other} 1"]
    path = root / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def recognizer_run(tmp_path_factory):
    """edgeface_xs_int8 at 32x32 trained on ``people/<identity>/<image>`` (8 identities x
    6 crops), validated and calibrated on an LFW pairs.txt."""
    from PIL import Image

    from edgeface.train import RecognizerConfig, train_recognizer

    root = tmp_path_factory.mktemp("recognizer")
    gen = SyntheticFaces(5)
    for identity in range(8):
        folder = root / "people" / f"identity_{identity}"
        folder.mkdir(parents=True)
        for k in range(6):
            Image.fromarray(gen.face_crop(identity, k, size=SIZE)).save(folder / f"{k}.png")
    pairs = _lfw_pairs(root, gen)
    started = time.perf_counter()
    result = train_recognizer(RecognizerConfig(
        arch="edgeface_xs_int8", data=str(root / "people"), out=root / "run", input_size=SIZE, embedding_size=32,
        epochs=1, steps_per_epoch=24, batch=16, lr=2e-3, val_pairs=str(pairs), far=FAR, deterministic=False),
        progress=False)
    print(f"\nrecognizer: {time.perf_counter() - started:.1f} s; export stages {result.export.seconds}")
    return result, pairs


def test_recognizer_trains_from_identity_folders_with_lfw_pairs(recognizer_run):
    from edgeface import FaceAnalyzer
    from edgeface.data import load_pairs

    result, pairs = recognizer_run
    _finite(result)
    assert 0 <= result.history[-1]["val_acc"] <= 1  # validated on pairs.txt
    bundle = result.export.bundles["fp32"]
    embedder = json.loads((bundle / "manifest.json").read_text())["models"]["embedder"]
    assert embedder["verify_far"] == pytest.approx(FAR)
    pair = load_pairs(pairs)[0]
    embeddings = FaceAnalyzer.create_from_bundle(bundle).embed_chips(np.stack([pair.a, pair.b]))
    assert embeddings.shape == (2, 32) and np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-4)


@qnn
def test_eval_soc_on_the_trained_recognizer_compiled_for_hexagon(recognizer_run, tmp_path):
    """The trained bundle compiled for SM8650 at w8a8 (``compile_bundle``, its fidelity
    gate passed) and evaluated with ``edgeface eval --soc SM8650`` in the HTP simulator:
    the same figures as the fp32 TFLite bundle, within what 8-bit quantisation moves."""
    from typer.testing import CliRunner

    from edgeface.cli.app import app
    from edgeface.converters.hexagon import compile_bundle

    result, pairs = recognizer_run
    fp32 = result.export.bundles["fp32"]
    started = time.perf_counter()
    hexagon, (compiled,) = compile_bundle(fp32, tmp_path / "hexagon", ["SM8650"], ["w8a8"])
    (artifact,) = compiled.artifacts
    worst = artifact.fidelity.to_dict()["embedder"]["cosine_worst"]
    print(f"\ncompile: {time.perf_counter() - started:.1f} s; worst embedding cosine {worst:.4f} (gate 0.99)")
    assert not artifact.failures and artifact.context.full_offload
    target = json.loads((hexagon / "manifest.json").read_text())["models"]["embedder"]["targets"]["SM8650"]
    assert target["precision"] == "w8a8"

    def evaluate(bundle, *soc):
        r = CliRunner().invoke(app, ["eval", str(bundle), "--pairs", str(pairs), "--far", str(FAR), *soc, "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)["verification"]

    started = time.perf_counter()
    htp = evaluate(hexagon, "--soc", "SM8650")
    print(f"HTP simulator evaluation: {time.perf_counter() - started:.1f} s")
    cpu = evaluate(fp32)
    assert htp["soc"] == "SM8650" and cpu["soc"] is None
    assert (htp["pairs"], htp["folds"], htp["failures"]) == (20, 10, 0)
    print(f"accuracy fp32 {cpu['accuracy']:.3f}, HTP w8a8 {htp['accuracy']:.3f}; threshold at FAR {FAR}: "
          f"{cpu['calibration']['threshold']:.4f}, {htp['calibration']['threshold']:.4f}")
    assert abs(htp["accuracy"] - cpu["accuracy"]) <= 0.1  # 2 of the 20 pairs
    # the scores crowd near 1 after so short a training: the threshold moves far less than 0.02
    assert abs(htp["calibration"]["threshold"] - cpu["calibration"]["threshold"]) <= 0.02
    assert [t["far"] for t in htp["tar_at_far"]] == [t["far"] for t in cpu["tar_at_far"]]
