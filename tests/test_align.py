"""Similarity transform and warp: known transforms recovered, numpy and OpenCV agree."""

import numpy as np
import pytest

from edgeface import align
from edgeface.align import ARCFACE_TEMPLATE, Aligner, similarity_transform, warp_affine_numpy, warp_affine_pillow
from edgeface.bundle import AlignmentSpec
from edgeface.errors import ManifestError


def random_similarity(rng):
    angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(0.3, 2.5)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, rng.uniform(-50, 50)], [s, c, rng.uniform(-50, 50)]])


def test_similarity_transform_recovers_known_transform():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = random_similarity(rng)
        src = rng.uniform(0, 200, (5, 2))
        dst = src @ m[:, :2].T + m[:, 2]
        np.testing.assert_allclose(similarity_transform(src, dst), m, atol=1e-8)


def test_similarity_transform_never_reflects():
    src = np.array([[0, 0], [10, 0], [0, 20], [3, 7.0]])
    m = similarity_transform(src, src * [-1, 1])  # only a reflection would fit exactly
    (a, b), (c, d) = m[:, :2]
    assert a == pytest.approx(d) and b == pytest.approx(-c)  # a scaled rotation


def test_least_squares_with_noise_is_close():
    rng = np.random.default_rng(2)
    m = random_similarity(rng)
    src = np.array(list(ARCFACE_TEMPLATE.values()))
    dst = src @ m[:, :2].T + m[:, 2] + rng.normal(0, 0.01, (5, 2))
    np.testing.assert_allclose(similarity_transform(src, dst), m, atol=0.05)


def test_numpy_warp_translation_is_exact():
    image = np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    m = np.array([[1.0, 0, -10], [0, 1.0, -5]])  # chip(x, y) = image(x + 10, y + 5)
    chip = warp_affine_numpy(image, m, 40, 30)
    np.testing.assert_array_equal(chip, image[5:35, 10:50])


def test_numpy_warp_agrees_with_opencv_within_one_level():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 2)  # photo-like, not white noise
    worst = 0
    for _ in range(10):
        m = random_similarity(rng)
        m[:, 2] += 60
        ref = cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ours = warp_affine_numpy(image, m, 112, 112)
        # compare away from the border, where OpenCV's border handling differs by design
        inside = cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), m, (112, 112),
                                flags=cv2.INTER_NEAREST) == 255
        inside = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        diff = np.abs(ref.astype(int) - ours.astype(int))[inside]
        worst = max(worst, int(diff.max()) if diff.size else 0)
    assert worst <= 1


def test_pillow_warp_agrees_with_numpy_within_one_level_away_from_the_edges():
    cv2 = pytest.importorskip("cv2")  # only to build the mask of chip pixels well inside the image
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (5, 5), 2)
    worst = 0
    for _ in range(20):
        m = random_similarity(rng)
        m[:, 2] += 60
        inside = cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), m, (112, 112), flags=cv2.INTER_NEAREST)
        inside = cv2.erode((inside == 255).astype(np.uint8), np.ones((3, 3), np.uint8),
                           borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        diff = np.abs(warp_affine_pillow(image, m, 112, 112).astype(int)
                      - warp_affine_numpy(image, m, 112, 112).astype(int))[inside]
        worst = max(worst, int(diff.max()) if diff.size else 0)
    assert worst <= 1
    translation = np.array([[1.0, 0, -10], [0, 1.0, -5]])
    np.testing.assert_array_equal(warp_affine_pillow(image, translation, 40, 30), image[5:35, 10:50])


def test_without_opencv_the_sdk_warps_with_pillow(monkeypatch):
    monkeypatch.setattr(align, "_cv2", None)
    image = np.random.default_rng(6).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    m = np.array([[0.9, 0.1, -3], [-0.1, 0.9, 2]])
    np.testing.assert_array_equal(align.warp_affine(image, m, 40, 30), warp_affine_pillow(image, m, 40, 30))


def test_aligner_maps_keypoints_onto_template():
    spec = AlignmentSpec(112, 112, dict(ARCFACE_TEMPLATE))
    aligner = Aligner(spec, list(ARCFACE_TEMPLATE))
    template = np.array(list(ARCFACE_TEMPLATE.values()))
    keypoints = template * 2 + [100, 40]  # the face twice as big, elsewhere
    m = aligner.matrix(keypoints)
    np.testing.assert_allclose(keypoints @ m[:, :2].T + m[:, 2], template, atol=1e-6)


def test_aligner_uses_mouth_centre_for_blazeface_names(monkeypatch):
    monkeypatch.setattr(align, "_cv2", None)
    spec = AlignmentSpec(112, 112, dict(ARCFACE_TEMPLATE))
    names = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"]
    aligner = Aligner(spec, names)
    assert aligner.indices == [0, 1, 2, 3]
    mouth = np.mean([ARCFACE_TEMPLATE["mouth_left"], ARCFACE_TEMPLATE["mouth_right"]], axis=0)
    np.testing.assert_allclose(aligner.template[3], mouth)
    image = np.zeros((200, 200, 3), np.uint8)
    kps = np.array([[[80, 90], [120, 90], [100, 110], [100, 130], [60, 95], [140, 95]]], np.float32)
    assert aligner.chips(image, kps).shape == (1, 112, 112, 3)


def test_aligner_refuses_unmatched_keypoint_names():
    spec = AlignmentSpec(112, 112, dict(ARCFACE_TEMPLATE))
    with pytest.raises(ManifestError, match="keypoint_names"):
        Aligner(spec, ["a", "b", "c"])
