"""Decoders and NMS against anchors and boxes worked out by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeface.decoders import OutputInfo, parse_decoder
from edgeface.decoders.nms import MAX_CANDIDATES, hard_nms, iou_with, weighted_nms
from edgeface.decoders.ssd import ssd_anchors
from edgeface.errors import ManifestError
from edgeface.results import Detections
from edgeface.schema import Fields

SHORT_RANGE = dict(strides=[8, 16, 16, 16], min_scale=0.1484375, max_scale=0.75,
                   fixed_anchor_size=True, interpolated_scale_aspect_ratio=1.0)


def blazeface_decoder(**overrides):
    spec = {"family": "ssd", "outputs": {"boxes": "boxes", "scores": "scores"},
            "anchors": SHORT_RANGE, "box_format": "xywh", "box_scale": [128, 128, 128, 128],
            "num_keypoints": 6, "score_activation": "sigmoid", "score_clip": 100.0, **overrides}
    decoder = parse_decoder(Fields(spec, "decoder"), 128, 128)
    decoder.bind([OutputInfo("boxes", (1, 896, 16)), OutputInfo("scores", (1, 896, 1))])
    return decoder


def test_short_range_anchors_follow_mediapipe_layout():
    a = ssd_anchors(128, 128, **SHORT_RANGE)
    assert a.shape == (896, 4)
    # stride 8: 16x16 cells, 2 anchors each, row-major with the anchor index fastest
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16, 1, 1])
    # the three stride-16 layers share one 8x8 map with 6 anchors per cell
    np.testing.assert_allclose(a[512:518, :2], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8, 1, 1])
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_full_range_anchors_count():
    a = ssd_anchors(192, 192, strides=[4], min_scale=0.1484375, max_scale=0.75,
                    fixed_anchor_size=True, interpolated_scale_aspect_ratio=0.0)
    assert a.shape == (2304, 4)
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48, 1, 1])


def test_anchor_sizes_without_fixed_size():
    a = ssd_anchors(128, 128, strides=[8, 16, 16, 16], min_scale=0.1484375, max_scale=0.75)
    s0 = 0.1484375
    s1 = 0.1484375 + (0.75 - 0.1484375) / 3
    np.testing.assert_allclose(a[0, 2:], [s0, s0], rtol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [math.sqrt(s0 * s1)] * 2, rtol=1e-6)
    np.testing.assert_allclose(a[512, 2:], [s1, s1], rtol=1e-6)


def test_ssd_decode_one_box_by_hand():
    decoder = blazeface_decoder()
    boxes = np.zeros((1, 896, 16), np.float32)
    scores = np.full((1, 896, 1), -10, np.float32)
    # anchor 34 = stride 8, row 1, column 1: centre (1.5/16, 1.5/16)
    boxes[0, 34, :4] = [12.8, -6.4, 25.6, 12.8]  # dx=+0.1, dy=-0.05, w=0.2, h=0.1
    boxes[0, 34, 4:6] = [6.4, 0.0]  # first keypoint 0.05 right of the anchor
    scores[0, 34, 0] = 2.0
    out = decoder.decode([boxes, scores], 0.5)
    cx, cy = 1.5 / 16 + 0.1, 1.5 / 16 - 0.05
    np.testing.assert_allclose(out.boxes, [[cx - 0.1, cy - 0.05, cx + 0.1, cy + 0.05]], atol=1e-6)
    np.testing.assert_allclose(out.scores, [1 / (1 + math.exp(-2))], rtol=1e-6)
    np.testing.assert_allclose(out.keypoints[0, 0], [1.5 / 16 + 0.05, 1.5 / 16], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0, 1], [1.5 / 16, 1.5 / 16], atol=1e-6)


def test_ssd_decode_yx_order_and_threshold():
    decoder = blazeface_decoder(box_format="yxhw")
    boxes = np.zeros((896, 16), np.float32)
    scores = np.full((896,), -10, np.float32)
    boxes[0, :4] = [12.8, 0, 25.6, 12.8]  # dy=+0.1, h=0.2, w=0.1
    boxes[0, 4:6] = [12.8, 0]  # keypoint y first
    scores[0] = 0.1  # sigmoid 0.525
    out = decoder.decode([boxes, scores], 0.5)
    c = 0.5 / 16
    np.testing.assert_allclose(out.boxes, [[c - 0.05, c + 0.1 - 0.1, c + 0.05, c + 0.1 + 0.1]], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0, 0], [c, c + 0.1], atol=1e-6)
    assert len(decoder.decode([boxes, scores], 0.6)) == 0


def test_ssd_bind_rejects_wrong_shapes_and_names():
    spec = {"family": "ssd", "outputs": {"boxes": "boxes", "scores": "scores"}, "anchors": SHORT_RANGE,
            "box_scale": [128] * 4, "num_keypoints": 6}
    decoder = parse_decoder(Fields(spec, "decoder"), 128, 128)
    with pytest.raises(ManifestError, match="no output 'boxes'"):
        decoder.bind([OutputInfo("a", (1, 896, 16)), OutputInfo("scores", (1, 896, 1))])
    with pytest.raises(ManifestError, match="896 boxes"):
        decoder.bind([OutputInfo("boxes", (1, 2304, 16)), OutputInfo("scores", (1, 2304, 1))])


def scrfd_decoder(kps=5):
    names = lambda kind: [f"{kind}{s}" for s in (8, 16, 32)]  # noqa: E731
    outputs = {"scores": names("s"), "boxes": names("b")}
    if kps:
        outputs["keypoints"] = names("k")
    spec = {"family": "scrfd", "strides": [8, 16, 32], "anchors_per_cell": 2, "num_keypoints": kps,
            "outputs": outputs}
    decoder = parse_decoder(Fields(spec, "decoder"), 32, 32)
    infos = []
    for kind, width in (("s", 1), ("b", 4), ("k", 2 * kps)):
        for s, n in zip((8, 16, 32), (32, 8, 2)):
            if kind != "k" or kps:
                infos.append(OutputInfo(f"{kind}{s}", (n, width)))
    decoder.bind(infos)
    return decoder, infos


def test_scrfd_decode_by_hand():
    decoder, infos = scrfd_decoder()
    arrays = [np.zeros(i.shape, np.float32) for i in infos]
    by_name = {i.name: a for i, a in zip(infos, arrays)}
    # stride 16, row 0, column 1, second anchor -> row index 1*2+1 = 3, centre (16, 0)
    by_name["s16"][3] = 0.9
    by_name["b16"][3] = [1, 0.5, 1, 2]  # distances in strides: left, top, right, bottom
    by_name["k16"][3, :2] = [0.25, 0.5]
    out = decoder.decode(arrays, 0.5)
    np.testing.assert_allclose(out.boxes, [[0 / 32, -8 / 32, 32 / 32, 32 / 32]], atol=1e-6)
    np.testing.assert_allclose(out.scores, [0.9])
    np.testing.assert_allclose(out.keypoints[0, 0], [20 / 32, 8 / 32], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0, 1], [16 / 32, 0], atol=1e-6)


def test_scrfd_without_keypoints_and_shape_check():
    decoder, infos = scrfd_decoder(kps=0)
    arrays = [np.full(i.shape, 0.7 if i.name.startswith("s") else 1.0, np.float32) for i in infos]
    out = decoder.decode(arrays, 0.5)
    assert len(out) == 42 and out.keypoints.shape == (42, 0, 2)
    with pytest.raises(ManifestError, match="expected 8 x 4"):
        decoder.bind([OutputInfo(i.name, (9, 4) if i.name == "b16" else i.shape) for i in infos])


def test_scrfd_rejects_sizes_not_multiple_of_stride():
    spec = {"family": "scrfd", "num_keypoints": 0, "outputs": {"scores": [0, 1, 2], "boxes": [3, 4, 5]}}
    with pytest.raises(ManifestError, match="multiple of every stride"):
        parse_decoder(Fields(spec, "decoder"), 100, 100)


def dets(boxes, scores, kps=None):
    boxes = np.asarray(boxes, np.float32)
    kps = np.zeros((len(boxes), 1, 2), np.float32) if kps is None else np.asarray(kps, np.float32)
    return Detections(boxes, np.asarray(scores, np.float32), kps)


def test_iou():
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 0, 0]], np.float32)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou = np.stack([iou_with(boxes, areas, i) for i in range(len(boxes))])
    np.testing.assert_allclose(iou[0], [1, 1 / 7, 1, 0, 0])
    np.testing.assert_allclose(iou, iou.T)
    assert iou[4, 4] == 0  # an empty box overlaps nothing, not even itself


def test_hard_nms_keeps_best_of_each_cluster():
    d = dets([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], [0.8, 0.9, 0.7, 0.6])
    out = hard_nms(d, 0.5, 10)
    np.testing.assert_allclose(out.scores, [0.9, 0.7])
    np.testing.assert_allclose(hard_nms(d, 0.5, 1).scores, [0.9])


def test_weighted_nms_blends_by_score():
    d = dets([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], [0.75, 0.25, 0.5],
             kps=[[[0, 0]], [[4, 4]], [[55, 55]]])
    out = weighted_nms(d, 0.3, 10)
    np.testing.assert_allclose(out.boxes[0], [0.5, 0, 10.5, 10])
    np.testing.assert_allclose(out.keypoints[0, 0], [1, 1])
    np.testing.assert_allclose(out.scores, [0.75, 0.5])
    np.testing.assert_allclose(out.boxes[1], [50, 50, 60, 60])


def test_presets_find_outputs_by_shape_and_parse():
    from edgeface.cards.presets import detector_entry

    outs = [("cls", (1, 896, 1)), ("reg", (1, 896, 16))]
    entry = detector_entry("blazeface-short", outs, 128, 128)
    assert entry["decoder"]["outputs"] == {"boxes": "reg", "scores": "cls"}
    decoder = parse_decoder(Fields(entry["decoder"], "decoder"), 128, 128)
    decoder.bind([OutputInfo(n, s) for n, s in outs])
    scrfd_outs = [(f"o{i}", (n, w)) for i, (n, w) in enumerate(
        [(3200, 1), (3200, 4), (3200, 10), (800, 1), (800, 4), (800, 10), (200, 1), (200, 4), (200, 10)])]
    entry = detector_entry("scrfd", scrfd_outs[::-1], 320, 320)
    assert entry["decoder"]["outputs"]["scores"] == ["o0", "o3", "o6"]
    assert entry["decoder"]["outputs"]["keypoints"] == ["o2", "o5", "o8"]
    with pytest.raises(ManifestError, match="cannot tell which output"):
        detector_entry("blazeface-short", [("a", (1, 896, 16)), ("b", (1, 896, 16))], 128, 128)


@pytest.mark.parametrize("nms", [hard_nms, weighted_nms])
def test_nms_of_a_hostile_number_of_candidates_stays_in_bounded_memory(nms):
    """A model that scores every one of 400,000 anchors as a face: a (K, K) IoU matrix
    would need 640 GB; row-at-a-time clustering needs a few MB beyond the inputs."""
    import tracemalloc

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 1000, (400_000, 2)).astype(np.float32)
    d = dets(np.hstack([corner, corner + 10]), rng.uniform(0.5, 1, 400_000))
    tracemalloc.start()
    out = nms(d, 0.3, 50)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(out) == 50 and peak < 64 << 20
    assert out.scores.min() >= np.sort(d.scores)[-MAX_CANDIDATES]  # only the best candidates are looked at


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 8), st.integers(1, 8),
                          st.integers(1, 99)), min_size=1, max_size=12, unique_by=lambda t: t[4]))
def test_hard_nms_matches_the_textbook_greedy_loop(rows):
    boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in rows]
    scores = [s / 100 for *_, s in rows]
    got = hard_nms(dets(boxes, scores), 0.4, 100).scores.tolist()

    def iou(a, b):
        inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    kept = []
    for i in sorted(range(len(rows)), key=lambda i: -scores[i]):
        if all(iou(boxes[i], boxes[j]) <= 0.4 for j in kept):
            kept.append(i)
    np.testing.assert_allclose(got, [scores[i] for i in kept], rtol=1e-6)
