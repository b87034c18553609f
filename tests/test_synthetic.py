"""The synthetic face generator: determinism, exact labels, set structure, speed."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("cv2")

from edgeface.data import DetectionSample, IdentitySample, Pair, RecognitionDataset  # noqa: E402
from edgeface.data.synthetic import (  # noqa: E402
    ARCFACE_112,
    PAIR_IDENTITY_OFFSET,
    Pose,
    SyntheticFaces,
    random_identity,
)

GREEN = (0, 255, 0)


@pytest.fixture(scope="module")
def gen():
    return SyntheticFaces(seed=0)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_images_any_access_order(gen):
    a = SyntheticFaces(0).detection_set(20, size=96)
    b = SyntheticFaces(0).detection_set(20, size=96)
    later = [b[i] for i in (7, 3, 12)]
    for i, s in zip((7, 3, 12), later):
        t = a[i]
        np.testing.assert_array_equal(t.image, s.image)
        np.testing.assert_array_equal(t.boxes, s.boxes)
        np.testing.assert_array_equal(t.keypoints, s.keypoints)
        assert t.source == s.source == f"synthetic:0:{i}"
    r1, r2 = gen.recognition_set(3, 2), SyntheticFaces(0).recognition_set(3, 2)
    np.testing.assert_array_equal(r1[5].image, r2[5].image)
    p1, p2 = gen.pairs(20, 2), SyntheticFaces(0).pairs(20, 2)
    np.testing.assert_array_equal(p1[3].a, p2[3].a)
    np.testing.assert_array_equal(p1[3].b, p1[3].b)  # rendered again on access: the same
    assert gen.identity(5) == SyntheticFaces(0).identity(5)


def test_different_seeds_or_indices_differ(gen):
    other = SyntheticFaces(1)
    assert not np.array_equal(gen.detection_set(3)[0].image, other.detection_set(3)[0].image)
    assert not np.array_equal(gen.detection_set(3)[0].image, gen.detection_set(3)[1].image)
    assert gen.identity(1) != other.identity(1) and gen.identity(1) != gen.identity(2)
    rec = gen.recognition_set(2, 2)
    assert not np.array_equal(rec[0].image, rec[1].image)  # same person, another picture


# ----------------------------------------------------------------------------- labels


def _bare(params):
    """No hair (it is drawn outside the box by convention); glasses, beards, marks stay."""
    return replace(params, hair_style=0)


def _poses(rng, n, scale=30.0, size=128):
    for _ in range(n):
        yield Pose(size / 2 + rng.uniform(-5, 5), size / 2 + rng.uniform(-5, 5), scale,
                   yaw=rng.uniform(-40, 40), pitch=rng.uniform(-20, 20), roll=rng.uniform(-35, 35),
                   smile=rng.uniform(-1, 1), mouth_open=rng.uniform(0, 1) if rng.uniform() < 0.3 else 0.0)


def _drawn(image):
    """Pixels that differ from the background by more than OpenCV's anti-aliasing rim
    (which spreads faintly up to 2 px past a polygon's edge)."""
    diff = np.abs(image.astype(int) - GREEN).max(axis=2)
    ys, xs = np.nonzero(diff > 64)
    return xs, ys


def test_box_is_the_exact_extent_of_the_drawn_face(gen):
    rng = np.random.default_rng(0)
    for k, pose in enumerate(_poses(rng, 60)):
        params = _bare(gen.identity(k))
        s = gen.render(params, pose, size=128, bg=GREEN, body=False)
        (x1, y1, x2, y2), = s.boxes
        xs, ys = _drawn(s.image)
        cx, cy = xs + 0.5, ys + 0.5  # pixel centres
        # every drawn pixel lies in the box, up to OpenCV's anti-aliased rim (measured: under 1.5 px)
        assert cx.min() >= x1 - 2 and cx.max() <= x2 + 2, (k, pose)
        assert cy.min() >= y1 - 2 and cy.max() <= y2 + 2, (k, pose)
        # and the box is tight: drawing reaches each of its sides
        assert cx.min() <= x1 + 1 and cx.max() >= x2 - 1, (k, pose)
        assert cy.min() <= y1 + 1 and cy.max() >= y2 - 1, (k, pose)


def test_hair_and_body_lie_outside_the_box_convention(gen):
    params = replace(gen.identity(3), hair_style=6)  # afro
    s = gen.render(params, Pose(64, 70, 25), size=128, bg=GREEN, body=True)
    xs, ys = _drawn(s.image)
    (x1, y1, x2, y2), = s.boxes
    assert ys.min() < y1 - 5 and ys.max() > y2 + 5  # hair above, shoulders below


def test_keypoints_are_where_they_are_drawn(gen):
    rng = np.random.default_rng(1)
    for k, pose in enumerate(_poses(rng, 40)):
        params = _bare(gen.identity(100 + k))
        s = gen.render(params, pose, size=128, bg=GREEN, body=False)
        (x1, y1, x2, y2), = s.boxes
        kp = s.keypoints[0]
        assert ((kp[:, 0] > x1) & (kp[:, 0] < x2) & (kp[:, 1] > y1) & (kp[:, 1] < y2)).all()
        # upright enough: the subject's right eye and mouth corner are on the image's left
        if abs(pose.roll) < 30:
            assert kp[0, 0] < kp[1, 0] and kp[3, 0] < kp[4, 0], (k, pose)
    # an eye keypoint is the centre of the drawn pupil
    for k in range(10):
        params = replace(_bare(gen.identity(200 + k)), glasses=0)
        s = gen.render(params, Pose(64, 64, 50, yaw=5.0 * k - 20), size=128, bg=GREEN, body=False)
        for x, y in s.keypoints[0, :2]:
            assert tuple(s.image[int(y), int(x)]) == (15, 12, 12)


def test_mirrored_pose_mirrors_the_labels(gen):
    """Yaw and roll of opposite sign on a symmetric face give mirrored keypoints (with
    right and left swapped): the same rule as the flip augmentation."""
    params = replace(_bare(gen.identity(7)), mark=None, eye_tilt=0.0, glasses=0, beard=0)
    a = gen.render(params, Pose(64, 64, 30, yaw=20, roll=10), size=128, bg=GREEN, body=False)
    b = gen.render(params, Pose(64, 64, 30, yaw=-20, roll=-10), size=128, bg=GREEN, body=False)
    mirrored = b.keypoints[0][[1, 0, 2, 4, 3]]
    mirrored[:, 0] = 128 - mirrored[:, 0]
    np.testing.assert_allclose(a.keypoints[0], mirrored, atol=1e-4)
    np.testing.assert_allclose(a.boxes[0], [128 - b.boxes[0, 2], b.boxes[0, 1], 128 - b.boxes[0, 0], b.boxes[0, 3]],
                               atol=1e-4)


# ----------------------------------------------------------------------------- sets


def test_detection_set_structure(gen):
    ds = gen.detection_set(60, size=128, max_faces=3)
    assert len(ds) == 60
    counts, widths = [], []
    for i in range(len(ds)):
        s = ds[i]
        assert isinstance(s, DetectionSample)
        assert s.image.shape == (128, 128, 3) and s.image.dtype == np.uint8
        n = len(s.boxes)
        assert s.keypoints.shape == (n, 5, 2) and s.boxes.dtype == np.float32
        assert (s.boxes >= 0).all() and (s.boxes <= 128).all()
        assert (s.boxes[:, 2] > s.boxes[:, 0]).all() and (s.boxes[:, 3] > s.boxes[:, 1]).all()
        assert np.isfinite(s.keypoints).all()
        for (x1, y1, x2, y2), kp in zip(s.boxes, s.keypoints):
            assert ((kp[:, 0] >= x1) & (kp[:, 0] <= x2) & (kp[:, 1] >= y1) & (kp[:, 1] <= y2)).all()
        counts.append(n)
        widths.extend(s.boxes[:, 2] - s.boxes[:, 0])
    assert 0 in counts and max(counts) >= 2 and max(counts) <= 3
    assert min(widths) < 0.12 * 128 and max(widths) > 0.4 * 128  # small and large faces
    with pytest.raises(IndexError):
        ds[60]
    np.testing.assert_array_equal(ds[-1].image, ds[59].image)


def test_recognition_set_is_aligned_and_labelled(gen):
    rec = gen.recognition_set(4, 3, size=112)
    assert isinstance(rec, RecognitionDataset)
    assert len(rec) == 12 and rec.num_identities == 4 and len(rec.identity_names) == 4
    s = rec[7]
    assert isinstance(s, IdentitySample) and s.label == 2 and s.image.shape == (112, 112, 3)
    errors = []
    for k in range(20):
        crop = gen.crop_sample(k, (99, k), size=112)
        errors.append(np.abs(crop.keypoints[0] - ARCFACE_112).max())
    # near the template: each identity's own proportions, pose and jitter move them a little
    assert np.median(errors) < 8 and max(errors) < 14
    half = gen.crop_sample(0, (99, 0), size=56)
    assert half.image.shape == (56, 56, 3)


def test_pairs_are_held_out_and_fold_disjoint(gen):
    pairs = gen.pairs(num_identities=40, pairs_per_fold=6, size=64)
    assert len(pairs) == 60 and all(isinstance(p, Pair) for p in pairs)
    for fold in range(10):
        mine = [p for p in pairs if p.fold == fold]
        assert [p.same for p in mine] == [True] * 3 + [False] * 3
        ids = {i for p in mine for i in p._ids}
        assert all(i >= PAIR_IDENTITY_OFFSET and (i - PAIR_IDENTITY_OFFSET) % 10 == fold for i in ids)
    for p in pairs[:6]:
        assert (p._ids[0] == p._ids[1]) == p.same
        assert p.a.shape == (64, 64, 3) and p.a.dtype == np.uint8
        assert not np.array_equal(p.a, p.b)
    with pytest.raises(ValueError, match="at least 20 identities"):
        gen.pairs(num_identities=10)


def test_identity_parameters_vary():
    rng = np.random.default_rng(0)
    ids = [random_identity(rng, k) for k in range(200)]
    assert len({p.hair_style for p in ids}) == 7 and len({p.glasses for p in ids}) == 4
    assert len({p.beard for p in ids}) == 5
    skins = np.array([p.skin for p in ids])
    assert np.ptp(skins[:, 0]) > 100  # light to dark


def test_generation_speed(gen):
    """Thousands of images a minute on one core (figures in docs/data.md)."""
    ds = gen.detection_set(1000, size=128)
    ds[0]  # the background photos load once
    start = time.process_time()  # CPU time: other jobs on a shared machine do not count
    for i in range(1, 41):
        ds[i]
    per_minute = 40 / (time.process_time() - start) * 60
    assert per_minute > 1500, per_minute
