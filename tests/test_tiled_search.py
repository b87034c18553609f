"""The tiled search for small faces in large photos (edgeface.tiled_search): the tile plan
covers every face a level is responsible for, cut faces are dropped, "auto" keeps a selfie
to one pass, and on real faces with the real BlazeFace model the pyramid finds the faces
the whole-image pass misses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.results import Detections
from edgeface.tiled_search import FACE_PER_TILE, SearchSettings, search_faces, tile_levels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_photos  # noqa: E402


def test_levels_halve_down_to_four_faces_and_stay_inside_the_image():
    levels = list(tile_levels(1280, 960, 40))
    assert [level[0].width for level in levels] == [640, 320, 160]
    for level in levels:
        for tile in level:
            assert 0 <= tile.x and tile.x + tile.width <= 1280 and 0 <= tile.y and tile.y + tile.height <= 960
    assert list(tile_levels(300, 200, 40)) == []  # nothing below the whole image: 150 < 4 x 40


@pytest.mark.parametrize("width, height", [(1280, 960), (1000, 333), (641, 2000)])
def test_every_face_up_to_half_a_tile_lies_whole_in_some_tile(width, height):
    rng = np.random.default_rng(width)
    for level in tile_levels(width, height, 40):
        side = level[0].width if level[0].width < width else level[0].height
        for _ in range(300):
            size = int(rng.integers(1, side // 2 + 1))
            x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
            assert any(t.x <= x and x + size <= t.x + t.width and t.y <= y and y + size <= t.y + t.height
                       for t in level), (side, x, y, size)


def _faces(boxes, scores) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return Detections(boxes, np.asarray(scores, np.float32), centres[:, None, :], ("centre",))


class ShortSighted:
    """A stand-in detector that sees only faces between 15 % and 60 % of the image's
    longer side (as a short-range model does) and reports faces cut by the image's edge
    clipped to it, scoring each 0.9. ``calls`` counts its passes."""

    def __init__(self, faces: list[tuple[int, int, int]]):
        self.faces = faces  # (x, y, side) in the full image
        self.calls = 0
        self.origin = None

    def __call__(self, image: np.ndarray, threshold: float) -> Detections:
        self.calls += 1
        (x0, y0), (h, w) = self.origin(image), image.shape[:2]
        found = []
        for x, y, side in self.faces:
            box = np.clip([x - x0, y - y0, x - x0 + side, y - y0 + side], 0, [w, h, w, h])
            seen = box[2] - box[0] > 0 and box[3] - box[1] > 0
            if seen and 0.15 <= side / max(w, h) <= 0.6:
                found.append(box)
        return _faces(found, [0.9] * len(found))


def _search(faces, search, width=1280, height=960):
    image = np.zeros((height, width, 3), np.uint8)
    detect = ShortSighted(faces)
    base = image.__array_interface__["data"][0]
    row = image.strides[0]

    def origin(view):  # a tile is a view of the image: its offset gives its corner
        offset = view.__array_interface__["data"][0] - base
        return (offset % row) // 3, offset // row

    detect.origin = origin
    found = search_faces(image, detect, SearchSettings(search), 0.5, "hard", 0.3, 100)
    return found, detect.calls


def test_all_finds_small_faces_the_whole_pass_misses_once_each():
    faces = [(100, 100, 40), (600, 500, 90), (1000, 200, 170), (300, 600, 300)]
    whole, calls = _search(faces, "whole")
    assert calls == 1 and len(whole) == 1  # only the 300 px face is 15 % or more of 1280
    found, calls = _search(faces, "all")
    assert calls > 1 + 4 * 6
    got = sorted(tuple(np.round(b).astype(int)) for b in found.boxes)
    assert got == sorted((x, y, x + s, y + s) for x, y, s in faces)  # whole boxes only: no cut faces, no repeats
    assert found.keypoint_names == ("centre",)


def test_a_face_cut_by_a_tiles_inner_border_is_not_reported():
    # 60 px face straddling a tile border at the 160 px level: tiles that cut it drop it,
    # the overlapping tile that holds it whole reports it
    found, _ = _search([(150, 150, 60)], "all")
    assert [tuple(np.round(b).astype(int)) for b in found.boxes] == [(150, 150, 210, 210)]


def test_auto_stops_after_the_whole_pass_when_it_found_a_selfie_sized_face():
    selfie, calls = _search([(400, 200, 400)], "auto")  # 400 of 960: over a third
    assert calls == 1 and len(selfie) == 1
    _, calls = _search([(400, 200, 250)], "auto")  # a face in a group photo: search on
    assert calls > 1


@pytest.mark.parametrize("settings", [dict(search="some"), dict(min_face=2), dict(tile_score_threshold=1.5),
                                      dict(stop_fraction=0.0)])
def test_bad_settings_name_the_setting(settings):
    name = next(iter(settings))
    with pytest.raises(EdgefaceError, match=name):
        SearchSettings(**settings)


# --------------------------------------------------------------- real faces, real model

@pytest.fixture(scope="module")
def blazeface(cache):
    from edgeface.pretrained import fetch_model

    return fetch_model("blazeface")


def test_on_group_photos_the_pyramid_finds_what_the_single_pass_misses(blazeface):
    """Real LFW and astronaut faces, 40-300 px, on 1280x960 scenes (bench_photos'
    composites): the whole-image pass finds few; the pyramid most, with few false faces."""
    from edgeface import FaceAnalyzer

    photos = bench_photos.composites(4, seed=1)
    recall = {}
    for search in ("whole", "all"):
        analyzer = FaceAnalyzer.create_from_bundle(blazeface, search=search)
        hits, false = [], 0
        for photo in photos:
            got, extra = bench_photos.match(photo.faces, bench_photos.boxes(analyzer.detect(photo.image)))
            hits += got
            false += extra
        recall[search] = sum(hits) / len(hits)
        if search == "all":
            assert false <= len(photos)
    assert recall["whole"] < 0.5 and recall["all"] >= 0.85, recall


def test_auto_keeps_the_selfie_to_the_whole_pass(blazeface):
    from edgeface import FaceAnalyzer

    (selfie,) = [p for p in bench_photos.single_face_photos() if p.name.startswith("selfie")]
    auto = FaceAnalyzer.create_from_bundle(blazeface, search="auto")
    whole = FaceAnalyzer.create_from_bundle(blazeface, search="whole")
    a, w = auto.detect_arrays(selfie.image), whole.detect_arrays(selfie.image)
    assert len(a) == 1 and np.array_equal(a.boxes, w.boxes)


def test_the_blazeface_bundle_chooses_auto_and_the_analyzer_follows_it(blazeface):
    from edgeface import FaceAnalyzer, load_bundle

    assert load_bundle(blazeface).manifest.detector.search == "auto"
    (photo,) = bench_photos.composites(1, seed=2)
    default = FaceAnalyzer.create_from_bundle(blazeface).detect_arrays(photo.image)
    auto = FaceAnalyzer.create_from_bundle(blazeface, search="auto").detect_arrays(photo.image)
    whole = FaceAnalyzer.create_from_bundle(blazeface, search="whole").detect_arrays(photo.image)
    assert np.array_equal(default.boxes, auto.boxes) and len(default) > len(whole)


def test_a_bundle_an_older_edgeface_fetched_gets_the_cards_search_without_a_download(blazeface, tmp_path,
                                                                                        monkeypatch):
    import dataclasses

    import edgeface.pretrained.fetch as fetch
    from edgeface import load_bundle
    from edgeface.bundle import write_bundle
    from edgeface.cards import get_pretrained_card
    from edgeface.pretrained.blazeface import fetch_float

    old = load_bundle(blazeface)
    detector = old.manifest.detector
    model = old.read_model(detector)
    out = tmp_path / "blazeface-short"
    write_bundle(out, dataclasses.replace(old.manifest, detector=dataclasses.replace(detector, search="whole")),
                 {detector.file: model})
    monkeypatch.setattr(fetch, "model_file_bytes", lambda source: pytest.fail("downloaded again"))
    assert fetch_float(get_pretrained_card("blazeface"), out) == out
    again = load_bundle(out)
    assert again.manifest.detector.search == "auto" and again.read_model(again.manifest.detector) == model


def test_cli_detect_finds_the_faces_of_a_group_photo_by_the_bundles_auto_search(blazeface, tmp_path):
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from edgeface.cli.app import app

    (photo,) = bench_photos.composites(1, seed=2)
    path = tmp_path / "group.png"
    Image.fromarray(photo.image).save(path)
    found = {}
    for search in ("whole", "auto", None):  # None: the bundle's, which is auto
        chosen = ["--search", search] if search else []
        result = CliRunner().invoke(app, ["detect", str(path), "--bundle", str(blazeface), *chosen, "--json"])
        assert result.exit_code == 0, result.output
        found[search] = len(json.loads(result.stdout)[0]["faces"])
    faces = len(photo.faces)  # 8, one found by the single pass
    assert found["whole"] <= faces / 4 and 0.85 * faces <= found["auto"] <= faces + 1, (found, faces)
    assert found[None] == found["auto"]
