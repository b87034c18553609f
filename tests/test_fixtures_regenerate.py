"""scripts/make_fixtures.py still rebuilds the checked-in fixture bundles.

Compared by behaviour rather than bytes: TensorFlow's int8 calibration may round
differently on another CPU, but every model must compute the same outputs.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.bundle import load_bundle
from edgeface.runtime.model import Model
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent


def strip_checksums(manifest: dict) -> dict:
    for model in manifest["models"].values():
        model.pop("sha256")
    manifest.pop("source", None)
    return manifest


@pytest.mark.slow
def test_make_fixtures_rebuilds_equivalent_bundles(tmp_path):
    pytest.importorskip("tensorflow")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_fixtures.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=600)
    rng = np.random.default_rng(0)
    for checked_in in sorted(FIXTURES.iterdir()):
        fresh = tmp_path / checked_in.name
        read = lambda p: strip_checksums(json.loads((p / "manifest.json").read_text()))  # noqa: E731
        assert read(fresh) == read(checked_in), checked_in.name
        old, new = load_bundle(checked_in), load_bundle(fresh)
        for spec_old, spec_new in zip(old.manifest.models(), new.manifest.models()):
            a, b = Model.from_bundle(old, spec_old), Model.from_bundle(new, spec_new)
            shape = [abs(d) for d in a.input.shape]
            x = rng.uniform(-1, 1, shape).astype(np.float32)
            for out_a, out_b, info in zip(a.run(x), b.run(x), a.outputs):
                step = info.scale if info.quantized else 1e-4
                np.testing.assert_allclose(out_a, out_b, atol=2 * step + 1e-5, err_msg=spec_old.file)
