"""The native runtime's build for the tests that use it (tests/test_native*.py): built by
scripts/native_build.py (incrementally; scripts/dev.py builds it first). Where the build
packages are missing and cannot be installed those tests skip, except under CI=true,
where a missing native build is a failure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import native_build  # noqa: E402


def unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must build the native runtime: {reason}")
    pytest.skip(reason)


def build_trees() -> dict[str, Path]:
    """The build trees by name (release, asan), built if needed."""
    return _built(native_build.build)


def build_aarch64_tree() -> Path:
    """The arm64 tree (its tests run under qemu), built if needed."""
    return _built(native_build.build_aarch64)


def build_android_tree() -> Path:
    """native/android's CMake entry built with clang for arm64, if needed."""
    return _built(native_build.build_android_entry)


def _built(step):
    try:
        return step()
    except native_build.NativeUnavailable as exc:
        unavailable(str(exc))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{' '.join(map(str, exc.cmd))} failed:\n{exc.stdout}\n{exc.stderr}")
