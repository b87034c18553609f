#!/usr/bin/env python3
"""The README's two commands, on a fresh machine with only Python 3.11 and pip:

    python3 scripts/dev.py run     # set up, then run the main job
    python3 scripts/dev.py test    # set up, build the native runtime, then run the whole test suite

Each creates (or refreshes) the virtual environment ``.venv`` and installs the project
with its ``dev`` extra; the install is skipped when pyproject.toml has not changed since
the last one. ``test`` also builds native/ (scripts/native_build.py: as root it installs
the compilers and libraries it needs with apt-get). Extra arguments go to the main job or
to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".edgeface-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"edgeface needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()
                          + (ROOT / "edgeface" / "cli" / "toolchain.py").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not PYTHON.exists():
        print(f"creating {VENV.relative_to(ROOT)} ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing edgeface[all] and the dev group (first time: a few minutes) ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-q", "-e", f"{ROOT}[all]", "--group", f"{ROOT / 'pyproject.toml'}:dev"],
                   check=True)
    # onnx2tf & co. go in without their pinned dependencies (see edgeface/cli/toolchain.py)
    subprocess.run([str(PYTHON), "-m", "edgeface.cli.toolchain", "install"], check=True)
    STAMP.write_text(want + "\n")


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "setup"):
        print(__doc__.strip())
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    try:
        setup()
    except subprocess.CalledProcessError as exc:
        print(f"set-up failed: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}", file=sys.stderr)
        return 1
    if command == "setup":
        return 0
    if command == "run":
        args = [str(PYTHON), str(ROOT / "scripts" / "main_job.py"), *rest]
    else:
        sys.path.insert(0, str(ROOT / "scripts"))
        import native_build

        native_build.prepare(PYTHON)
        args = [str(PYTHON), "-m", "pytest", *rest]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
