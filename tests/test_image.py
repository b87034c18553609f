"""Image validation: every accepted layout converts right, every bad input is an ImageError."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeface.errors import ImageError
from edgeface.image import read_image, to_rgb


def test_color_flags_convert_to_rgb():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb(rgb), rgb)
    np.testing.assert_array_equal(to_rgb(rgb[:, :, ::-1], "bgr"), rgb)
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_rgb(rgba, "rgba"), rgb)
    np.testing.assert_array_equal(to_rgb(rgba[:, :, [2, 1, 0, 3]], "bgra"), rgb)
    gray = rgb[:, :, 0]
    np.testing.assert_array_equal(to_rgb(gray, "gray"), np.stack([gray] * 3, axis=2))
    np.testing.assert_array_equal(to_rgb(gray[:, :, None], "gray"), np.stack([gray] * 3, axis=2))
    assert to_rgb(rgb[:, ::2], "rgb").flags.c_contiguous


@pytest.mark.parametrize("image, color, message", [
    (np.zeros((4, 4, 3), np.float32), "rgb", "dtype uint8"),
    (np.zeros((4, 4), np.uint8), "rgb", "does not fit color='rgb'"),
    (np.zeros((4, 4, 4), np.uint8), "rgb", "HxWx3"),
    (np.zeros((0, 4, 3), np.uint8), "rgb", "empty"),
    (np.zeros((4, 4, 3), np.uint8), "hsv", "not one of"),
    ([[1, 2]], "rgb", "numpy array"),
])
def test_bad_images_are_rejected_clearly(image, color, message):
    with pytest.raises(ImageError, match=message):
        to_rgb(image, color)


def test_pixel_limit():
    with pytest.raises(ImageError, match="over the limit"):
        to_rgb(np.zeros((100, 100, 3), np.uint8), max_pixels=9999)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.uint8, np.int16, np.float32, np.bool_]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)),
       st.sampled_from(["rgb", "bgr", "rgba", "bgra", "gray"]))
def test_any_array_gives_rgb_or_image_error(image, color):
    try:
        out = to_rgb(image, color)
    except ImageError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.size > 0


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(ImageError, match="no such image file"):
        read_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageError, match="bad.png: cannot decode"):
        read_image(bad)


def test_read_image_round_trip(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), rgb)
    assert read_image(tmp_path / "g.png").shape == (9, 11, 3)
