"""The SDK's public array path: ``Detections``, ``FaceAnalyzer.detect_arrays`` and
``embed_faces`` under the per-face verbs, ``identify``'s faces, frozen options, and the
detector on any runner (``edgeface.detect.Runner``).

The fixture bundles and images are those of tests/test_analyzer.py.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeface import FaceAnalyzer, FaceAnalyzerOptions
from edgeface.detect import Detector
from edgeface.errors import BundleError, EdgefaceError
from edgeface.gallery import Match
from edgeface.results import Detection, Detections, Face
from tests.conftest import blob_image
from tests.test_analyzer import SQUARE, textured

TWO = SQUARE + ((440, 280, 80),)


@pytest.fixture(scope="module")
def analyzer():
    from tests.conftest import FIXTURES

    return FaceAnalyzer.create_from_bundle(FIXTURES / "blob_blazeface")


def test_detect_arrays_hold_what_detect_returns(analyzer):
    image = blob_image(squares=TWO)
    found = analyzer.detect_arrays(image)
    assert found.boxes.shape == (2, 4) and found.scores.shape == (2,) and found.keypoints.shape == (2, 6, 2)
    assert found.keypoint_names == analyzer.keypoint_names
    assert found.keypoint_names == ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")
    assert list(found.scores) == sorted(found.scores, reverse=True)  # best first
    assert found.faces() == analyzer.detect(image)
    assert len(analyzer.detect_arrays(np.zeros((480, 640, 3), np.uint8))) == 0


def test_detect_arrays_take_the_color_flag(analyzer):
    rgb = textured(3, SQUARE)
    a, b = analyzer.detect_arrays(rgb), analyzer.detect_arrays(rgb[:, :, ::-1].copy(), color="bgr")
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_embed_faces_gives_analyzes_embeddings(analyzer):
    image = textured(4, TWO)
    found = analyzer.detect_arrays(image)
    embeddings = analyzer.embed_faces(image, found)
    faces = analyzer.analyze(image)
    assert embeddings.shape == (2, analyzer.embedder.dim)
    np.testing.assert_array_equal(embeddings, np.stack([f.embedding for f in faces]))
    np.testing.assert_array_equal(embeddings, analyzer.embed(image))
    # any subset, in any order: each face is embedded on its own
    np.testing.assert_array_equal(analyzer.embed_faces(image, found.take(np.array([1, 0]))), embeddings[::-1])
    assert analyzer.embed_faces(image, found.take(np.array([], np.intp))).shape == (0, analyzer.embedder.dim)


def test_embed_faces_needs_an_embedder(fixture_bundle):
    detector_only = FaceAnalyzer.create_from_bundle(fixture_bundle("blob_detector_only"))
    image = blob_image(squares=SQUARE)
    found = detector_only.detect_arrays(image)
    assert detector_only.has_detector and not detector_only.has_embedder
    with pytest.raises(BundleError, match="no embedder"):
        detector_only.embed_faces(image, found)


@pytest.mark.parametrize("change", ["names", "points", "type"])
def test_embed_faces_refuses_keypoints_it_cannot_align(analyzer, change):
    image = textured(4, SQUARE)
    found = analyzer.detect_arrays(image)
    bad = {"names": Detections(found.boxes, found.scores, found.keypoints, found.keypoint_names[::-1]),
           "points": Detections(found.boxes, found.scores, found.keypoints[:, :5]),
           "type": found.faces()}[change]
    with pytest.raises(EdgefaceError, match="^detections: "):
        analyzer.embed_faces(image, bad)
    unnamed = Detections(found.boxes, found.scores, found.keypoints)  # names are optional
    np.testing.assert_array_equal(analyzer.embed_faces(image, unnamed), analyzer.embed_faces(image, found))


def test_identify_returns_faces_with_their_matches(tmp_path, fixture_bundle):
    analyzer = FaceAnalyzer.create_from_bundle(fixture_bundle(), gallery=tmp_path / "people.efg")
    for seed, name in [(1, "ann"), (2, "bob"), (3, "cy")]:
        analyzer.enroll(name, [textured(seed, SQUARE)])
    (face,) = analyzer.identify(textured(2, ((440, 280, 80),)), top_k=3)
    assert isinstance(face, Face)
    assert face.matches[0] == Match("bob", pytest.approx(1.0, abs=1e-4))
    assert [m.similarity for m in face.matches] == sorted((m.similarity for m in face.matches), reverse=True)
    assert (face.identity, face.similarity) == (face.matches[0].identity, face.matches[0].similarity)
    same, matches = face  # the (face, matches) pair identify returned before
    assert same is face and matches == list(face.matches)
    (analyzed,) = analyzer.analyze(textured(2, ((440, 280, 80),)))
    assert analyzed.matches == face.matches[:1] and analyzed == face


def test_a_face_without_a_gallery_has_no_matches(analyzer):
    (face,) = analyzer.analyze(textured(1, SQUARE))
    assert face.matches == () and face.identity is None and list(face) == [face, []]


def test_options_are_frozen_and_replaced_not_edited(fixture_bundle):
    options = FaceAnalyzerOptions(bundle=fixture_bundle())
    analyzer = FaceAnalyzer.create_from_options(options)
    with pytest.raises(dataclasses.FrozenInstanceError):
        analyzer.options.max_faces = 1
    one = FaceAnalyzer.create_from_options(dataclasses.replace(options, max_faces=1))
    image = blob_image(squares=TWO)
    assert (len(analyzer.detect_arrays(image)), len(one.detect_arrays(image))) == (2, 1)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 4), st.integers(0, 6), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_faces_are_the_rows_of_the_arrays(n, p, named, seed):
    rng = np.random.default_rng(seed)
    names = tuple(f"k{i}" for i in range(p)) if named else ()
    found = Detections(rng.uniform(0, 640, (n, 4)).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32),
                       rng.uniform(0, 640, (n, p, 2)).astype(np.float32), names)
    faces = found.faces()
    assert len(faces) == n and all(type(f) is Detection for f in faces)
    for i, face in enumerate(faces):
        b = face.bbox
        np.testing.assert_array_equal([b.x1, b.y1, b.x2, b.y2], found.boxes[i])
        assert face.score == found.scores[i]
        np.testing.assert_array_equal(face.keypoint_array(), found.keypoints[i].reshape(-1, 2))
        assert [k.name for k in face.keypoints] == list(names or (f"point_{j}" for j in range(p)))
    picked = found.take(np.arange(n)[::-1])
    assert picked.keypoint_names == names and picked.faces() == faces[::-1]


class OneAtATime:
    """A runner that takes any batch by running the bundle's batch-1 model on each image,
    and counts its calls: stands in for a Keras model or any other ``run``."""

    def __init__(self, model):
        self.model, self.outputs, self.calls = model, model.outputs, 0

    def run(self, x):
        self.calls += 1
        per_image = [self.model.run(x[i:i + 1]) for i in range(len(x))]
        return [np.concatenate(parts) for parts in zip(*per_image)]


def test_the_detector_runs_any_runner_one_image_or_a_batch(analyzer):
    runner = OneAtATime(analyzer.detector.model)
    detector = Detector(runner, analyzer.bundle.manifest.detector)
    images = [blob_image(squares=TWO), np.zeros((480, 640, 3), np.uint8), blob_image(width=480, height=640,
                                                                                   squares=((200, 120, 80),))]
    expected = [analyzer.detect_arrays(image) for image in images]
    assert [d.faces() for d in map(detector.detect, images)] == [e.faces() for e in expected]
    runner.calls = 0
    batched = detector.detect_batch(images, batch=2)
    assert runner.calls == 2 and [d.faces() for d in batched] == [e.faces() for e in expected]


def test_decode_without_a_placement_stays_normalised(analyzer):
    """The converter's fidelity check decodes outputs it computed itself, in the model's
    own coordinates: the same faces as detect, before they are mapped back."""
    image = blob_image(squares=SQUARE)
    detector = analyzer.detector
    batch, placement = detector.preprocess(image)
    normalised = detector.decode(detector.model.run(batch))
    assert normalised.keypoint_names == analyzer.keypoint_names
    back = placement.to_original(normalised.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    np.testing.assert_allclose(back, analyzer.detect_arrays(image).boxes, rtol=0, atol=1e-4)
    assert ((normalised.boxes >= -0.5) & (normalised.boxes <= 1.5)).all()
