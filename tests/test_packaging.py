"""pyproject.toml installs every package of the source tree (an editable install would
hide a missing one; a wheel would not)."""

import tomllib
from pathlib import Path

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
    import subprocess
    import sys

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
