"""The parity suite: the Python SDK on its two runtimes, ``runtime="python"`` (numpy +
LiteRT) and ``runtime="native"`` (the C++ core phones run, through its C interface), over
the same bundles and images must give the same faces: as many, boxes and keypoints within
0.5 px, embeddings at cosine >= 0.9999, the same verify decisions and the same identities.

Bundles: the fixture bundles (float and int8 blob detectors, tests/fixtures/README.md) on
drawn squares, and the default pretrained bundle (BlazeFace + dlib ResNet, int8 where its
gate passed) on real faces: scikit-image's astronaut, scaled, mirrored and framed, and
LFW faces (``skimage.data.lfw_subset``) upscaled onto canvases as main_job.py does.

The reference is the SDK's numpy resize and warp, which the native core follows (as the
vision goldens do): with OpenCV installed the Python SDK resizes and warps through it in
fixed point, within one grey level, and the int8 dlib embedder turns that into a cosine of
about 0.9998 between the SDK's own two paths; the native core stays as close to the
OpenCV path as the numpy path is (the last test here).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface import FaceAnalyzer, Gallery
from edgeface.align import warp_affine as sdk_warp_affine  # before the fixture below swaps it
from edgeface.errors import BackendUnavailableError, ChecksumError, EdgefaceError, ImageError, ManifestError
from tests.conftest import FIXTURES, blob_image
from tests.native_support import build_trees

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

pytestmark = pytest.mark.slow
BOX_PX = 0.5
MIN_COSINE = 0.9999


@pytest.fixture(scope="module", autouse=True)
def native_library():
    return build_trees()["release"] / "src" / "core" / "libedgeface.so"


@pytest.fixture(autouse=True)
def numpy_paths(monkeypatch):
    """The Python SDK's numpy resize and warp (the reference the native core mirrors),
    whether or not OpenCV is installed."""
    import edgeface.align
    import edgeface.preprocess

    monkeypatch.setattr(edgeface.align, "warp_affine", edgeface.align.warp_affine_numpy)
    monkeypatch.setattr(edgeface.preprocess, "_cv2", None)


def both(bundle, **options) -> tuple[FaceAnalyzer, FaceAnalyzer]:
    return (FaceAnalyzer.create_from_bundle(bundle, runtime="python", **options),
            FaceAnalyzer.create_from_bundle(bundle, runtime="native", **options))


def assert_same_faces(python: FaceAnalyzer, native: FaceAnalyzer, image: np.ndarray, what: str) -> int:
    expected, got = python.detect_arrays(image), native.detect_arrays(image)
    assert len(got) == len(expected), f"{what}: {len(got)} faces natively, {len(expected)} in Python"
    assert got.keypoint_names == expected.keypoint_names, what
    if len(expected):
        np.testing.assert_allclose(got.boxes, expected.boxes, atol=BOX_PX, err_msg=what)
        np.testing.assert_allclose(got.keypoints, expected.keypoints, atol=BOX_PX, err_msg=what)
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-3, err_msg=what)
    if python.has_embedder and len(expected):
        cosine = np.sum(python.embed_faces(image, expected) * native.embed_faces(image, expected), axis=1)
        assert cosine.min() >= MIN_COSINE, f"{what}: embedding cosine {cosine.min():.6f}"
    return len(expected)


# ------------------------------------------------------------------ fixture bundles

SQUARES = {
    "one face": ((200, 200, 80),),
    "two faces": ((200, 200, 80), (440, 280, 80)),
    "at the edge": ((30, 470, 64), (620, 20, 48)),
    "large": ((320, 240, 300),),
    "none": (),
}


@pytest.mark.parametrize("bundle", ["blob_blazeface", "blob_blazeface_int8", "blob_detector_only"])
def test_fixture_bundles_find_the_same_faces(bundle):
    python, native = both(FIXTURES / bundle)
    found = 0
    for name, squares in SQUARES.items():
        found += assert_same_faces(python, native, blob_image(squares=squares), f"{bundle}, {name}")
        portrait = blob_image(width=480, height=640, squares=squares)
        found += assert_same_faces(python, native, portrait, f"{bundle}, {name}, portrait")
    assert found >= 12  # the cases are not all empty


def test_top_left_sampling_finds_the_same_faces(bundle_copy):
    """A detector resized as MediaPipe's ImageToTensor samples (``input.sampling: top_left``)
    runs alike on both runtimes, and differently from half-pixel sampling."""
    import json

    bundle = bundle_copy()
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"]["detector"]["input"]["sampling"] = "top_left"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    python, native = both(bundle)
    found = sum(assert_same_faces(python, native, blob_image(width=w, height=h, squares=SQUARES["two faces"]),
                                  f"top-left, {w}x{h}") for w, h in ((640, 480), (517, 389)))
    assert found == 4
    half_pixel = FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface", runtime="python")
    image = blob_image(width=517, height=389, squares=SQUARES["two faces"])
    assert not np.allclose(half_pixel.detect_arrays(image).boxes, python.detect_arrays(image).boxes, atol=1e-3)


def test_options_reach_the_native_core():
    squares = SQUARES["two faces"]
    python, native = both(FIXTURES / "blob_blazeface", max_faces=1, score_threshold=0.9, flip_average=True)
    assert assert_same_faces(python, native, blob_image(squares=squares), "max_faces=1") == 1


# ------------------------------------------------------------------ real faces, default bundle

def real_images() -> dict[str, np.ndarray]:
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[:, 80:560] = np.asarray(Image.fromarray(astronaut).resize((480, 480), Image.BILINEAR))
    images = {"astronaut": astronaut, "astronaut mirrored small": np.ascontiguousarray(astronaut[::2, ::-2]),
              "astronaut in a 640x480 frame": frame, "astronaut upside down": np.ascontiguousarray(astronaut[::-1])}
    lfw = data.lfw_subset()
    for i in range(4):  # the subset's first 100 images are faces, 25x25 grey
        canvas = Image.new("RGB", (400, 400))
        face = Image.fromarray((lfw[i] * 255).astype(np.uint8)).convert("RGB").resize((200, 200), Image.BICUBIC)
        canvas.paste(face, (60 + 20 * i, 100))
        images[f"lfw face {i}"] = np.asarray(canvas)
    return images


@pytest.fixture(scope="module")
def default_pair(default_bundle):
    return both(default_bundle)


def test_default_bundle_finds_and_embeds_real_faces_alike(default_pair):
    python, native = default_pair
    found = sum(assert_same_faces(python, native, image, name) for name, image in real_images().items())
    assert found >= 5


def test_the_tiled_search_finds_the_same_faces_in_group_photos(default_bundle):
    """search="all" over bench_photos' composites (real faces 40-300 px on 1280x960
    scenes): the native pyramid of tiles is the Python one, and finds what one pass misses."""
    import bench_photos

    python, native = both(default_bundle, search="all")
    one_pass = FaceAnalyzer.create_from_bundle(default_bundle, runtime="native", search="whole")
    found = missed_by_one_pass = 0
    for i, photo in enumerate(bench_photos.composites(2, seed=3)):
        found += assert_same_faces(python, native, photo.image, f"composite {i}")
        missed_by_one_pass += len(photo.faces) - len(one_pass.detect_arrays(photo.image))
    assert found >= 6 and missed_by_one_pass >= 4, (found, missed_by_one_pass)


def test_default_bundle_verifies_and_identifies_alike(default_pair, tmp_path):
    python, native = default_pair
    images = real_images()
    pairs = [("astronaut", "astronaut mirrored small"), ("astronaut", "astronaut in a 640x480 frame"),
             ("astronaut", "lfw face 0"), ("lfw face 0", "lfw face 1"), ("lfw face 2", "lfw face 3")]
    for a, b in pairs:
        expected, got = python.verify(images[a], images[b]), native.verify(images[a], images[b])
        assert got.is_same == expected.is_same, (a, b, expected, got)
        # each runtime aligns by its own keypoints (within 0.5 px of the other's)
        assert abs(got.similarity - expected.similarity) < 5e-3, (a, b, expected, got)
    people = {"astronaut": "astronaut", "lfw 0": "lfw face 0", "lfw 1": "lfw face 1", "lfw 2": "lfw face 2"}
    for runtime, analyzer in (("python", python), ("native", native)):
        analyzer.use_gallery(Gallery(analyzer.embedding_size, tmp_path / f"{runtime}.efg"))
        for name, image in people.items():
            analyzer.enroll(name, [images[image]])
    threshold = python.threshold
    for name, image in images.items():
        expected, got = python.identify(image, top_k=3), native.identify(image, top_k=3)
        assert len(got) == len(expected), name
        for mine, theirs in zip(got, expected):
            # the same identities, except where a similarity is within the runtimes' own
            # difference of the threshold (one side may keep it, the other not)
            clear = {m.identity for m in theirs.matches if abs(m.similarity - threshold) > 5e-3}
            assert clear <= {m.identity for m in mine.matches}, (name, mine.matches, theirs.matches)
            clear = {m.identity for m in mine.matches if abs(m.similarity - threshold) > 5e-3}
            assert clear <= {m.identity for m in theirs.matches}, (name, mine.matches, theirs.matches)
            if theirs.matches and mine.matches:
                assert mine.matches[0].identity == theirs.matches[0].identity, name


def test_with_opencv_the_native_core_is_as_close_as_the_sdks_own_numpy_path(default_pair, monkeypatch):
    import edgeface.align

    cv2 = pytest.importorskip("cv2")
    python, native = default_pair
    image = real_images()["astronaut"]
    faces = python.detect_arrays(image)
    numpy_path, native_path = python.embed_faces(image, faces), native.embed_faces(image, faces)
    monkeypatch.setattr(edgeface.align, "warp_affine", sdk_warp_affine)
    monkeypatch.setattr(edgeface.align, "_cv2", cv2)
    opencv_path = python.embed_faces(image, faces)
    assert np.sum(native_path * numpy_path) >= MIN_COSINE
    assert np.sum(native_path * opencv_path) >= np.sum(numpy_path * opencv_path) - 1e-5 > 0.999


# ------------------------------------------------------------------ errors, as the SDK's

def test_native_errors_are_the_sdks(tmp_path, bundle_copy):
    native = FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface", runtime="native")
    with pytest.raises(ImageError):
        native.detect_arrays(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(EdgefaceError, match="embed_chips"):
        native.embed_chips(np.zeros((1, 112, 112, 3), np.uint8))
    tampered = bundle_copy()
    (tampered / "detector.tflite").write_bytes((tampered / "detector.tflite").read_bytes()[:-1] + b"\0")
    from edgeface.bundle import load_bundle
    from edgeface.engine import create_engine
    from edgeface.analyzer import FaceAnalyzerOptions

    # the Python loader checks hashes when a model is read; the native core reads its own
    with pytest.raises(ChecksumError):
        create_engine(load_bundle(tampered), FaceAnalyzerOptions(bundle=tampered, runtime="native"))
    with pytest.raises(BackendUnavailableError, match="tflite"):
        FaceAnalyzer.create_from_bundle(FIXTURES / "blob_scrfd_onnx", runtime="native")
    auto = FaceAnalyzer.create_from_bundle(FIXTURES / "blob_scrfd_onnx", runtime="auto")
    assert auto.detector is not None  # auto falls back to the Python runtime
    with pytest.raises(EdgefaceError, match="runtime='fast'"):
        FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface", runtime="fast")


def test_a_missing_library_is_a_clear_error(monkeypatch, tmp_path):
    from edgeface.runtime import native_core

    monkeypatch.setenv(native_core.LIBRARY_ENV, str(tmp_path / "libedgeface.so"))
    with pytest.raises(BackendUnavailableError, match="not built: build it with python3 scripts/native_build.py"):
        FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface", runtime="native")
    assert FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface", runtime="auto").detector is not None


def test_auto_takes_python_for_chips_aligned_at_another_size(bundle_copy):
    """The Python SDK resizes such chips to the embedder's input; the native core warps at
    the input size, so "native" refuses the bundle and "auto" runs it in Python."""
    import json

    bundle = bundle_copy()
    manifest = json.loads((bundle / "manifest.json").read_text())
    alignment = manifest["models"]["embedder"]["alignment"]
    alignment["width"] *= 2
    alignment["height"] *= 2
    alignment["template"] = {name: [2 * x, 2 * y] for name, (x, y) in alignment["template"].items()}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackendUnavailableError, match="does not resize them"):
        FaceAnalyzer.create_from_bundle(bundle, runtime="native")
    auto = FaceAnalyzer.create_from_bundle(bundle, runtime="auto")
    assert auto.embedder is not None and len(auto.analyze(blob_image(squares=SQUARES["one face"]))) == 1


def test_a_broken_manifest_field_reaches_python_with_its_path(tmp_path, bundle_copy):
    import json

    broken = bundle_copy()
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["models"]["detector"]["decoder"]["outputs"]["boxes"] = "no such tensor"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="models.detector.decoder.outputs.boxes"):
        FaceAnalyzer.create_from_bundle(broken, runtime="native")
