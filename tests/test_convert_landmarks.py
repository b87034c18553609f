"""A landmark model through the toolchain: MediaPipe's face_landmark.tflite converted again
(``edgeface convert --role landmarks``) with a gate on how far its points move (over the
eye distance) and on its presence logit's decisions, and the converted model dropped into
the face-mesh bundle (``edgeface bundle combine --landmarks``)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeface.bundle import combine, load_bundle
from edgeface.cli.app import app
from edgeface.errors import BundleError
from edgeface.quantization.fidelity import FidelityReport, LandmarkFidelity, landmark_fidelity

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_landmark_error_is_the_mean_point_distance_over_the_eye_distance():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 100, (3, 5, 3))
    ref[:, 0, :2], ref[:, 1, :2] = (20.0, 50.0), (60.0, 50.0)  # eye points 40 px apart
    got = ref.copy()
    got[0, :, 0] += 0.4  # every point of crop 0 moves 0.4 px: 1 % of the eye distance
    got[2, 4, 1] -= 2.0  # one point of crop 2 moves 2 px: 5 %, over 5 points 1 %
    got[:, :, 2] += 9.0  # depth is not judged
    result = landmark_fidelity(ref.reshape(3, -1), got.reshape(3, -1), 5, [0], [1])
    assert result.crops == 3 and result.points == 5
    assert result.error_max == pytest.approx(0.01) and result.error_mean == pytest.approx(0.02 / 3)
    assert result.point_error_max == pytest.approx(0.05)


def test_the_gate_fails_a_landmark_model_whose_points_move_too_far():
    report = FidelityReport(file="m.tflite", precision="int8", size_bytes=1, outputs=[],
                            landmarks=LandmarkFidelity(crops=10, points=468, error_mean=0.012, error_max=0.03,
                                                       point_error_max=0.1))
    (failure,) = report.gate(None, None)
    assert "landmarks: mean error 1.20% of the eye distance > 1.00%" in failure
    assert report.gate(None, None, max_landmark_error=0.02) == []


@pytest.fixture(scope="module")
def mesh_bundle(cache):
    from edgeface.pretrained import fetch_model

    return fetch_model("face-mesh")


@pytest.fixture(scope="module")
def converted_mesh(mesh_bundle, tmp_path_factory):
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("mesh_converted")
    result = run("convert", mesh_bundle / "face_landmark.tflite", "--out", out, "--role", "landmarks",
                 "--family", "face-mesh", "--precision", "fp32,fp16,dynamic,int8", "--max-landmark-error", "0.03",
                 "--json")
    return out, result


@pytest.mark.slow
def test_the_face_mesh_converts_with_its_points_and_presence_judged(converted_mesh):
    out, result = converted_mesh
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["gate"]["max_landmark_error"] == 0.03
    by_precision = {a["precision"]: a for a in report["artifacts"]}
    fp16, dynamic, int8 = (by_precision[p]["fidelity"] for p in ("fp16", "dynamic", "int8"))
    assert fp16["landmarks"]["crops"] == 117 and fp16["landmarks"]["error_mean"] < 1e-4
    assert 0 < dynamic["landmarks"]["error_mean"] < int8["landmarks"]["error_mean"] < 0.03
    assert by_precision["dynamic"]["size_vs_fp32"] < 0.31 and by_precision["int8"]["size_vs_fp32"] < 0.35
    for fidelity in (fp16, dynamic, int8):  # the presence logit on face crops: judged by its decision, none flips
        (presence,) = fidelity["scalars"]
        assert presence["name"] == "conv2d_31" and presence["flips"] == 0
        assert fidelity["coverage"]["undelegated"] == [] and fidelity["coverage"]["delegate_partitions"] == 1
    entry = load_bundle(out / "bundle_int8").manifest.landmarks
    assert entry.points == 468 and entry.points_output == "conv2d_21" and "right_eye" in entry.point_groups


@pytest.mark.slow
def test_a_converted_landmark_model_drops_into_the_face_mesh_bundle(converted_mesh, mesh_bundle, mesh_analyzer,
                                                                     tmp_path):
    from skimage import data

    from edgeface.analyzer import FaceAnalyzer

    out, _ = converted_mesh
    result = run("bundle", "combine", "--detector", mesh_bundle, "--landmarks", out / "bundle_int8",
                 "--out", tmp_path / "mesh_int8", "--json")
    assert result.exit_code == 0, result.output
    combined = load_bundle(tmp_path / "mesh_int8")
    assert combined.manifest.landmarks.file == "face_landmark_int8.tflite"
    assert combined.manifest.detector == load_bundle(mesh_bundle).manifest.detector
    image = data.astronaut()
    ours = FaceAnalyzer.create_from_bundle(combined.location, search="whole").landmarks_arrays(image)
    theirs = mesh_analyzer.landmarks_arrays(image)
    eyes = np.linalg.norm(theirs.centre("right_eye")[0] - theirs.centre("left_eye")[0])
    error = np.linalg.norm(ours.points[0, :, :2] - theirs.points[0, :, :2], axis=1).mean() / eyes
    assert len(ours) == 1 and error < 0.03


def test_combine_takes_a_landmark_model_and_refuses_a_bundle_without_one(fixture_bundle, tmp_path):
    detector = load_bundle(fixture_bundle("blob_detector_only"))
    with pytest.raises(BundleError, match="has no landmark model"):
        combine(detector, None, tmp_path / "x", landmarks=detector)
    with pytest.raises(BundleError, match="give an embedder bundle, a landmarks bundle or both"):
        combine(detector, None, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_cli_combine_needs_something_to_add(fixture_bundle, tmp_path):
    result = run("bundle", "combine", "--detector", fixture_bundle("blob_detector_only"), "--out", tmp_path / "x")
    assert result.exit_code == 2 and "--embedder, --landmarks or both" in result.stderr


@pytest.mark.slow
def test_the_face_mesh_compiles_for_the_htp_with_the_landmark_gate(mesh_bundle, tmp_path):
    """fp16 on the HTP of SM8650, whole graph on the NPU, points checked in the simulator."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnxruntime_qnn")
    result = run("compile", mesh_bundle / "face_landmark.tflite", "--out", tmp_path, "--role", "landmarks",
                 "--family", "face-mesh", "--soc", "SM8650", "--precision", "fp16", "--check-images", "12", "--json")
    assert result.exit_code == 0, result.output
    (context,) = json.loads((tmp_path / "report.json").read_text())["contexts"]
    assert context["full_offload"] and context["passed"] and not context["failures"]
    assert context["fidelity"]["landmarks"]["crops"] == 12 and context["fidelity"]["landmarks"]["error_mean"] < 0.005
    assert load_bundle(tmp_path / "bundle_fp16").manifest.landmarks.points == 468


@pytest.mark.slow
def test_the_bundles_blazeface_converts_again_from_its_tflite(mesh_bundle, tmp_path):
    """The detector beside the mesh, replayed the same way: the same faces at fp16."""
    pytest.importorskip("tensorflow")
    result = run("convert", mesh_bundle / "face_detection_short_range.tflite", "--out", tmp_path, "--role", "detector",
                 "--family", "blazeface-short", "--precision", "fp16", "--min-iou", "0.99", "--json")
    assert result.exit_code == 0, result.output
    (fp16,) = json.loads((tmp_path / "report.json").read_text())["artifacts"]
    detector = fp16["fidelity"]["detector"]
    assert detector["missed"] == detector["extra"] == 0 and detector["min_iou"] > 0.99 and detector["ref_faces"] > 100
