"""scripts/bench_photos.py: its matcher counts hits, misses and false faces as documented,
its composites are what it says they are, and a tiny run prints every promised row."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skimage.data")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import bench_photos  # noqa: E402


def test_match_counts_a_hit_a_miss_and_a_false_face():
    truth = [(100, 100, 200, 200), (400, 400, 450, 450)]
    detected = [(110, 95, 215, 210),     # the first face, a looser box: IoU ~0.8, a hit
                (600, 600, 700, 700)]    # nothing there: a false face
    found, false = bench_photos.match(truth, detected)
    assert found == [True, False] and false == 1


def test_match_is_one_to_one_and_needs_the_iou():
    truth = [(0, 0, 100, 100)]
    # two boxes on one face: the better one pairs, the other is a false face
    assert bench_photos.match(truth, [(0, 0, 90, 90), (5, 5, 100, 100)]) == ([True], 1)
    # a box four times the face's area (IoU 0.25) is not the face
    assert bench_photos.match(truth, [(0, 0, 200, 200)]) == ([False], 1)
    assert bench_photos.match([], []) == ([], 0)


def test_composites_are_deterministic_with_faces_inside_and_apart():
    photos = bench_photos.composites(3, seed=7)
    again = bench_photos.composites(3, seed=7)
    for photo, same in zip(photos, again):
        assert photo.image.shape == (bench_photos.HEIGHT, bench_photos.WIDTH, 3) and photo.image.dtype == np.uint8
        assert np.array_equal(photo.image, same.image) and photo.faces == same.faces
        assert 1 <= len(photo.faces) <= bench_photos.FACES_PER_IMAGE[1]
        assert len(photo.kinds) == len(photo.faces) and set(photo.kinds) <= {"LFW", "astronaut"}
        for i, (x1, y1, x2, y2) in enumerate(photo.faces):
            assert 0 <= x1 < x2 <= bench_photos.WIDTH and 0 <= y1 < y2 <= bench_photos.HEIGHT
            assert bench_photos.band_of((x1, y1, x2, y2)) is not None, x2 - x1
            assert not any(bench_photos.overlaps(photo.faces[i], other) for other in photo.faces[i + 1:])
    assert not np.array_equal(photos[0].image, bench_photos.composites(1, seed=8)[0].image)


def test_the_selfie_face_is_forty_percent_of_the_height():
    astronaut, selfie = bench_photos.single_face_photos()
    assert astronaut.image.shape == (512, 512, 3) and selfie.image.shape == (960, 1280, 3)
    x1, y1, x2, y2 = selfie.faces[0]
    assert y2 - y1 == pytest.approx(0.4 * 960) and 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 960


def test_main_prints_every_promised_row(cache, capsys, tmp_path):
    out = tmp_path / "photos.json"
    assert bench_photos.main(["--images", "2", "--bundles", "blazeface", "--runs", "3",
                              "--rounds", "1", "--warmup", "0", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for row in ("40-80 px", "80-150 px", "150-300 px", "LFW faces", "astronaut faces", "all (2 images)",
                "astronaut 512x512", "selfie 1280x960"):
        assert row in printed
    assert "load average" in printed
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 8 and {r["bundle"] for r in rows} == {"blazeface"}
    selfie = rows[-1]
    assert selfie["faces"] == selfie["found"] == 1 and selfie["ms"]["median_ms"] > 0


def test_a_bundle_spec_names_its_search_and_runtime(cache):
    analyzer = bench_photos.make_analyzer("blazeface:all@python", 1)
    assert analyzer.options.search == "all" and analyzer.options.runtime == "python"
    assert bench_photos.make_analyzer("blazeface", 1).options.search is None  # the bundle's own


def test_the_area_downscale_what_if_shrinks_by_averaging(monkeypatch):
    import edgeface.preprocess as preprocess

    monkeypatch.setattr(preprocess, "resize_bilinear", preprocess.resize_bilinear)  # undone after the test
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: bilinear at 1/8 samples them, averaging gives grey
    bench_photos.area_downscale()
    grey = preprocess.resize_bilinear(stripes, 8, 8)
    assert np.abs(grey.astype(float) - 127.5).max() <= 1
    assert preprocess.resize_bilinear(stripes, 128, 128).shape == (128, 128, 3)  # enlarging: bilinear as before
