"""Writes tests/conformance/: manifests every edgeface runtime (this Python SDK, the native
one) must accept, or refuse with a given error category at a given field path. Each is a
small edit of a fixture bundle's manifest; index.json lists them. Run from anywhere:
``python scripts/make_conformance.py``."""

import copy
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
root = REPO / "tests" / "conformance"
shutil.rmtree(root / "valid", ignore_errors=True)
shutil.rmtree(root / "invalid", ignore_errors=True)
base = json.loads((REPO / "tests/fixtures/bundles/blob_blazeface/manifest.json").read_text())
base["name"], base["description"] = "conformance-base", "A detector and an embedder with every field set."
scrfd = json.loads((REPO / "tests/fixtures/bundles/blob_scrfd_onnx/manifest.json").read_text())
scrfd["name"], scrfd["description"] = "conformance-scrfd", "An SCRFD detector and an NCHW ONNX embedder."
for m in (base, scrfd):
    m.pop("source", None)
H = "0" * 64
LANDMARKS = {"file": "face_landmark.tflite", "sha256": H, "format": "tflite",
             "input": {"height": 192, "width": 192, "mean": [0, 0, 0], "std": [255, 255, 255], "resize": "stretch"},
             "points": 468, "points_output": "conv2d_21", "presence_output": "conv2d_31", "presence_threshold": 0.5,
             "roi_scale": 1.5, "roi_keypoints": ["right_eye", "left_eye"], "roi_points": [33, 263],
             "point_groups": {"right_eye": [33, 133, 159, 145], "nose_tip": [1]}}
REFINED = {**LANDMARKS, "points": 478, "refinements": [
    {"output": "output_lips", "points": [61, 146, 91]},
    {"output": "output_left_iris", "points": [468, 469, 470, 471, 472], "depth_from": [33, 133]},
    {"output": "output_right_iris", "points": [473, 474, 475, 476, 477], "depth_from": [263, 362]}]}
TARGET = {"file": "qnn/SM8650/detector.onnx", "sha256": H, "format": "onnx", "accelerator": "qnn-htp",
          "precision": "w8a8", "htp_arch": 75, "soc_model": 57}



def many(manifest, *edits):
    """A copy of ``manifest`` with each (dotted path, value) edit made; KeyError deletes."""
    data = copy.deepcopy(manifest)
    for path, value in edits:
        _set(data, path.split("."), value)
    return data


def _set(node, keys, value):
    head, *rest = keys
    if isinstance(node, list):  # a list item, by its index
        head = int(head)
    if rest:
        _set(node[head], rest, value)
    elif value is KeyError:
        del node[head]
    else:
        node[head] = value


def edit(manifest, path, value):
    return many(manifest, (path, value))


minimal = many(base, *[(f"models.{r}.input.{k}", KeyError) for r in ("detector", "embedder")
                       for k in ("layout", "dtype", "channel_order", "resize", "pad") if k in base["models"][r]["input"]],
               ("models.detector.nms", KeyError), ("models.detector.max_faces", KeyError),
               ("models.detector.keypoint_names", KeyError), ("models.embedder.output", KeyError),
               ("description", KeyError))
valid = {
    "base": ("every field set", base),
    "scrfd": ("an SCRFD detector, an NCHW ONNX embedder", scrfd),
    "minimal": ("optional fields left to their defaults", minimal),
    "detector_only": ("one model is enough", edit(base, "models", {"detector": base["models"]["detector"]})),
    "embedder_only": ("one model is enough", edit(base, "models", {"embedder": base["models"]["embedder"]})),
    "targets": ("a Hexagon build of the detector", edit(base, "models.detector.targets", {"SM8650": TARGET})),
    "preset_and_far": ("the recorded preset and a calibrated threshold",
                       many(base, ("models.detector.decoder.preset", "blazeface-short"),
                            ("models.embedder.verify_far", 0.001))),
    "unknown_keys": ("keys a newer writer added, at every level: ignored by readers, kept by writers",
                     many(base, ("release", {"version": 3}), ("models.detector.note", "x"),
                          ("models.detector.input.note", 1), ("models.detector.decoder.note", [1]),
                          ("models.embedder.alignment.note", None),
                          ("models.detector.targets", {"SM8650": {**TARGET, "note": "x"}}))),
    "search": ("a detector whose tiled search suits it", edit(base, "models.detector.search", "auto")),
    "top_left_sampling": ("a detector resized as MediaPipe's ImageToTensor samples",
                          edit(base, "models.detector.input.sampling", "top_left")),
    "landmarks": ("a detector and a dense landmark model", edit(base, "models.landmarks", LANDMARKS)),
    "landmarks_only": ("a landmark model alone (its crops come from points given to it)",
                       many(edit(base, "models", {"landmarks": LANDMARKS}), ("models.landmarks.presence_output", KeyError),
                            ("models.landmarks.point_groups", KeyError), ("models.landmarks.presence_threshold", KeyError))),
    "landmark_refinements": ("a landmark model whose other outputs refine some points and give more",
                             edit(base, "models.landmarks", REFINED)),
    "range_edges": ("values at the inclusive ends of their ranges",
                    many(base, ("models.detector.input.std", [0.001, 10000, 1]), ("models.detector.input.mean", [-10000, 10000, 0]),
                         ("models.detector.nms_iou", 1.0), ("models.detector.max_faces", 10000),
                         ("models.embedder.verify_threshold", 1.0), ("models.embedder.verify_far", 0.0),
                         ("models.embedder.input.height", 2048))),
}
D, E, L = "models.detector", "models.embedder", "models.landmarks"
with_landmarks = edit(base, L, LANDMARKS)
with_refinements = edit(base, L, REFINED)
R = f"{L}.refinements"
tight = {"right_eye": [38.0, 51.0], "left_eye": [38.5, 51.0]}
invalid = {  # name: (why, manifest, field path)
    "schema_version": ("a schema version this reader does not know", edit(base, "schema_version", 2), "schema_version"),
    "no_name": ("name is required", edit(base, "name", KeyError), "name"),
    "no_models": ("at least one model", edit(base, "models", {}), "models"),
    "unknown_role": ("roles are detector, embedder and landmarks", edit(base, "models.face", base["models"]["embedder"]), "models.face"),
    "file_escapes": ("a file outside the bundle", edit(base, f"{D}.file", "../x.tflite"), f"{D}.file"),
    "file_absolute": ("an absolute file path", edit(base, f"{E}.file", "/etc/passwd"), f"{E}.file"),
    "sha256": ("not 64 hex digits", edit(base, f"{D}.sha256", "xyz"), f"{D}.sha256"),
    "format": ("an unknown model format", edit(base, f"{D}.format", "caffe"), f"{D}.format"),
    "input_height_zero": ("input sides are 1 to 2048", edit(base, f"{D}.input.height", 0), f"{D}.input.height"),
    "input_width_huge": ("input sides are 1 to 2048", edit(base, f"{D}.input.width", 4096), f"{D}.input.width"),
    "input_layout": ("NHWC or NCHW", edit(base, f"{D}.input.layout", "HWC"), f"{D}.input.layout"),
    "input_sampling": ("half_pixel or top_left", edit(base, f"{D}.input.sampling", "corner"), f"{D}.input.sampling"),
    "mean_length": ("three means", edit(base, f"{D}.input.mean", [1, 2]), f"{D}.input.mean"),
    "mean_range": ("means in [-10000, 10000]", edit(base, f"{E}.input.mean", [0, 0, 1e5]), f"{E}.input.mean"),
    "std_zero": ("std in [0.001, 10000]: no division by almost nothing", edit(base, f"{D}.input.std", [1, 0, 1]), f"{D}.input.std"),
    "std_huge": ("std in [0.001, 10000]", edit(base, f"{E}.input.std", [1, 1e5, 1]), f"{E}.input.std"),
    "decoder_family": ("ssd or scrfd", edit(base, f"{D}.decoder.family", "yolo"), f"{D}.decoder.family"),
    "decoder_preset": ("a preset is a name", edit(base, f"{D}.decoder.preset", 3), f"{D}.decoder.preset"),
    "box_scale_tiny": ("box_scale values in [0.001, 1e6]", edit(base, f"{D}.decoder.box_scale", [1e-12, 1, 1, 1]), f"{D}.decoder.box_scale"),
    "anchor_scale": ("anchor scales in [0, 100]", edit(base, f"{D}.decoder.anchors.min_scale", 1e300), f"{D}.decoder.anchors.min_scale"),
    "anchor_count": ("at most 500000 anchors", many(base, (f"{D}.input.height", 2048), (f"{D}.input.width", 2048),
                                                   (f"{D}.decoder.anchors.strides", [1, 1])), f"{D}.decoder.anchors.strides"),
    "scrfd_stride": ("the input must be a multiple of every stride", edit(scrfd, f"{D}.decoder.strides", [8, 16, 48]), f"{D}.decoder.strides"),
    "keypoint_names": ("one name per decoded keypoint", edit(base, f"{D}.keypoint_names", ["a", "b"]), f"{D}.keypoint_names"),
    "score_threshold_zero": ("strictly between 0 and 1", edit(base, f"{D}.score_threshold", 0), f"{D}.score_threshold"),
    "score_threshold_one": ("strictly between 0 and 1", edit(base, f"{D}.score_threshold", 1), f"{D}.score_threshold"),
    "nms_iou_zero": ("in (0, 1]", edit(base, f"{D}.nms_iou", 0), f"{D}.nms_iou"),
    "nms": ("hard or weighted", edit(base, f"{D}.nms", "soft"), f"{D}.nms"),
    "max_faces": ("at most 10000 faces", edit(base, f"{D}.max_faces", 10001), f"{D}.max_faces"),
    "search": ("whole, auto or all", edit(base, f"{D}.search", "tiles"), f"{D}.search"),
    "embedding_size": ("1 to 65536", edit(base, f"{E}.embedding_size", 0), f"{E}.embedding_size"),
    "verify_threshold_zero": ("in (0, 1]: at 0 about half of all strangers match", edit(base, f"{E}.verify_threshold", 0), f"{E}.verify_threshold"),
    "verify_threshold_negative": ("in (0, 1]", edit(base, f"{E}.verify_threshold", -1), f"{E}.verify_threshold"),
    "verify_far": ("a rate in [0, 1]", edit(base, f"{E}.verify_far", 2), f"{E}.verify_far"),
    "chip_small": ("chips are 8 to 1024 pixels", edit(base, f"{E}.alignment.width", 4), f"{E}.alignment.width"),
    "template_one_point": ("2 to 100 template points", edit(base, f"{E}.alignment.template", {"nose_tip": [56, 71]}), f"{E}.alignment.template"),
    "template_outside": ("template points inside the chip", edit(base, f"{E}.alignment.template.nose_tip", [56, 200]), f"{E}.alignment.template.nose_tip"),
    "template_too_close": ("template points at least 1 pixel apart", edit(base, f"{E}.alignment.template", tight), f"{E}.alignment.template.left_eye"),
    "template_not_a_point": ("a point is two numbers", edit(base, f"{E}.alignment.template.nose_tip", [56]), f"{E}.alignment.template.nose_tip"),
    "target_accelerator": ("qnn-htp only", edit(base, f"{D}.targets", {"SM8650": {**TARGET, "accelerator": "gpu"}}), f"{D}.targets.SM8650.accelerator"),
    "target_arch": ("Hexagon arch 60 to 200", edit(base, f"{D}.targets", {"SM8650": {**TARGET, "htp_arch": 10}}), f"{D}.targets.SM8650.htp_arch"),
    "target_file": ("a target file inside the bundle", edit(base, f"{D}.targets", {"SM8650": {**TARGET, "file": "../c.onnx"}}), f"{D}.targets.SM8650.file"),
    "landmark_points": ("2 to 10000 points", edit(with_landmarks, f"{L}.points", 1), f"{L}.points"),
    "landmark_roi_scale": ("a crop 1 to 4 times the face", edit(with_landmarks, f"{L}.roi_scale", 0.5), f"{L}.roi_scale"),
    "landmark_roi_points": ("two different point indices below points", edit(with_landmarks, f"{L}.roi_points", [33, 468]),
                            f"{L}.roi_points"),
    "landmark_roi_keypoints": ("two different names", edit(with_landmarks, f"{L}.roi_keypoints", ["right_eye"]),
                               f"{L}.roi_keypoints"),
    "landmark_roi_keypoint_unknown": ("names of the detector's keypoints",
                                      edit(with_landmarks, f"{L}.roi_keypoints", ["right_eye", "chin"]), f"{L}.roi_keypoints"),
    "landmark_group_index": ("group indices below points", edit(with_landmarks, f"{L}.point_groups.nose_tip", [468]),
                             f"{L}.point_groups.nose_tip"),
    "landmark_presence_threshold": ("strictly between 0 and 1", edit(with_landmarks, f"{L}.presence_threshold", 1),
                                    f"{L}.presence_threshold"),
    "landmark_points_output": ("the points' output tensor is named", edit(with_landmarks, f"{L}.points_output", KeyError),
                               f"{L}.points_output"),
    "landmark_refinements_empty": ("a list of 1 to 16 refinements", edit(with_refinements, R, []), R),
    "landmark_refinement_output": ("each refinement names its output", edit(with_refinements, f"{R}.0.output", KeyError),
                                   f"{R}[0].output"),
    "landmark_refinement_index": ("refined points below points", edit(with_refinements, f"{R}.1.points", [468, 478]),
                                  f"{R}[1].points"),
    "landmark_refinement_repeat": ("each point refined once per output", edit(with_refinements, f"{R}.0.points", [61, 61]),
                                   f"{R}[0].points"),
    "landmark_refinement_unknown": ("a refinement's keys are exactly output, points, depth_from: another could change "
                                    "what its points mean", edit(with_refinements, f"{R}.2.weights", [1.0]), f"{R}[2].weights"),
}
# Rules that need more than one field or arithmetic: the runtimes check them, JSON Schema cannot.
BEYOND_SCHEMA = {"anchor_count", "scrfd_stride", "keypoint_names", "template_outside", "template_too_close",
                 "landmark_roi_points", "landmark_roi_keypoints", "landmark_roi_keypoint_unknown", "landmark_group_index",
                 "landmark_refinement_index"}
index = {"description": "Manifests every edgeface runtime must accept (valid) or refuse with the given error "
                        "category at the given dotted field path (invalid); \"schema\": false marks a rule "
                        "docs/bundle.schema.json cannot express. Made by scripts/make_conformance.py.",
         "valid": [], "invalid": []}
for name, (why, manifest) in valid.items():
    (root / "valid").mkdir(parents=True, exist_ok=True)
    (root / "valid" / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    index["valid"].append({"manifest": f"valid/{name}.json", "why": why})
for name, (why, manifest, path) in invalid.items():
    (root / "invalid").mkdir(parents=True, exist_ok=True)
    (root / "invalid" / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    entry = {"manifest": f"invalid/{name}.json", "error": "ManifestError", "field": path, "why": why}
    index["invalid"].append({**entry, "schema": False} if name in BEYOND_SCHEMA else entry)
(root / "index.json").write_text(json.dumps(index, indent=1) + "\n")
