"""Letterbox/resize/normalise and the exact mapping back to original coordinates."""

import numpy as np
import pytest

from edgeface import preprocess
from edgeface.bundle import InputSpec
from edgeface.preprocess import Preprocessor, placement_for, resize_bilinear


def spec(**kw):
    base = dict(height=128, width=128, layout="NHWC", dtype="float32", channel_order="RGB",
                mean=(127.5,) * 3, std=(127.5,) * 3, resize="letterbox", pad="center")
    return InputSpec(**{**base, **kw})


def test_letterbox_center_maps_back_exactly():
    place = placement_for(spec(), 480, 640)
    assert (place.scale_x, place.offset_x, place.offset_y) == (0.2, 0.0, 16.0)
    pts = np.array([[0.5, 0.5], [0.0, 16 / 128], [1.0, 112 / 128]], np.float32)
    np.testing.assert_allclose(place.to_original(pts), [[320, 240], [0, 0], [640, 480]], atol=1e-4)


def test_letterbox_corner_and_stretch():
    corner = placement_for(spec(pad="corner"), 480, 640)
    assert (corner.offset_x, corner.offset_y) == (0.0, 0.0)
    np.testing.assert_allclose(corner.to_original(np.array([[1.0, 0.75]])), [[640, 480]], atol=1e-4)
    stretch = placement_for(spec(resize="stretch"), 480, 640)
    np.testing.assert_allclose(stretch.to_original(np.array([[1.0, 1.0]])), [[640, 480]], atol=1e-4)


def test_preprocessor_pads_black_and_normalises():
    image = np.full((480, 640, 3), 255, np.uint8)
    batch, place = Preprocessor(spec())(image)
    assert batch.shape == (1, 128, 128, 3) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, 16:112], 1.0, atol=1e-6)  # white -> +1
    np.testing.assert_allclose(batch[0, :16], -1.0)  # black padding -> -1
    np.testing.assert_allclose(batch[0, 112:], -1.0)


def test_channel_order_layout_and_mean_in_model_order():
    image = np.zeros((4, 4, 3), np.uint8)
    image[...] = [10, 20, 30]
    pre = Preprocessor(spec(height=4, width=4, channel_order="BGR", layout="NCHW",
                            mean=(30.0, 20.0, 10.0), std=(1.0, 2.0, 4.0)))
    batch, _ = pre(image)
    assert batch.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(batch[0, :, 0, 0], [0, 0, 0])
    image[...] = [11, 22, 34]
    # RGB (11, 22, 34) -> BGR (34, 22, 11); minus mean, over std, both in BGR order
    np.testing.assert_allclose(pre(image)[0][0, :, 0, 0], [4 / 1, 2 / 2, 1 / 4])


@pytest.mark.parametrize("size", [(640, 480, 128, 96), (100, 37, 128, 64), (50, 50, 123, 77)])
def test_numpy_resize_agrees_with_opencv(monkeypatch, size):
    cv2 = pytest.importorskip("cv2")
    w, h, nw, nh = size
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    fast = resize_bilinear(image, nw, nh)
    monkeypatch.setattr(preprocess, "_cv2", None)
    slow = resize_bilinear(image, nw, nh)
    reference = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    np.testing.assert_array_equal(fast, reference)
    assert np.abs(slow - reference).max() <= 1.0


def test_top_left_sampling_is_mediapipes_and_never_opencvs(monkeypatch):
    """Output pixel i at input i * src / dst, clamped (the native core's test has the same
    numbers); OpenCV's resize, which samples half-pixel centres, is not used for it."""
    four = np.array([[[0] * 3, [100] * 3, [200] * 3, [250] * 3]], np.uint8)
    two = np.array([[[0] * 3, [100] * 3]], np.uint8)
    monkeypatch.setattr(preprocess, "_cv2", object())  # any use of OpenCV would fail
    assert resize_bilinear(four, 2, 1, "top_left")[0, :, 0].tolist() == [0, 200]
    assert resize_bilinear(two, 4, 1, "top_left")[0, :, 0].tolist() == [0, 50, 100, 100]
    monkeypatch.setattr(preprocess, "_cv2", None)
    assert resize_bilinear(two, 4, 1)[0, :, 0].tolist() == [0, 25, 75, 100]  # half-pixel centres


def test_sampling_is_written_only_when_it_is_not_the_default():
    from edgeface.schema import Fields

    assert "sampling" not in spec().to_dict()
    top_left = spec(sampling="top_left")
    assert top_left.to_dict()["sampling"] == "top_left"
    assert InputSpec.parse(Fields(top_left.to_dict(), "input")) == top_left
