"""edgeface.eval.metrics against examples worked out by hand (numpy only, fast), and
WIDER FACE's easy / medium / hard through ``edgeface eval`` with a fixture bundle."""

import json

import numpy as np
import pytest

from edgeface.eval import metrics as M


def test_box_iou_by_hand():
    iou = M.box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [1, 1, 10, 10]])
    # identical; half overlap 50 / (100 + 100 - 50); disjoint; 81 / 100
    assert iou[0] == pytest.approx([1.0, 50 / 150, 0.0, 0.81])


def test_average_precision_two_images():
    # image 1: faces A, B; detections: A exactly (.9, TP), A again (.8, FP: A is taken),
    # a miss (.7, FP). Image 2: face C found (.6, TP). Ranked: TP FP FP TP over 3 faces.
    # precision 1, 1/2, 1/3, 1/2 at recall 1/3, 1/3, 1/3, 2/3; monotone envelope 1, .5, .5, .5;
    # AP = 1/3 * 1 + 1/3 * 1/2 + 1/3 * 0 = 0.5
    preds = [(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], float), np.array([.9, .8, .7]), None),
             (np.array([[0, 0, 10, 10]], float), np.array([.6]), None)]
    truth = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), None), (np.array([[0, 0, 10, 10]], float), None)]
    result = M.evaluate_detections(preds, truth)
    assert result.ap == pytest.approx(0.5)
    assert result.num_faces == 3 and result.num_detections == 4
    assert result.precision == pytest.approx([1, 1 / 2, 1 / 3, 1 / 2])
    assert result.recall == pytest.approx([1 / 3, 1 / 3, 1 / 3, 2 / 3])


def test_average_precision_perfect_and_empty():
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    perfect = M.evaluate_detections([(boxes, np.array([.9, .5]), None)], [(boxes, None)])
    assert perfect.ap == pytest.approx(1.0)
    nothing = M.evaluate_detections([(np.zeros((0, 4)), np.zeros(0), None)], [(boxes, None)])
    assert nothing.ap == 0.0 and nothing.num_faces == 2
    # a low-scored false positive ranked after every true positive costs nothing
    fp_last = M.evaluate_detections([(np.concatenate([boxes, [[50, 50, 60, 60]]]), np.array([.9, .8, .1]), None)],
                                    [(boxes, None)])
    assert fp_last.ap == pytest.approx(1.0)
    # ... but ranked first: precision 0, 1/2, 2/3 at recall 0, 1/2, 1; the envelope lifts the
    # 1/2 to the 2/3 reached later at higher recall: AP = 1/2 * 2/3 + 1/2 * 2/3
    fp_first = M.evaluate_detections([(np.concatenate([boxes, [[50, 50, 60, 60]]]), np.array([.9, .8, .95]), None)],
                                     [(boxes, None)])
    assert fp_first.ap == pytest.approx(2 / 3)


def test_iou_threshold_is_inclusive_and_ignored_faces_are_neutral():
    gt = np.array([[0, 0, 10, 10], [40, 40, 50, 50]], float)
    half = np.array([[0, 0, 10, 5]], float)  # IoU exactly 0.5 with face 0
    assert M.evaluate_detections([(half, np.array([.9]), None)], [(gt[:1], None)]).ap == pytest.approx(1.0)
    # a detection on an ignored face is dropped (not a false positive); the face is not counted
    dets = np.array([[0, 0, 10, 10], [40, 40, 50, 50]], float)
    r = M.evaluate_detections([(dets, np.array([.5, .9]), None)], [(gt, None)], ignore=[np.array([False, True])])
    assert r.num_faces == 1 and r.num_detections == 1 and r.ap == pytest.approx(1.0)


def test_keypoint_nme_inter_ocular_and_box():
    gt = np.array([[0, 0], [10, 0], [5, 5], [2, 10], [8, 10]], float)
    pred = gt + [1.0, 0.0]  # every point 1 pixel off
    assert M.keypoint_nme(pred, gt) == pytest.approx(0.1)  # eyes 10 apart
    assert M.keypoint_nme(pred, gt, np.array([0, 0, 20, 5.0]), normalizer="box") == pytest.approx(0.1)  # sqrt(100)
    # evaluate_detections: NME over matched faces only, faces with NaN keypoints skipped
    boxes = np.array([[0, 0, 20, 20], [30, 30, 50, 50]], float)
    truth_kps = np.stack([gt, np.full((5, 2), np.nan)])
    r = M.evaluate_detections([(boxes, np.array([.9, .8]), np.stack([pred, pred]))], [(boxes, truth_kps)])
    assert r.nme == pytest.approx(0.1) and r.nme_faces == 1


def test_best_threshold_and_kfold_accuracy():
    assert M.best_threshold(np.array([0.1, 0.4, 0.6, 0.9]), np.array([0, 0, 1, 1], bool)) == pytest.approx(0.5)
    # 10 folds of 4 pairs: same pairs score .8/.7, different .2/.3; fold 3 has a different pair at .9
    scores, same, folds = [], [], []
    for f in range(10):
        scores += [0.8, 0.7, 0.2, 0.9 if f == 3 else 0.3]
        same += [True, True, False, False]
        folds += [f] * 4
    r = M.kfold_accuracy(np.array(scores), np.array(same), np.array(folds))
    assert r["folds"] == 10
    assert r["fold_accuracies"][3] == pytest.approx(0.75)
    assert r["accuracy"] == pytest.approx((9 * 1.0 + 0.75) / 10)
    # fold 3's threshold comes from the clean folds: between .3 and .7 -> midpoint 0.5
    assert r["thresholds"][3] == pytest.approx(0.5)


def test_roc_curve_by_hand():
    far, tar, thr = M.roc_curve(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0], bool))
    # thresholds .9, .8, .3, .1: accepted same/different grow 1/0, 1/1, 2/1, 2/2
    assert thr[1:] == pytest.approx([0.9, 0.8, 0.3, 0.1])
    assert tar == pytest.approx([0, 0.5, 0.5, 1.0, 1.0])
    assert far == pytest.approx([0, 0, 0.5, 0.5, 1.0])


def test_tar_at_far_by_hand():
    impostors = np.arange(1000) / 1000.0  # 0.000 .. 0.999
    genuine = np.array([0.9995, 0.5])
    scores = np.concatenate([genuine, impostors])
    same = np.concatenate([[True, True], np.zeros(1000, bool)])
    r = M.tar_at_far(scores, same, 1e-3)
    # one false accept allowed out of 1000: only 0.999 may pass, so the threshold lies
    # just above 0.998; 0.9995 passes, 0.5 does not
    assert 0.998 < r["threshold"] <= 0.999
    assert r["far_achieved"] == pytest.approx(1e-3)
    assert r["tar"] == pytest.approx(0.5)
    assert r["reliable"] and "note" not in r
    few = M.tar_at_far(scores[:12], same[:12], 1e-3)  # 10 impostors cannot measure 1e-3
    assert not few["reliable"] and "10 different-person pairs" in few["note"]
    assert few["far_achieved"] == 0.0


def test_threshold_at_far_ties_are_conservative():
    scores = np.array([0.7, 0.7, 0.2, 0.9])
    same = np.array([False, False, False, True])
    # 3 impostors, FAR 0.34 allows one false accept, but the top two tie: accept neither
    t = M.threshold_at_far(scores, same, 0.34)
    assert t > 0.7
    assert M.accuracy_at(scores, same, t) == 1.0


# ------------------------------------------------------------ WIDER FACE easy / medium / hard

def test_wider_easy_medium_hard_ap_by_hand(tmp_path, fixture_bundle):
    """``edgeface eval BUNDLE --data wider_face_val_bbx_gt.txt`` with the toolkit's .mat files:
    the set of tests/test_data.py (two images, squares A B C / D E F), scored with the
    fixture bundle's blob detector. Its detections, best first: A F C E B D, each a box
    equal to its face (IoU 1) except F, which is no face. C is a face the .txt flags
    invalid: the reader drops it, so in "all" its detection is a false positive, while in
    the subsets it is ignored (outside every gt_list)."""
    from typer.testing import CliRunner

    from edgeface.cli.app import app
    from tests.test_data import write_wider_val

    annotation = write_wider_val(tmp_path)
    r = CliRunner().invoke(app, ["eval", str(fixture_bundle()), "--data", str(annotation), "--json"])
    assert r.exit_code == 0, r.output
    subsets = json.loads(r.stdout)["detection"]["subsets"]
    assert list(subsets) == ["all", "easy", "medium", "hard"]
    # all: faces A B D E + the missed one (5); ranked TP FP FP TP TP TP: precision 1 at
    # recall .2, then at most 4/6 up to recall .8: AP = .2 * 1 + .6 * 2/3
    # easy (A, E): A TP, F FP, E TP (recall 1, precision 2/3); C B D ignored: .5 + .5 * 2/3
    # medium (A, missed, D, E): A TP, F FP, E TP (2/3), D TP (recall .75, 3/4): .25 + .5 * .75
    # hard (all but C): A TP, F FP, E, B, D TP (recall .8, precision 4/5): .2 + .6 * .8
    want = {"all": (0.6, 5, 6), "easy": (5 / 6, 2, 3), "medium": (0.625, 4, 4), "hard": (0.68, 5, 5)}
    got = {name: (s["ap"], s["faces"], s["detections"]) for name, s in subsets.items()}
    assert got == {name: (pytest.approx(ap), faces, dets) for name, (ap, faces, dets) in want.items()}
    assert all(s["images"] == 2 for s in subsets.values())
    # the .mat files named with --wider-mat instead of found
    moved = tmp_path / "eval_tools" / "ground_truth"
    moved = moved.rename(tmp_path / "mats")
    r = CliRunner().invoke(app, ["eval", str(fixture_bundle()), "--data", str(annotation), "--json"])
    assert list(json.loads(r.stdout)["detection"]["subsets"]) == ["all"]
    r = CliRunner().invoke(app, ["eval", str(fixture_bundle()), "--data", str(annotation), "--wider-mat", str(moved),
                                 "--json"])
    assert json.loads(r.stdout)["detection"]["subsets"]["hard"]["ap"] == pytest.approx(0.68)
    r = CliRunner().invoke(app, ["eval", str(fixture_bundle()), "--pairs", "synthetic:2", "--wider-mat", str(moved)])
    assert r.exit_code == 2 and "--wider-mat: give the WIDER FACE annotation file with --data" in r.output
