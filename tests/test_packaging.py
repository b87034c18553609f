"""What `pip install edgeface` gets: pyproject.toml lists every package of the source tree
(an editable install would hide a missing one; a wheel would not), the toolchain installer
runs as the docs say, and the sdist carries the package, README and LICENSE but no tests
(they need the repository's fixtures), with metadata declaring the license, the
classifiers, the per-platform TensorFlow wheels and no development-only extra (built with
setuptools from the package index, as pip's isolated build would)."""

import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_package_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    dirs = {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}
    found = set()
    for name, folder in dirs.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), "packages missing from [tool.setuptools] packages"
    assert listed - found == set(), "listed packages with no folder"


def test_the_installer_runs_as_the_docs_say_and_dev_py_hashes_it():
    """``python -m edgeface.cli.toolchain install`` is the command README, pyproject.toml and
    scripts/dev.py give; without ``install`` it prints its usage and installs nothing."""
    from edgeface.cli.toolchain import INSTALL_HINT, NO_DEPS, install_command

    out = subprocess.run([sys.executable, "-m", "edgeface.cli.toolchain"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "python -m edgeface.cli.toolchain install" in out.stdout
    assert "python -m edgeface.cli.toolchain install" in INSTALL_HINT
    assert install_command()[-len(NO_DEPS):] == NO_DEPS and "--no-deps" in install_command()
    dev = (ROOT / "scripts" / "dev.py").read_text()
    assert '"edgeface" / "cli" / "toolchain.py"' in dev and '"-m", "edgeface.cli.toolchain", "install"' in dev
    for text in ((ROOT / "README.md").read_text(), (ROOT / "pyproject.toml").read_text()):
        assert "python -m edgeface.cli.toolchain install" in text and "python -m edgeface.toolchain" not in text


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


@pytest.mark.slow
def test_the_sdist_carries_the_license_and_no_tests(sdist):
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert "edgeface-0.1.0/LICENSE" in names and "edgeface-0.1.0/edgeface/__init__.py" in names
    assert not [n for n in names if "/tests/" in n]


@pytest.mark.slow
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
