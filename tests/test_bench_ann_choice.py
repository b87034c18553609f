"""The ANN choice benchmark scores recall and decision agreement correctly on a tiny case."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_ann_choice as b  # noqa: E402


def _case():
    gallery, q, truth = b.make_data(2000, 64, 100, seed=1)
    ids, scores = b.exact_top1(gallery, q)
    return gallery, q, truth, ids, scores


def test_data_look_like_faces():
    gallery, q, truth, ids, scores = _case()
    known = truth >= 0
    assert np.mean(ids[known] == truth[known]) > 0.95
    assert scores[known].mean() > 0.6 and scores[~known].max() < 0.5


def test_exact_against_itself_is_perfect():
    gallery, q, _, ids, scores = _case()
    top = np.argsort(-(q @ gallery.T), axis=1)[:, :b.TOP_K]
    assert b.score_candidates(gallery, q, top, ids, scores, 0.5) == (1.0, 1.0)


def test_broken_index_scores_below_one():
    gallery, q, _, ids, scores = _case()
    wrong = np.tile(np.arange(b.TOP_K), (len(q), 1))  # always the first ten templates
    recall, agree = b.score_candidates(gallery, q, wrong, ids, scores, 0.5)
    assert recall < 1 and agree < 1


def test_a_library_index_matches_exact():
    gallery, q, _, ids, scores = _case()
    cands = b._candidates()
    if not cands:
        import pytest
        pytest.skip("no ANN library installed")
    search, size = next(iter(cands.values()))(gallery)
    recall, agree = b.score_candidates(gallery, q, [search(x[None], b.TOP_K, 1)[0] for x in q], ids, scores, 0.5)
    assert recall >= 0.95 and agree >= 0.95 and size > 0
