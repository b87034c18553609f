"""FaceAnalyzer end to end on the fixture bundles, with answers predictable by hand.

The fixture blob detector fires on white 8x8 / 16x16 cells of its 128x128 input and
regresses a fixed 24-pixel box (see tests/fixtures/README.md). A 640x480 frame is
letterboxed at scale 0.2 with 16 rows of padding on top, so the white square covering
original pixels 160..240 covers model pixels 32..48 x 48..64: four stride-8 cells and one
stride-16 cell, whose 14 anchors (2 per stride-8 cell, 6 on the stride-16 cell) blend
(weighted NMS) into one face centred at (200, 200) with a 120-pixel box.
"""

import numpy as np
import pytest

from edgeface import FaceAnalyzer, FaceAnalyzerOptions
from edgeface.analyzer import NoFaceError
from edgeface.errors import BundleError, GalleryError, ImageError
from tests.conftest import blob_image

SQUARE = ((200, 200, 80),)


def textured(seed, squares, width=640, height=480):
    """White-ish squares whose 4x4 block texture depends on ``seed`` (an 'identity')."""
    image = np.zeros((height, width, 3), np.uint8)
    blocks = np.random.default_rng(seed).integers(205, 256, (4, 4, 3)).astype(np.uint8)
    for cx, cy, side in squares:
        h = side // 2
        image[cy - h:cy + h, cx - h:cx + h] = np.kron(blocks, np.ones((side // 4, side // 4, 1), np.uint8))
    return image


@pytest.fixture(scope="module")
def analyzer():
    from tests.conftest import FIXTURES

    return FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface")


def test_detect_maps_back_to_original_pixels(analyzer):
    faces = analyzer.detect(blob_image(squares=SQUARE))
    assert len(faces) == 1
    face = faces[0]
    b = face.bbox
    assert face.score > 0.99
    np.testing.assert_allclose([(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2], [200, 200], atol=1.0)
    np.testing.assert_allclose([b.width, b.height], [120, 120], atol=1.0)
    names = [k.name for k in face.keypoints]
    assert names == ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"]
    np.testing.assert_allclose(face.keypoint_array()[0], [200 - 25, 200 - 20], atol=1.0)


def test_detect_two_faces_and_none(analyzer):
    faces = analyzer.detect(blob_image(squares=SQUARE + ((440, 280, 80),)))
    centres = sorted(((f.bbox.x1 + f.bbox.x2) / 2, (f.bbox.y1 + f.bbox.y2) / 2) for f in faces)
    np.testing.assert_allclose(centres, [(200, 200), (440, 280)], atol=1.0)
    assert analyzer.detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_portrait_and_tiny_images(analyzer):
    # 480x640 portrait: scale 0.2, padding 16 columns on the left
    image = blob_image(width=480, height=640, squares=((160 + 40, 80 + 40, 80),))
    (face,) = analyzer.detect(image)
    np.testing.assert_allclose([(face.bbox.x1 + face.bbox.x2) / 2, (face.bbox.y1 + face.bbox.y2) / 2],
                               [200, 120], atol=1.0)
    assert analyzer.detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_color_flags_give_the_same_faces(analyzer):
    rgb = textured(3, SQUARE)
    expected = analyzer.detect(rgb)
    assert analyzer.detect(rgb[:, :, ::-1].copy(), color="bgr") == expected
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert analyzer.detect(rgba, color="rgba") == expected
    assert len(analyzer.detect(rgb.max(axis=2), color="gray")) == 1


def test_bad_images_raise_image_error(analyzer):
    with pytest.raises(ImageError):
        analyzer.detect(np.zeros((480, 640, 3), np.float32))
    with pytest.raises(ImageError):
        analyzer.detect(np.zeros((0, 640, 3), np.uint8))
    small = FaceAnalyzer.create_from_options(
        FaceAnalyzerOptions(bundle=analyzer.bundle.location, max_image_pixels=1000))
    with pytest.raises(ImageError, match="over the limit"):
        small.detect(np.zeros((480, 640, 3), np.uint8))


def test_options_override_threshold_and_max_faces(fixture_bundle):
    image = blob_image(squares=SQUARE + ((440, 280, 80),))
    one = FaceAnalyzer.create_from_bundle(fixture_bundle(), max_faces=1)
    assert len(one.detect(image)) == 1
    strict = FaceAnalyzer.create_from_bundle(fixture_bundle(), score_threshold=0.999)
    assert strict.detect(image) == []


def test_int8_bundle_matches_float(fixture_bundle):
    image = blob_image(squares=SQUARE)
    fp32 = FaceAnalyzer.create_from_bundle(fixture_bundle())
    int8 = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_blazeface_int8"))
    (a,), (b,) = fp32.detect(image), int8.detect(image)
    np.testing.assert_allclose([b.bbox.x1, b.bbox.y1, b.bbox.x2, b.bbox.y2],
                               [a.bbox.x1, a.bbox.y1, a.bbox.x2, a.bbox.y2], atol=3.0)
    assert abs(a.score - b.score) < 0.02
    chips = np.random.default_rng(0).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    cos = np.sum(fp32.embed_chips(chips) * int8.embed_chips(chips), axis=1)
    assert cos.min() > 0.95


def test_scrfd_onnx_bundle(fixture_bundle):
    analyzer = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_scrfd_onnx"))
    faces = analyzer.analyze(blob_image(squares=((256, 256, 128),)))
    assert faces and len(faces[0].keypoints) == 5
    b = faces[0].bbox
    assert b.x1 < 256 < b.x2 and b.y1 < 256 < b.y2
    assert faces[0].embedding.shape == (128,)
    assert np.linalg.norm(faces[0].embedding) == pytest.approx(1.0, abs=1e-5)


def test_embeddings_are_unit_batched_and_order_independent(analyzer):
    chips = np.random.default_rng(1).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    batch = analyzer.embed_chips(chips)
    single = np.concatenate([analyzer.embed_chips(chips[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_flip_average_is_mirror_invariant(fixture_bundle):
    flip = FaceAnalyzer.create_from_bundle(fixture_bundle(), flip_average=True)
    chips = np.random.default_rng(2).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(flip.embed_chips(chips), flip.embed_chips(chips[:, :, ::-1]), atol=1e-5)


def test_same_identity_elsewhere_matches_other_identity_does_not(analyzer):
    a_here, a_there = textured(1, SQUARE), textured(1, ((440, 280, 80),))
    b_here = textured(2, SQUARE)
    same = analyzer.verify(a_here, a_there)
    other = analyzer.verify(a_here, b_here)
    assert same.similarity == pytest.approx(1.0, abs=1e-4) and same.is_same
    assert other.similarity < same.similarity - 0.001


def test_verify_without_a_face(analyzer):
    with pytest.raises(NoFaceError, match="image B: no face found"):
        analyzer.verify(textured(1, SQUARE), np.zeros((480, 640, 3), np.uint8))


def test_enroll_identify_and_persist(tmp_path, fixture_bundle):
    path = tmp_path / "people.efg"
    analyzer = FaceAnalyzer.create_from_bundle(fixture_bundle(), gallery=path)
    for seed, name in [(1, "ann"), (2, "bob"), (3, "cy")]:
        analyzer.enroll(name, [textured(seed, SQUARE)])
    analyzer.gallery.save()
    reopened = FaceAnalyzer.create_from_bundle(fixture_bundle(), gallery=path)
    ((face, matches),) = reopened.identify(textured(2, ((440, 280, 80),)), top_k=3)
    assert matches[0].identity == "bob" and matches[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert face.identity == "bob"
    assert [f.identity for f in reopened.analyze(textured(3, SQUARE))] == ["cy"]


def test_gallery_of_another_embedding_size_is_refused(tmp_path, fixture_bundle):
    from edgeface.gallery import Gallery

    path = tmp_path / "wide.efg"
    wide = Gallery(dim=512, path=path)
    wide.enroll("x", np.ones(512, np.float32))
    wide.save()
    with pytest.raises(GalleryError, match="512"):
        FaceAnalyzer.create_from_bundle(fixture_bundle(), gallery=path)


ANOTHER_EMBEDDER = ("people.efg was enrolled with embedder 'fixture-blob-blazeface' \\(sha256 91d18f0ef816\\), not "
                    "this bundle's 'fixture-blob-blazeface-int8' \\(sha256 bfa1f713a0b9\\): re-enroll the gallery "
                    "with this bundle, or use the bundle that made it")


def test_gallery_of_another_embedder_of_the_same_size_is_refused(tmp_path, fixture_bundle):
    path = tmp_path / "people.efg"
    made = FaceAnalyzer.create_from_bundle(fixture_bundle(), gallery=path)
    made.enroll("ann", [textured(1, SQUARE)])
    made.gallery.save()
    other = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_blazeface_int8"))
    assert other.embedding_size == made.embedding_size  # only the fingerprint tells them apart
    with pytest.raises(GalleryError, match=ANOTHER_EMBEDDER):
        FaceAnalyzer.create_from_bundle(fixture_bundle("blob_blazeface_int8"), gallery=path)
    with pytest.raises(GalleryError, match=ANOTHER_EMBEDDER):
        other.open_gallery(path)
    with pytest.raises(GalleryError, match=ANOTHER_EMBEDDER):
        other.use_gallery(made.gallery)
    with pytest.raises(GalleryError, match=ANOTHER_EMBEDDER):  # a gallery shared in memory
        made.gallery.enroll("bob", other.embed(textured(2, SQUARE)), embedder=other.embedder_fingerprint)
    assert made.gallery.identities() == [("ann", 1)]


def test_a_gallery_from_before_fingerprints_takes_the_first_enrolling_embedder(tmp_path, fixture_bundle):
    from edgeface.gallery import Gallery

    path = tmp_path / "people.efg"
    made = FaceAnalyzer.create_from_bundle(fixture_bundle())
    old = Gallery(made.embedding_size, path)  # what edgeface wrote before: no fingerprint
    old.enroll("ann", made.embed(textured(1, SQUARE)))
    old.save()
    before = path.read_bytes()
    reader = FaceAnalyzer.create_from_bundle(fixture_bundle(), gallery=path)
    assert [f.identity for f in reader.analyze(textured(1, SQUARE))] == ["ann"]
    assert path.read_bytes() == before  # identifying writes nothing
    reader.enroll("bob", [textured(2, SQUARE)])
    reader.gallery.save()
    assert Gallery.open(path).embedder == made.embedder_fingerprint
    with pytest.raises(GalleryError, match=ANOTHER_EMBEDDER):
        FaceAnalyzer.create_from_bundle(fixture_bundle("blob_blazeface_int8"), gallery=path)


def test_detector_only_bundle_refuses_embedding(fixture_bundle):
    analyzer = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_detector_only"))
    assert len(analyzer.detect(blob_image(squares=SQUARE))) == 1
    with pytest.raises(BundleError, match="no embedder"):
        analyzer.embed(blob_image(squares=SQUARE))
