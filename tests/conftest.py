import shutil
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "bundles"


@pytest.fixture
def fixture_bundle():
    """Path of a checked-in fixture bundle (see tests/fixtures/README.md)."""

    def get(name: str = "blob_blazeface") -> Path:
        return FIXTURES / name

    return get


@pytest.fixture
def bundle_copy(tmp_path, fixture_bundle):
    """A writable copy of a fixture bundle, for tests that damage it."""

    def copy(name: str = "blob_blazeface") -> Path:
        return Path(shutil.copytree(fixture_bundle(name), tmp_path / name))

    return copy


def blob_image(width=640, height=480, squares=((320, 240, 64),), value=255):
    """A black image with white squares given as (centre x, centre y, side)."""
    image = np.zeros((height, width, 3), np.uint8)
    for cx, cy, side in squares:
        h = side // 2
        image[max(cy - h, 0):cy + h, max(cx - h, 0):cx + h] = value
    return image


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """One model cache ($EDGEFACE_CACHE) for the whole run: pretrained models are
    downloaded from the registry and built once, then reused by every test module."""
    root = tmp_path_factory.mktemp("edgeface-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEFACE_CACHE", str(root))
        yield root


@pytest.fixture(scope="session")
def default_bundle(cache):
    """The default pretrained bundle (BlazeFace + dlib ResNet), built once per run."""
    from edgeface.pretrained import fetch_model

    return fetch_model("default")


@pytest.fixture(scope="session")
def mesh_analyzer(cache):
    """An analyzer over the face-mesh bundle (BlazeFace + MediaPipe's face mesh), one
    whole-image detection pass per image."""
    from edgeface.analyzer import FaceAnalyzer
    from edgeface.pretrained import fetch_model

    return FaceAnalyzer.create_from_bundle(fetch_model("face-mesh"), search="whole")


@pytest.fixture(scope="session")
def mesh_photo(mesh_analyzer):
    """The astronaut, her landmarks, and her face as a model to re-render
    (edgeface.eval.render_face) at known poses and expressions."""
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("scipy.spatial")
    from edgeface.eval.render_face import FaceModel

    image = skimage_data.astronaut()
    landmarks = mesh_analyzer.landmarks_arrays(image)
    return image, landmarks, FaceModel.fit(image, landmarks)
