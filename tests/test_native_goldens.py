"""scripts/make_native_goldens.py still writes the committed golden files that the C++
vision library is tested against (native/tests/vision/test_goldens.cpp): a change to the
Python SDK's preprocessing, decoders, NMS or alignment that the C++ does not follow
fails here, and the goldens are regenerated with the C++ change.

Arrays are compared to float32 rounding, not bytes: numpy's exp and sums may round an
ulp differently on another CPU.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "native" / "tests" / "vision" / "data"


def read(directory: Path) -> tuple[dict, dict[str, np.ndarray]]:
    index = json.loads((directory / "goldens.json").read_text())
    blob = (directory / "goldens.bin").read_bytes()
    arrays = {}
    for name, entry in index["arrays"].items():
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        count = math.prod(entry["shape"])
        arrays[name] = np.frombuffer(blob, dtype, count, entry["offset"]).reshape(entry["shape"])
    return index, arrays


def assert_same_settings(fresh, committed, where="cases"):
    """Equal JSON trees, numbers to float32 rounding."""
    if isinstance(committed, float):
        assert math.isclose(fresh, committed, rel_tol=1e-6, abs_tol=1e-7), where
    elif isinstance(committed, dict):
        assert fresh.keys() == committed.keys(), where
        for key in committed:
            assert_same_settings(fresh[key], committed[key], f"{where}.{key}")
    elif isinstance(committed, list):
        assert len(fresh) == len(committed), where
        for i, (a, b) in enumerate(zip(fresh, committed)):
            assert_same_settings(a, b, f"{where}[{i}]")
    else:
        assert fresh == committed, where


def test_goldens_regenerate_to_the_committed_ones(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_native_goldens.py"), str(tmp_path)],
                   check=True, capture_output=True, timeout=120)
    fresh_index, fresh = read(tmp_path)
    index, committed = read(COMMITTED)
    assert fresh_index["arrays"] == index["arrays"]  # names, dtypes, shapes: same counts of faces
    assert_same_settings(fresh_index["cases"], index["cases"])
    for name, values in committed.items():
        if values.dtype == np.uint8:
            np.testing.assert_array_equal(fresh[name], values, err_msg=name)
        else:
            np.testing.assert_allclose(fresh[name], values, rtol=1e-6, atol=1e-6, err_msg=name)


def test_goldens_stay_small():
    size = sum(f.stat().st_size for f in COMMITTED.iterdir())
    assert size < 2_000_000, f"{size} bytes of goldens: keep the cases small"


def test_galleries_regenerate_to_the_committed_ones(tmp_path):
    """scripts/make_native_galleries.py still writes the galleries and search answers the
    C++ gallery reader is tested against (native/tests/core/gallery_test.cc,
    gallery_v3_test.cc): same identities and templates, same matches, similarities to
    float32 rounding; the committed expected.json is what the SDK shows of the committed
    version-3 files, and the SDK refuses the damaged ones."""
    from edgeface.errors import GalleryError
    from edgeface.gallery import Gallery

    sys.path.insert(0, str(ROOT / "scripts"))
    import make_native_galleries as made

    committed = ROOT / "native" / "tests" / "core" / "data" / "galleries"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_native_galleries.py"), str(tmp_path)],
                   check=True, capture_output=True, timeout=120)
    for name in ("v1.efg", "v2.efg", "v2_embedder.efg"):
        fresh, kept = Gallery.open(tmp_path / name), Gallery.open(committed / name)
        assert fresh.identities() == kept.identities() and fresh.embedder == kept.embedder, name
    fresh_cases = json.loads((tmp_path / "search.json").read_text())
    assert_same_settings(fresh_cases, json.loads((committed / "search.json").read_text()))
    expected = json.loads((committed / "expected.json").read_text())
    assert sorted(expected) == sorted(made.READABLE_V3)
    assert_same_settings(json.loads((tmp_path / "expected.json").read_text()), expected)
    for name in made.READABLE_V3:
        assert made.shown(committed / name) == expected[name], name
    for name in made.REFUSED_V3:
        for folder in (tmp_path, committed):
            with pytest.raises(GalleryError, match="journal"):
                Gallery.open(folder / name)
