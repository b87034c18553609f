"""The native runtime built for arm64 Linux (scripts/native_build.py's aarch64 tree, Debian's
cross compiler, the aarch64 ai-edge-litert wheel's libLiteRt.so) and run under qemu as a
Cortex-A76 (native/cmake/run-aarch64.sh): its whole C++ suite passes, and its inference
matches the x86 Python Interpreter within float tolerance (other SIMD kernels: not bit for
bit). Emulated time means nothing: nothing here is timed."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.native_support import ROOT, build_aarch64_tree
from tests.test_native import FIXTURE, python_outputs, run_model

pytestmark = pytest.mark.slow
EMULATOR = ROOT / "native" / "cmake" / "run-aarch64.sh"
EM_AARCH64 = 183  # ELF e_machine


@pytest.fixture(scope="module")
def tree() -> Path:
    return build_aarch64_tree()


def test_the_library_is_built_for_arm64(tree):
    header = (tree / "src" / "core" / "libedgeface.so").read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_AARCH64


def test_the_cpp_test_suite_passes_under_emulation(tree):
    ran = subprocess.run(["ctest", "--output-on-failure", "--timeout", "600"], cwd=tree, capture_output=True, text=True)
    assert ran.returncode == 0, f"ctest in native/build/aarch64 failed:\n{ran.stdout[-20000:]}\n{ran.stderr[-5000:]}"
    assert "100% tests passed, 0 tests failed" in ran.stdout, ran.stdout[-2000:]


@pytest.mark.parametrize("model", ["detector.tflite", "embedder.tflite"])
def test_arm64_inference_matches_x86_within_float_tolerance(tree, tmp_path, model):
    image, python = python_outputs(FIXTURE / model)
    tool = [str(EMULATOR), str(tree / "tests" / "core" / "edgeface_run_model")]
    arm = run_model(tool, FIXTURE / model, tmp_path, image)
    assert sorted(arm) == sorted(python)
    for name, values in arm.items():
        np.testing.assert_allclose(values, python[name], rtol=1e-4, atol=1e-4, err_msg=name)
