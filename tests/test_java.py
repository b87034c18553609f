"""The Java API (native/java) over JNI on this machine's JVM: its misuse cases give Java
exceptions, never a crashed JVM; camera frames find what RGB finds; on real faces it
gives what the native core gives the Python SDK (runtime="native": the same numbers), so
what the Python SDK finds on its own (boxes and keypoints within 0.5 px of the numpy
path, as tests/test_native_parity.py holds the core to); and the
Android-style sample enrolls into a gallery the Python SDK made, identifies and verifies,
and the SDK reads what it saved. Needs a JDK (javac), which scripts/native_build.py installs as root like the
other build packages."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.native_support import ROOT, build_trees, unavailable
from tests.test_native_parity import real_images

pytestmark = pytest.mark.slow
JAVA = ROOT / "native" / "java"


@pytest.fixture(scope="module")
def java(tmp_path_factory) -> list[str]:
    """The java command line with the compiled classes and the JNI library on its paths."""
    release = build_trees()["release"]
    if not (shutil.which("javac") and shutil.which("java")):
        unavailable("no JDK (javac, java) on the PATH")
    library = release / "src" / "jni"
    if not (library / "libedgeface_jni.so").is_file():
        unavailable(f"{library}/libedgeface_jni.so was not built (CMake found no JDK)")
    classes = tmp_path_factory.mktemp("java-classes")
    sources = [str(p) for p in JAVA.rglob("*.java")]
    compiled = subprocess.run(["javac", "-Xlint:all", "-Werror", "-d", str(classes), *sources], capture_output=True,
                              text=True)
    assert compiled.returncode == 0, compiled.stderr
    # -Xcheck:jni: the JVM checks every JNI call (Android's CheckJNI aborts the app where
    # HotSpot only warns, so a warning fails the test)
    return ["java", "-Xcheck:jni", f"-Djava.library.path={library}", "-cp", str(classes)]


def run(java: list[str], *args: str) -> str:
    ran = subprocess.run([*java, *args], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, f"{ran.stdout[-4000:]}\n{ran.stderr[-4000:]}"
    assert "WARNING in native method" not in ran.stdout + ran.stderr, ran.stdout + ran.stderr
    return ran.stdout


def test_misuse_gives_java_exceptions_and_camera_frames_find_the_face(java, tmp_path):
    temp = tmp_path / "java-tmp"
    temp.mkdir()
    out = run([java[0], f"-Djava.io.tmpdir={temp}", *java[1:]], "dev.edgeface.JavaApiTest", "misuse", str(ROOT))
    assert out.strip().splitlines()[-1].endswith(" passed, 0 failed")
    assert not list(temp.glob("edgeface-bundle*")), "zipped bundles' temporary folders are deleted once loaded"


def write_rgb(out: Path, images: dict[str, np.ndarray]) -> Path:
    """The images as raw RGB files and the list JavaApiTest reads."""
    lines = []
    for i, (name, image) in enumerate(images.items()):
        path = out / f"image{i}.rgb"
        path.write_bytes(np.ascontiguousarray(image).tobytes())
        lines.append(f"{name.replace(' ', '_')} {image.shape[1]} {image.shape[0]} {path}")
    listing = out / "images.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def test_java_gives_the_native_cores_numbers_and_the_python_sdks_faces(java, default_bundle, tmp_path, monkeypatch):
    import edgeface.align
    import edgeface.preprocess
    from edgeface import FaceAnalyzer

    monkeypatch.setattr(edgeface.align, "warp_affine", edgeface.align.warp_affine_numpy)  # as the parity suite
    monkeypatch.setattr(edgeface.preprocess, "_cv2", None)
    images = real_images()
    out = run(java, "dev.edgeface.JavaApiTest", "parity", str(default_bundle), str(write_rgb(tmp_path, images)))
    found = json.loads(next(line[5:] for line in out.splitlines() if line.startswith("JSON ")))
    python = FaceAnalyzer.create_from_bundle(default_bundle)
    native = FaceAnalyzer.create_from_bundle(default_bundle, runtime="native")
    faces = 0
    for name, image in images.items():
        got, same_core, numpy_path = found[name.replace(" ", "_")], native.analyze(image), python.analyze(image)
        assert len(got) == len(same_core) == len(numpy_path), name
        for mine, core, theirs in zip(got, same_core, numpy_path):
            np.testing.assert_allclose(mine["box"], [core.bbox.x1, core.bbox.y1, core.bbox.x2, core.bbox.y2],
                                       atol=1e-4, err_msg=name)
            np.testing.assert_allclose(mine["embedding"], core.embedding, atol=1e-6, err_msg=name)
            box = [theirs.bbox.x1, theirs.bbox.y1, theirs.bbox.x2, theirs.bbox.y2]
            np.testing.assert_allclose(mine["box"], box, atol=0.5, err_msg=name)
            np.testing.assert_allclose(mine["keypoints"], theirs.keypoint_array(), atol=0.5, err_msg=name)
            faces += 1
    assert faces >= 5


def test_the_android_style_sample_enrolls_identifies_and_verifies_with_the_python_sdks_gallery(
        java, default_bundle, tmp_path):
    from PIL import Image

    from edgeface import FaceAnalyzer, Gallery

    images = real_images()
    python = FaceAnalyzer.create_from_bundle(default_bundle)
    gallery = Gallery(python.embedding_size, tmp_path / "people.efg")
    python.use_gallery(gallery)
    python.enroll("someone else", [images["lfw face 0"]])
    gallery.save()
    pictures = {}
    for key, name in (("astronaut mirrored small", "enroll"), ("astronaut in a 640x480 frame", "frame"),
                      ("astronaut", "same")):
        pictures[name] = tmp_path / f"{name}.ppm"
        Image.fromarray(images[key]).save(pictures[name])

    out = run(java, "dev.edgeface.sample.Sample", str(default_bundle), str(tmp_path / "people.efg"),
              "enroll", "astronaut", str(pictures["enroll"]), "identify", str(pictures["frame"]),
              "verify", str(pictures["frame"]), str(pictures["same"]))
    assert "enrolled astronaut: 1 template(s)" in out, out
    assert "faces: 1" in out and ": astronaut " in out, out
    assert "same person: true" in out, out
    assert "saved 2 identities" in out, out

    saved = Gallery.open(tmp_path / "people.efg", python.embedding_size)  # the SDK reads what Java saved
    assert dict(saved.identities()) == {"someone else": 1, "astronaut": 1}
    face = python.analyze(images["astronaut in a 640x480 frame"])[0]
    assert saved.search(face.embedding, top_k=1)[0][0].identity == "astronaut"


def test_the_sample_says_what_is_wrong_with_a_picture(java, default_bundle, tmp_path):
    (tmp_path / "bad.ppm").write_bytes(b"P6\n2 2\n255\n" + bytes(5))
    ran = subprocess.run([*java, "dev.edgeface.sample.Sample", str(default_bundle), str(tmp_path / "g.efg"),
                          "identify", str(tmp_path / "bad.ppm")], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 2 and "bad.ppm: not a binary 8-bit PPM" in ran.stderr, ran.stderr
    assert not (tmp_path / "g.efg").exists()
