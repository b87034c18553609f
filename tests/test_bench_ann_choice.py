"""The ANN choice benchmark scores recall and decision agreement correctly on a tiny case."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_ann_choice as b  # noqa: E402


def _case(structured=False):
    # structured identities need the full 512 dimensions to stay apart as real faces do
    gallery, q, truth = b.make_data(2000, 512 if structured else 64, 100, seed=1, structured=structured)
    ids, scores = b.exact_top1(gallery, q)
    return gallery, q, truth, ids, scores


@pytest.mark.parametrize("structured", [False, True])
def test_data_look_like_faces(structured):
    gallery, q, truth, ids, scores = _case(structured)
    known = truth >= 0
    assert np.mean(ids[known] == truth[known]) > 0.95
    # a genuine pair scores about 0.8; a stranger's best impostor in 2000 well below that
    assert scores[known].mean() > 0.75 and scores[~known].max() < scores[known].mean() - 0.2


def test_structured_identities_spread_as_real_embeddings_do():
    """Impostor cosines spread far wider than random directions' 1/sqrt(dim)."""
    gallery, *_ = b.make_data(2000, 512, 10, structured=True)
    random, *_ = b.make_data(2000, 512, 10)
    impostors = lambda g: (g[:200] @ g[200:400].T).std()  # noqa: E731
    assert impostors(gallery) > 3 * impostors(random)


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
        pytest.skip("no ANN library installed")
    search, size = next(iter(cands.values()))(gallery)
    recall, agree = b.score_candidates(gallery, q, [search(x[None], b.TOP_K, 1, 64)[0] for x in q], ids, scores, 0.5)
    assert recall >= 0.95 and agree >= 0.95 and size > 0
