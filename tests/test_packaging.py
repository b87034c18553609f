"""What `pip install edgeface` gets: the sdist carries the package, README and LICENSE but
no tests (they need the repository's fixtures), and its metadata declares the license,
the classifiers, the per-platform TensorFlow wheels and no development-only extra. Built
with setuptools from the package index, as pip's isolated build would."""

import subprocess
import sys
import tarfile

import pytest

from tests.native_support import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    tools = tmp_path_factory.mktemp("setuptools")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
                    str(tools), "setuptools>=77"], check=True, capture_output=True)
    out = tmp_path_factory.mktemp("sdist")
    source = tmp_path_factory.mktemp("source") / "edgeface"
    # a clean export of the tracked files, as a release would build from
    archive = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    source.mkdir()
    for name in filter(None, archive.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    built = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tools)!r}); "
                            f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"],
                           cwd=source, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    return out / built.stdout.strip().splitlines()[-1]


def test_the_sdist_carries_the_license_and_no_tests(sdist):
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert "edgeface-0.1.0/LICENSE" in names and "edgeface-0.1.0/edgeface/__init__.py" in names
    assert not [n for n in names if "/tests/" in n]


def test_the_metadata_declares_license_classifiers_and_per_platform_tensorflow(sdist):
    with tarfile.open(sdist) as archive:
        info = archive.extractfile("edgeface-0.1.0/PKG-INFO").read().decode()
    assert "License-Expression: Apache-2.0" in info
    assert "Classifier: Operating System :: MacOS" in info
    requires = [line for line in info.splitlines() if line.startswith("Requires-Dist: tensorflow")]
    assert any("tensorflow-cpu==2.21.0" in r and "win32" in r for r in requires), requires
    assert any(r.startswith("Requires-Dist: tensorflow==2.21.0") and "darwin" in r for r in requires), requires
    headers = info.split("\n\n")[0].splitlines()  # the README follows as the long description
    assert "Provides-Extra: dev" not in headers and not [h for h in headers if "pytest" in h]
    assert "Provides-Extra: all" in headers
