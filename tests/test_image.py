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


# Reading files: the pixels a viewer shows, checked before decoding (issue 14, item 8).

def _save(array_or_image, path, **params):
    from PIL import Image

    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    image.save(path, **params)
    return path


def _gray(rgb):
    assert rgb.shape[2] == 3 and (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 0] == rgb[:, :, 2]).all()
    return rgb[:, :, 0]


def test_16_bit_png_keeps_its_top_byte_instead_of_clipping_to_white(tmp_path):
    gradient = np.tile(np.arange(0, 65536, 257, dtype=np.uint16), (3, 1))  # 0, 257, ..., 65535
    path = _save(gradient, tmp_path / "deep.png")
    np.testing.assert_array_equal(_gray(read_image(path)), np.tile(np.arange(256, dtype=np.uint8), (3, 1)))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.uint16, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8)),
       st.sampled_from(["PNG", "TIFF"]))
def test_any_16_bit_gray_file_reads_as_x_shifted_right_by_8(tmp_path_factory, samples, fmt):
    path = _save(samples, tmp_path_factory.mktemp("deep") / f"x.{fmt.lower()}", format=fmt)
    np.testing.assert_array_equal(_gray(read_image(path)), (samples >> 8).astype(np.uint8))


def test_float_tiff_in_0_1_is_scaled_by_255_not_cut_to_black(tmp_path):
    samples = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    path = _save(samples, tmp_path / "unit.tif")
    np.testing.assert_array_equal(_gray(read_image(path)), np.rint(samples * 255).astype(np.uint8))


@pytest.mark.parametrize("samples", [
    np.array([[-2.0, -1.0], [0.0, 2.0]], np.float32),      # float outside [0, 1]
    np.array([[-300, 0], [100, 700]], np.int32),           # 32-bit integers outside 0..65535
], ids=["float", "int32"])
def test_samples_outside_their_usual_range_are_stretched_min_to_max(tmp_path, samples):
    path = _save(samples, tmp_path / "wide.tif")
    expected = np.rint((samples - samples.min()) * 255.0 / (samples.max() - samples.min())).astype(np.uint8)
    np.testing.assert_array_equal(_gray(read_image(path)), expected)


def test_32_bit_integers_within_16_bits_read_as_16_bit(tmp_path):
    samples = np.array([[0, 255, 256], [4096, 40000, 65535]], np.int32)
    path = _save(samples, tmp_path / "int.tif")
    np.testing.assert_array_equal(_gray(read_image(path)), (samples >> 8).astype(np.uint8))


def test_float_image_with_nan_is_refused(tmp_path):
    path = _save(np.array([[0.5, np.nan]], np.float32), tmp_path / "nan.tif")
    with pytest.raises(ImageError, match="nan.tif: has NaN or infinite"):
        read_image(path)


def _with_orientation(array, orientation, path, **params):
    from PIL import Image

    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    return _save(image, path, exif=exif, **params)


# What a viewer shows for each EXIF orientation of the stored pixels (EXIF 2.3, tag 0x0112).
UPRIGHT = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (5, 8, 3), dtype=np.uint8)
    path = _with_orientation(stored, orientation, tmp_path / "oriented.png")
    np.testing.assert_array_equal(read_image(path), UPRIGHT[orientation](stored))


def test_phone_jpeg_with_orientation_6_reads_upright(tmp_path):
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:16, :16] = 255  # a white corner at the stored top left ...
    image = read_image(_with_orientation(stored, 6, tmp_path / "phone.jpg", quality=100))
    assert image.shape == (80, 40, 3)
    assert image[:16, -16:].mean() > 250 and image[-16:, :16].mean() < 5  # ... is the viewed top right


def png_claiming(width, height, path):
    """A tiny PNG whose header says width x height (the IHDR patched, its CRC fixed): a
    decoder that trusts it allocates width * height before finding the data short."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR data starts after signature, length, type
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    from PIL import ImageFile

    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or real_load(self))
    path = png_claiming(9000, 9000, tmp_path / "huge.png")
    with pytest.raises(ImageError, match="huge.png: 9000x9000 is over the limit of 64000000 pixels"):
        read_image(path)
    assert decoded == []
    from edgeface.image import probe_image

    assert probe_image(png_claiming(30, 20, tmp_path / "small.png")) == (30, 20) and decoded == []


def test_pillow_global_limit_is_left_alone_and_still_applies(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # the application's choice: refuse over 100 pixels
    path = _save(np.zeros((8, 8, 3), np.uint8), tmp_path / "ok.png")
    assert read_image(path, max_pixels=1000).shape == (8, 8, 3)
    assert Image.MAX_IMAGE_PIXELS == 50
    with pytest.raises(ImageError, match="big.png: over the limit of Pillow's decompression bomb check"):
        read_image(_save(np.zeros((20, 20, 3), np.uint8), tmp_path / "big.png"), max_pixels=1000)
    with pytest.raises(ImageError, match="over the limit of 10 pixels"):
        read_image(path, max_pixels=10)
    assert Image.MAX_IMAGE_PIXELS == 50


def test_multi_frame_files_read_their_first_frame(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (6, 4), color) for color in ((255, 0, 0), (0, 0, 255))]
    for name in ("anim.gif", "pages.tif"):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:])
        with Image.open(tmp_path / name) as img:
            assert img.n_frames == 2
        np.testing.assert_array_equal(read_image(tmp_path / name)[0, 0], (255, 0, 0))


def test_eps_is_refused_without_running_ghostscript(tmp_path):
    eps = tmp_path / "figure.eps"
    eps.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(ImageError, match="figure.eps: EPS images are decoded by running an outside program"):
        read_image(eps)


def test_tiff_with_float_strip_offsets_is_an_image_error(tmp_path):
    import io
    import struct

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, ifd)[0]):
        if struct.unpack_from("<H", data, ifd + 2 + 12 * entry)[0] == 273:  # StripOffsets
            struct.pack_into("<H", data, ifd + 4 + 12 * entry, 11)  # its type: FLOAT
    (tmp_path / "odd.tif").write_bytes(bytes(data))
    with pytest.raises(ImageError, match="odd.tif: cannot decode this image"):
        read_image(tmp_path / "odd.tif")


def _encoded(fmt, mode):
    import io

    from PIL import Image

    rgb = np.random.default_rng(3).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


SEEDS = [_encoded(fmt, mode) for fmt, mode in
         [("PNG", "RGB"), ("PNG", "I;16"), ("JPEG", "RGB"), ("GIF", "P"), ("TIFF", "RGB"), ("TIFF", "F"),
          ("BMP", "RGB"), ("WEBP", "RGB")]]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                                        min_size=1, max_size=8),
       st.floats(0.05, 1))
def test_damaged_files_give_rgb_or_image_error(tmp_path_factory, seed, changes, kept):
    data = bytearray(seed)
    for where, value in changes:
        data[int(where * len(data))] = value
    path = tmp_path_factory.mktemp("damaged") / "x.img"
    path.write_bytes(bytes(data[:max(1, int(kept * len(data)))]))
    try:
        image = read_image(path)
    except ImageError as exc:
        assert str(path) in str(exc)
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_read_image_refuses_what_is_not_a_regular_file(tmp_path):
    with pytest.raises(ImageError, match="not a regular file"):
        read_image("/dev/zero")
    with pytest.raises(ImageError, match="not a regular file"):
        read_image(tmp_path)
