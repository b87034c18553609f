"""edgeface.data: readers of each format, augmentation by hand, and the tf.data pipelines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.data import (
    KEYPOINT_NAMES,
    DatasetError,
    DetectionDataset,
    DetectionSample,
    DetectionSubset,
    IdentitySample,
    Pair,
    RecognitionDataset,
    load_detection,
    load_pairs,
    load_recognition,
)
from edgeface.data import augment as aug
from edgeface.errors import EdgefaceError

DATA = Path(__file__).parent / "fixtures" / "data"
WIDER = DATA / "wider" / "wider_face_split" / "wider_face_train_bbx_gt.txt"
RETINA = DATA / "retinaface" / "train" / "label.txt"
CSV = DATA / "csv" / "faces.csv"
NAN = np.nan


def test_keypoint_names_match_the_sdk():
    from edgeface.cards.presets import FIVE_KEYPOINTS
    assert list(KEYPOINT_NAMES) == FIVE_KEYPOINTS
    assert issubclass(DatasetError, EdgefaceError)


def test_import_is_light():
    code = ("import sys, edgeface.data, edgeface.data.readers, edgeface.data.augment;"
            "print('tensorflow' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False"


# ----------------------------------------------------------------------------- WIDER FACE


def test_wider_reads_boxes_and_finds_images():
    ds = load_detection(WIDER)
    assert isinstance(ds, DetectionDataset) and len(ds) == 3
    s = ds[0]
    assert isinstance(s, DetectionSample)
    assert s.image.shape == (30, 40, 3) and s.image.dtype == np.uint8
    # x y w h -> x1 y1 x2 y2; the third face is flagged invalid and dropped
    np.testing.assert_array_equal(s.boxes, [[2, 3, 12, 15], [20, 5, 28, 14]])
    assert s.keypoints.shape == (2, 5, 2) and np.isnan(s.keypoints).all()
    assert not s.keypoint_mask.any()
    assert s.source.endswith("0_Parade_1.png")
    assert ds[1].boxes.shape == (0, 4) and ds[1].keypoints.shape == (0, 5, 2)
    np.testing.assert_array_equal(ds[-1].boxes, [[4, 2, 16, 16]])
    assert len(load_detection(WIDER, keep_invalid=True)[0].boxes) == 3


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    (tmp_path / "images").mkdir(exist_ok=True)
    return path


@pytest.mark.parametrize("text, line, words", [
    ("a.jpg\ntwo\n1 2 3 4 0 0 0 0 0 0\n", 2, "face count"),
    ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", 3, "truncated"),
    ("a.jpg\n1\n1 2 x 4 0 0 0 0 0 0\n", 3, "'x' is not a number"),
    ("a.jpg\n1\n1 2 3\n", 3, "expected 'x y w h"),
    ("a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\nb.jpg\n1\n1 2 3 -4 0 0 0 0 0 0\n", 6, "negative box size"),
    ("a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n5 6 7 8 0 0 0 0 0 0\n", 4, "expected an image path"),
])
def test_wider_errors_name_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, "wider_face_train_bbx_gt.txt", text)
    with pytest.raises(DatasetError) as err:
        load_detection(path)
    msg = str(err.value)
    assert f"{path}:{line}:" in msg and words in msg


def test_wider_without_images_says_images_root(tmp_path):
    path = tmp_path / "split" / "wider_face_val_bbx_gt.txt"
    path.parent.mkdir()
    path.write_text("a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n")
    with pytest.raises(DatasetError, match="images_root="):
        load_detection(path)
    ds = load_detection(path, images_root=tmp_path)
    with pytest.raises(DatasetError, match=r"wider_face_val_bbx_gt.txt:1: image 'a.jpg'.*images_root="):
        ds[0]


# ----------------------------------------------------------------------------- WIDER FACE easy / medium / hard


def mat_cell(items) -> np.ndarray:
    """A MATLAB cell column, as the WIDER FACE toolkit stores its lists."""
    cell = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        cell[i, 0] = item
    return cell


# Event 0--Parade, two 128x128 black images with 16x16 squares (x, y, grey level), the
# squares A B C and D E F. The fixture bundles' blob detector finds each square as one
# 24x24 box centred on it, brighter squares scoring higher: A F C E B D.
WIDER_VAL_SQUARES = {"0_Parade_1": [(16, 16, 255), (64, 16, 225), (16, 64, 245)],
                     "0_Parade_2": [(16, 16, 215), (64, 16, 235), (16, 64, 250)]}


def _square_face(x, y, _=None):
    return [x - 4, y - 4, 24, 24]  # x y w h: the box the blob detector puts around the square


# Faces, in face_bbx_list order: image 1 has A, B, a face with no square (missed by any
# detector) and C; image 2 has D and E (F is not a face). The .txt flags C invalid.
WIDER_VAL_FACES = {"0_Parade_1": [_square_face(16, 16), _square_face(64, 16), [92, 92, 24, 24], _square_face(16, 64)],
                   "0_Parade_2": [_square_face(16, 16), _square_face(64, 16)]}
WIDER_VAL_INVALID = {("0_Parade_1", 3)}
# 1-based face numbers per image: easy A, E; medium A, the missed face, D, E; hard all but C
WIDER_VAL_GT_LISTS = {"easy": [[1], [2]], "medium": [[1, 3], [1, 2]], "hard": [[1, 2, 3], [1, 2]]}


def wider_val_mats() -> dict[str, dict]:
    """The toolkit's four .mat files for WIDER_VAL_FACES: file name -> variables."""
    files = list(WIDER_VAL_FACES)
    common = {"event_list": mat_cell(["0--Parade"]), "file_list": mat_cell([mat_cell(files)])}
    mats = {"wider_face_val.mat": {**common, "face_bbx_list": mat_cell([mat_cell(
        [np.array(WIDER_VAL_FACES[f], float) for f in files])])}}
    for name, lists in WIDER_VAL_GT_LISTS.items():
        gt = mat_cell([mat_cell([np.array(faces, float).reshape(-1, 1) for faces in lists])])
        mats[f"wider_{name}_val.mat"] = {**common, "gt_list": gt}
    return mats


def write_wider_val(root: Path, mats: dict[str, dict] | None = None) -> Path:
    """A WIDER FACE val split in the layout of the official downloads: wider_face_split/
    (the annotation file), WIDER_val/images/ and eval_tools/ground_truth/ (the .mat files).
    Returns the annotation file."""
    from PIL import Image

    savemat = pytest.importorskip("scipy.io").savemat
    images = root / "WIDER_val" / "images" / "0--Parade"
    images.mkdir(parents=True)
    lines = []
    for name, squares in WIDER_VAL_SQUARES.items():
        image = np.zeros((128, 128, 3), np.uint8)
        for x, y, grey in squares:
            image[y:y + 16, x:x + 16] = grey
        Image.fromarray(image).save(images / f"{name}.png")
        faces = WIDER_VAL_FACES[name]
        lines += [f"0--Parade/{name}.png", str(len(faces))]
        lines += [f"{x} {y} {w} {h} 0 0 0 {int((name, k) in WIDER_VAL_INVALID)} 0 0"
                  for k, (x, y, w, h) in enumerate(faces)]
    annotation = root / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    annotation.parent.mkdir()
    annotation.write_text("\n".join(lines) + "\n")
    ground_truth = root / "eval_tools" / "ground_truth"
    ground_truth.mkdir(parents=True)
    for file, variables in (wider_val_mats() if mats is None else mats).items():
        savemat(ground_truth / file, variables)
    return annotation


def _xyxy(faces):
    return [[x, y, x + w, y + h] for x, y, w, h in faces]


def test_wider_subsets_come_from_the_toolkit_mat_files(tmp_path):
    annotation = write_wider_val(tmp_path)
    ds = load_detection(annotation)  # found in ../eval_tools/ground_truth
    assert list(ds.subsets) == ["easy", "medium", "hard"]
    assert len(ds[0].boxes) == 3  # the dataset's own faces: C (invalid) dropped
    medium = ds.subsets["medium"]
    assert isinstance(medium, DetectionSubset) and medium.images == [0, 1]
    # the subsets score against the toolkit's boxes (every face, C too), the rest ignored
    np.testing.assert_array_equal(medium.boxes[0], _xyxy(WIDER_VAL_FACES["0_Parade_1"]))
    assert medium.ignore[0].tolist() == [False, True, False, True]
    assert medium.ignore[1].tolist() == [False, False]
    assert ds.subsets["easy"].ignore[1].tolist() == [True, False]
    # beside the annotation file, or named with wider_mat=, works the same
    ground_truth = tmp_path / "eval_tools" / "ground_truth"
    moved = tmp_path / "mats"
    ground_truth.rename(moved)
    assert load_detection(annotation).subsets == {}  # none found: "all" only
    assert list(load_detection(annotation, wider_mat=moved).subsets) == ["easy", "medium", "hard"]
    (moved / "wider_easy_val.mat").unlink()
    for mat in moved.iterdir():
        mat.rename(annotation.parent / mat.name)
    assert list(load_detection(annotation).subsets) == ["medium", "hard"]


def _broken(file: str, **variables):
    mats = wider_val_mats()
    mats[file] = {**mats[file], **variables}
    return mats


def _without(file: str, variable: str):
    mats = wider_val_mats()
    del mats[file][variable]
    return mats


@pytest.mark.parametrize("mats, file, words", [
    (_without("wider_hard_val.mat", "gt_list"), "wider_hard_val.mat", "no gt_list variable"),
    (_broken("wider_hard_val.mat", gt_list=mat_cell([mat_cell([np.array([[5.0]]), np.zeros((0, 1))])])),
     "wider_hard_val.mat", "gt_list{1}{1} lists face 5, but that image has 4 faces in wider_face_val.mat"),
    (_broken("wider_medium_val.mat", gt_list=mat_cell([mat_cell([np.zeros((0, 1))])] * 2)),
     "wider_medium_val.mat", "cells in gt_list (2) differs from wider_face_val.mat's event_list (1)"),
    (_broken("wider_easy_val.mat", gt_list=mat_cell([mat_cell([np.zeros((0, 1))])])),
     "wider_easy_val.mat", "cells in gt_list{1} (1) differs from wider_face_val.mat's file_list{1} (2)"),
    (_broken("wider_face_val.mat", file_list=mat_cell([mat_cell(["0_Parade_1", "0_Parade_9"])])),
     "wider_face_val.mat", "image '0--Parade/0_Parade_9' is not in"),
    (_broken("wider_face_val.mat", event_list="0--Parade"), "wider_face_val.mat", "event_list is not a cell array"),
    (_broken("wider_face_val.mat", face_bbx_list=mat_cell([mat_cell([np.zeros((4, 4)), np.ones((2, 3))])])),
     "wider_face_val.mat", "face_bbx_list{1}{2} should be an (M, 4) array"),
    ({**wider_val_mats(), "wider_easy_val.mat": None}, "wider_easy_val.mat", "not a readable MATLAB .mat file"),
    ({k: v for k, v in wider_val_mats().items() if k != "wider_face_val.mat"}, "wider_face_val.mat", "missing"),
])
def test_wider_mat_errors_name_the_file(tmp_path, mats, file, words):
    annotation = write_wider_val(tmp_path, {k: v for k, v in mats.items() if v is not None})
    if mats.get(file, 0) is None:
        (tmp_path / "eval_tools" / "ground_truth" / file).write_bytes(b"MATLAB? no" * 20)
    with pytest.raises(DatasetError) as err:
        load_detection(annotation)
    assert file in str(err.value) and words in str(err.value)


def test_wider_mat_option_errors(tmp_path):
    annotation = write_wider_val(tmp_path)
    with pytest.raises(DatasetError, match=r"nowhere: no such folder; wider_mat= \(--wider-mat\)"):
        load_detection(annotation, wider_mat=tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"none of wider_easy_val.mat, wider_medium_val.mat, wider_hard_val.mat"):
        load_detection(annotation, wider_mat=tmp_path)
    with pytest.raises(DatasetError, match="go with a WIDER FACE .*, not faces.csv"):
        load_detection(CSV, wider_mat=tmp_path)
    with pytest.raises(DatasetError, match="not a synthetic set"):
        load_detection("synthetic:2", wider_mat=tmp_path)


# ----------------------------------------------------------------------------- RetinaFace


def test_retinaface_landmarks_in_keypoint_order():
    for spec in (RETINA, RETINA.parent):  # the file, or the folder holding label.txt
        ds = load_detection(spec)
        assert len(ds) == 3
        s = ds[0]
        np.testing.assert_array_equal(s.boxes, [[2, 3, 12, 15], [20, 5, 28, 14]])
        np.testing.assert_array_equal(s.keypoints[0], [[4.5, 6], [9.5, 6.5], [7, 9], [5, 12], [9, 12.5]])
        assert np.isnan(s.keypoints[1]).all()  # -1 landmarks: none
        np.testing.assert_array_equal(s.keypoint_mask, [True, False])
        assert len(ds[1].boxes) == 0  # an image without faces
        np.testing.assert_array_equal(ds[2].boxes, [[30, 10, 34, 14]])  # 'x y w h' only
        assert np.isnan(ds[2].keypoints).all()


@pytest.mark.parametrize("text, line, words", [
    ("1 2 3 4\n", 1, "before any '# image path'"),
    ("# a.jpg\n1 2 3 4 5 6 7\n", 2, "7 values"),
    ("# a.jpg\n1 2 3 4\n#\n", 3, "without an image path"),
    ("# a.jpg\n1 2 3 4\n1 2 3 four\n", 3, "'four' is not a number"),
    ("# a.jpg\n1 2 -3 4\n", 2, "negative box size"),
])
def test_retinaface_errors_name_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, "label.txt", text)
    with pytest.raises(DatasetError) as err:
        load_detection(path)
    assert f"{path}:{line}:" in str(err.value) and words in str(err.value)


# ----------------------------------------------------------------------------- CSV


def test_csv_groups_rows_by_image():
    ds = load_detection(CSV)
    assert len(ds) == 2
    a, b = ds[0], ds[1]
    assert a.image.shape == (30, 40, 3)
    np.testing.assert_array_equal(a.boxes, [[2, 3, 12, 15], [20, 5, 28, 14]])
    np.testing.assert_array_equal(a.keypoints[0], [[4.5, 6], [9.5, 6.5], [7, 9], [5, 12], [9, 12.5]])
    assert np.isnan(a.keypoints[1]).all()
    assert b.boxes.shape == (0, 4)


def test_csv_without_header_or_keypoints(tmp_path):
    path = _write(tmp_path, "f.csv", "x.png,1,2,3,4\nx.png,5,6,7,8\n")
    ds = load_detection(path, images_root=tmp_path)
    assert ds.records[0].boxes.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


@pytest.mark.parametrize("text, line, words", [
    ("x.png,1,2,3\n", 1, "4 columns"),
    ("image,x1,y1,x2,y2\nx.png,1,2,3,4\nx.png,5,2,3,4\n", 3, "x2 < x1"),
    ("x.png,1,2,3,4,1,1,1,1,1,1,1,1,1,\n", 1, "some keypoint cells are empty"),
    ("x.png,1,,3,4\n", 1, "a box cell is empty"),
    ("x.png,1,2,3,4\n,1,2,3,4\n", 2, "image cell is empty"),
    ("x.png,1,2,3,nan\n", 1, "not finite"),
])
def test_csv_errors_name_file_and_line(tmp_path, text, line, words):
    path = _write(tmp_path, "f.csv", text)
    with pytest.raises(DatasetError) as err:
        load_detection(path)
    assert f"{path}:{line}:" in str(err.value) and words in str(err.value)


def test_detection_dispatch_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such annotation file"):
        load_detection(tmp_path / "nope.txt")
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(DatasetError, match="unknown annotation format '.json'"):
        load_detection(tmp_path / "a.json")
    with pytest.raises(DatasetError, match="without label.txt"):
        load_detection(tmp_path)
    with pytest.raises(DatasetError, match="unknown option 'colour'"):
        load_detection("synthetic:10:colour=1")
    with pytest.raises(DatasetError, match="cannot read"):
        load_detection("synthetic:ten")


def test_synthetic_specs():
    ds = load_detection("synthetic:7:size=64:max_faces=1:seed=3")
    assert len(ds) == 7 and ds.size == 64 and ds.max_faces == 1 and ds.gen.seed == 3
    assert len(load_detection("synthetic")) == 1000
    rec = load_recognition("synthetic:12:per_identity=3:size=56")
    assert isinstance(rec, RecognitionDataset)
    assert (len(rec), rec.num_identities, rec.size) == (36, 12, 56)
    pairs = load_pairs("synthetic:4:identities=20")
    assert len(pairs) == 40 and {p.fold for p in pairs} == set(range(10))


# ----------------------------------------------------------------------------- identity folders


def test_identity_folders():
    ds = load_recognition(DATA / "identities")
    assert isinstance(ds, RecognitionDataset)
    assert ds.identity_names == ["alice", "bob", "carol"] and ds.num_identities == 3
    assert len(ds) == 6
    assert [ds[i].label for i in range(6)] == [0, 0, 1, 2, 2, 2]
    s = ds[2]
    assert isinstance(s, IdentitySample) and s.image.shape == (16, 16, 3) and s.source.endswith("1.png")
    only = load_recognition(DATA / "identities", min_images=2)
    assert only.identity_names == ["alice", "carol"] and [only[i].label for i in range(len(only))] == [0, 0, 1, 1, 1]


def test_identity_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        load_recognition(tmp_path / "missing")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="found 1 images directly in it"):
        load_recognition(tmp_path)
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "1.png").write_bytes(b"not a png")
    ds = load_recognition(tmp_path)
    with pytest.raises(DatasetError, match=r"1.png: cannot decode"):
        ds[0]


# ----------------------------------------------------------------------------- LFW pairs


def test_lfw_pairs():
    pairs = load_pairs(DATA / "lfw" / "pairs.txt")  # images_root defaults to lfw/ beside it
    assert len(pairs) == 4 and all(isinstance(p, Pair) for p in pairs)
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[1].path_b.name == "Alan_Turing_0001.jpg"
    assert pairs[3].path_a.name == "Grace_Hopper_0002.jpg"
    a = pairs[0].a
    assert a.dtype == np.uint8 and a.shape == (16, 16, 3)
    assert not np.array_equal(pairs[0].a, pairs[0].b)


@pytest.mark.parametrize("text, line, words", [
    ("ten 300\n", 1, "expected a header"),
    ("1 1\nAda_Lovelace 1 2\nAda_Lovelace 1 Alan_Turing\n", 3, "different-person line"),
    ("1 1\nAda_Lovelace 1\nAda_Lovelace 1 Alan_Turing 1\n", 2, "same-person line"),
    ("1 1\nAda_Lovelace 1 3\nAda_Lovelace 1 Alan_Turing 1\n", 2, "Ada_Lovelace_0003.jpg is not under"),
    ("1 1\nAda_Lovelace 1 x\nAda_Lovelace 1 Alan_Turing 1\n", 2, "not an image number"),
])
def test_lfw_pairs_errors_name_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        load_pairs(path, DATA / "lfw" / "lfw")
    assert f"{path}:{line}:" in str(err.value) and words in str(err.value)


def test_lfw_pairs_count_mismatch(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("10 300\nAda_Lovelace 1 2\n")
    with pytest.raises(DatasetError, match="announces 10 folds of 300.*has 1 pair lines"):
        load_pairs(path, DATA / "lfw" / "lfw")


# ----------------------------------------------------------------------------- augmentation by hand


def _sample_by_hand():
    image = np.zeros((8, 10, 3), np.uint8)
    image[:, 0] = 255  # the left column white
    boxes = np.array([[1, 2, 4, 6]], np.float32)
    kps = np.array([[[2, 3], [3, 3], [2.5, 4], [2, 5], [3, 5]]], np.float32)  # right_eye on the left
    return image, boxes, kps


def test_hflip_swaps_left_and_right_keypoints():
    image, boxes, kps = _sample_by_hand()
    f_img, f_boxes, f_kps = aug.hflip(image, boxes, kps)
    assert (f_img[:, 9] == 255).all() and (f_img[:, :9] == 0).all()
    np.testing.assert_array_equal(f_boxes, [[6, 2, 9, 6]])  # x -> 10 - x, x1 < x2 kept
    # the old left eye (3, 3) is the new right eye, at 10 - 3 = 7; and so on
    np.testing.assert_array_equal(f_kps[0], [[7, 3], [8, 3], [7.5, 4], [7, 5], [8, 5]])
    # mirrored, the subject's right eye is again on the image's left
    assert f_kps[0, 0, 0] < f_kps[0, 1, 0] and f_kps[0, 3, 0] < f_kps[0, 4, 0]
    back = aug.hflip(f_img, f_boxes, f_kps)
    for x, y in zip(back, (image, boxes, kps)):
        np.testing.assert_array_equal(x, y)


def test_crop_clips_and_drops_boxes():
    image = np.arange(20 * 20 * 3, dtype=np.uint8).reshape(20, 20, 3)
    boxes = np.array([[4, 4, 10, 10],   # 25/36 inside the crop: clipped to 5..10
                      [0, 0, 6, 6],     # 1/36 inside: dropped
                      [10, 10, 14, 14],  # inside
                      [15, 0, 19, 4]], np.float32)  # outside
    kps = np.tile(np.array([[[3.0, 3.0]]], np.float32), (4, 5, 1))
    out, b, k = aug.crop(image, boxes, kps, (5, 5, 15, 15))
    np.testing.assert_array_equal(out, image[5:15, 5:15])
    np.testing.assert_array_equal(b, [[0, 0, 5, 5], [5, 5, 9, 9]])
    np.testing.assert_array_equal(k[0, 0], [-2, -2])  # keypoints move along, outside or not
    assert len(k) == 2


def test_random_crop_keeps_a_face_and_stays_inside():
    image = np.zeros((60, 80, 3), np.uint8)
    boxes = np.array([[30, 20, 40, 32]], np.float32)
    kps = np.full((1, 5, 2), 35.0, np.float32)
    rng = np.random.default_rng(0)
    for _ in range(50):
        out, b, k = aug.random_crop(image, boxes, kps, rng, (0.3, 1.0))
        assert out.shape[0] == out.shape[1] and len(b) == 1
        assert (b >= 0).all() and (b[:, 2] <= out.shape[1]).all() and (b[:, 3] <= out.shape[0]).all()


def test_letterbox_matches_the_sdk_placement():
    from edgeface.bundle import InputSpec
    from edgeface.preprocess import placement_for
    image = np.full((10, 20, 3), 200, np.uint8)
    out, b, k = aug.letterbox(image, np.array([[2, 2, 6, 6]], np.float32),
                              np.full((1, 5, 2), 4.0, np.float32), 10)
    # scale 0.5: 20x10 -> 10x5, centred: 2 black rows on top, 3 below
    assert (out[:2] == 0).all() and (out[2:7] == 200).all() and (out[7:] == 0).all()
    np.testing.assert_array_equal(b, [[1, 3, 3, 5]])
    np.testing.assert_array_equal(k[0, 0], [2, 4])
    spec = InputSpec(height=10, width=10, layout="NHWC", dtype="float32", channel_order="RGB",
                     mean=(0.0,) * 3, std=(1.0,) * 3, resize="letterbox", pad="center")
    place = placement_for(spec, 10, 20)
    assert (place.scale_x, place.offset_x, place.offset_y) == (0.5, 0.0, 2.0)


def test_prepare_detection_pads_and_masks():
    image, boxes, kps = _sample_by_hand()
    boxes = np.concatenate([boxes, [[5, 1, 9, 7], [6, 6, 7, 7]]]).astype(np.float32)
    kps = np.concatenate([kps, np.full((2, 5, 2), np.nan, np.float32)])
    s = DetectionSample(image, boxes, kps)
    img, b, k, km, bm = aug.prepare_detection(s, 10, 2, augment=False)
    assert img.shape == (10, 10, 3) and img.dtype == np.uint8
    # 10x8 -> 10x8 in a 10x10 square, offset y = 1; the two largest faces are kept in order
    np.testing.assert_allclose(b, [[0.1, 0.3, 0.4, 0.7], [0.5, 0.2, 0.9, 0.8]], atol=1e-6)
    np.testing.assert_allclose(k[0, 0], [0.2, 0.4], atol=1e-6)
    assert (k[1] == 0).all()
    np.testing.assert_array_equal(km, [1, 0])
    np.testing.assert_array_equal(bm, [1, 1])
    _, b, _, km, bm = aug.prepare_detection(DetectionSample(image, np.zeros((0, 4)), None), 10, 3, False)
    assert (b == 0).all() and (bm == 0).all() and (km == 0).all()


def test_color_jitter_keeps_grey_grey_and_uint8():
    rng = np.random.default_rng(1)
    image = np.full((4, 4, 3), 100, np.uint8)
    out = aug.color_jitter(image, rng, hue=0.0)
    assert out.dtype == np.uint8 and (out == out[0, 0, 0]).all()


# ----------------------------------------------------------------------------- tf.data pipelines


@pytest.fixture(scope="module")
def tf_data():
    pytest.importorskip("tensorflow")
    from edgeface.data import pipelines
    return pipelines


@pytest.mark.slow
def test_detection_pipeline_shapes_and_values(tf_data):
    ds = load_detection("synthetic:10:size=96")
    batches = list(tf_data.detection_pipeline(ds, 64, 4, augment=True, max_boxes=5))
    assert len(batches) == 2  # drop_remainder with augment
    images, t = batches[0]
    assert images.shape == (4, 64, 64, 3) and images.dtype.name == "float32"
    assert -1.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0
    assert t["boxes"].shape == (4, 5, 4) and t["keypoints"].shape == (4, 5, 5, 2)
    assert t["keypoint_mask"].shape == (4, 5) and t["box_mask"].shape == (4, 5)
    assert all(v.dtype.name == "float32" for v in t.values())
    b = t["boxes"].numpy()
    assert ((b >= 0) & (b <= 1)).all() and (b[..., 2] >= b[..., 0]).all()
    # without augmentation: one batch per 4 in order, the last one partial, exact letterbox
    plain = list(tf_data.detection_pipeline(ds, 64, 4, augment=False, max_boxes=5, mean=0, std=1))
    assert [len(x) for x, _ in plain] == [4, 4, 2]
    want = aug.prepare_detection(ds[9], 64, 5, False)
    np.testing.assert_array_equal(plain[2][0].numpy()[1], want[0].astype(np.float32))
    np.testing.assert_array_equal(plain[2][1]["boxes"].numpy()[1], want[1])
    # the same seed gives the same augmented batches
    again = list(tf_data.detection_pipeline(ds, 64, 4, augment=True, max_boxes=5))
    np.testing.assert_array_equal(again[0][0].numpy(), images.numpy())
    np.testing.assert_array_equal(again[1][1]["keypoints"].numpy(), batches[1][1]["keypoints"].numpy())


@pytest.mark.slow
def test_recognition_pipeline_shapes(tf_data):
    ds = load_recognition("synthetic:3:per_identity=3:size=64")
    batches = list(tf_data.recognition_pipeline(ds, 56, 4, augment=False, mean=[127.5] * 3, std=128.0))
    assert [len(y) for _, y in batches] == [4, 4, 1]
    images, labels = batches[0]
    assert images.shape == (4, 56, 56, 3) and images.dtype.name == "float32"
    assert labels.dtype.name == "int32" and labels.numpy().tolist() == [0, 0, 0, 1]
    aug_batches = list(tf_data.recognition_pipeline(ds, 56, 4, augment=True))
    assert len(aug_batches) == 2
    assert sorted(np.concatenate([y.numpy() for _, y in aug_batches]).tolist()) != []


@pytest.mark.slow
def test_pipelines_read_every_file_format(tf_data):
    for spec in (WIDER, RETINA, CSV):
        ds = load_detection(spec)
        (images, t), = list(tf_data.detection_pipeline(ds, 32, 4, augment=False, max_boxes=4))
        assert images.shape == (len(ds), 32, 32, 3)
        assert t["box_mask"].numpy().sum() == sum(len(ds[i].boxes) for i in range(len(ds)))
        assert t["keypoint_mask"].numpy().sum() == sum(ds[i].keypoint_mask.sum() for i in range(len(ds)))
        list(tf_data.detection_pipeline(ds, 32, 2, augment=True, max_boxes=4))
    rec = load_recognition(DATA / "identities")
    (images, labels), = list(tf_data.recognition_pipeline(rec, 24, 6, augment=True))
    assert images.shape == (6, 24, 24, 3) and sorted(labels.numpy().tolist()) == [0, 0, 1, 2, 2, 2]


@pytest.mark.slow
def test_pipeline_rejects_too_small_a_set(tf_data):
    with pytest.raises(DatasetError, match="fewer than one batch"):
        tf_data.recognition_pipeline(load_recognition("synthetic:1:per_identity=2"), 32, 8, augment=True)


def test_cache_in_memory_reads_once():
    from edgeface.data import cache_in_memory
    rec = load_recognition(DATA / "identities")
    cached = cache_in_memory(rec)
    assert len(cached) == len(rec) and cached.num_identities == 3 and cached.identity_names == rec.identity_names
    assert cached[1] is cached[1] and cached[-1] is cached[5]
    np.testing.assert_array_equal(cached[1].image, rec[1].image)
