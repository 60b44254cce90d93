"""Unit tests of ch10_embeddings/retrieval_metrics.py (hit@k, MRR, RRF, context dedup)."""

import math
import random

import pytest

from ch10_embeddings.retrieval_metrics import (
    dedup_contexts,
    first_hit_rank,
    hit_at_k,
    mrr,
    reciprocal_rank_fusion,
    retrieval_report,
)


def test_dedup_keeps_first_seen_order_and_maps_every_question():
    contexts = ["b", "a", "b", "c", "a"]
    corpus, gold = dedup_contexts(contexts)
    assert corpus == ["b", "a", "c"]
    assert gold == [0, 1, 0, 2, 1]
    assert all(corpus[g] == text for g, text in zip(gold, contexts))


def test_dedup_empty():
    assert dedup_contexts([]) == ([], [])


def test_first_hit_rank():
    assert first_hit_rank([5, 3, 9], 3) == 2
    assert first_hit_rank([5, 3, 9], {9, 3}) == 2
    assert first_hit_rank([5, 3, 9], 7) is None


# A toy case computed by hand: first relevant rank is 1, 3, none, 2.
RANKED = [[0, 1, 2], [4, 5, 6], [7, 8, 9], [1, 2, 3]]
RELEVANT = [0, 6, 0, 2]


@pytest.mark.parametrize("k, expected", [(1, 1 / 4), (2, 2 / 4), (3, 3 / 4), (10, 3 / 4)])
def test_hit_at_k_by_hand(k, expected):
    assert hit_at_k(RANKED, RELEVANT, k) == pytest.approx(expected)


def test_mrr_by_hand():
    assert mrr(RANKED, RELEVANT) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert mrr(RANKED, RELEVANT, k=2) == pytest.approx((1 + 0 + 0 + 1 / 2) / 4)


def test_metrics_accept_sets_of_relevant_ids():
    ranked = [["x", "y", "z"]]
    assert hit_at_k(ranked, [{"z", "q"}], 2) == 0.0
    assert hit_at_k(ranked, [{"z", "y"}], 2) == 1.0
    assert mrr(ranked, [["z", "y"]]) == pytest.approx(1 / 2)


def test_hit_at_k_is_monotone_and_bounded_by_mrr_relation():
    rng = random.Random(0)
    ranked = [rng.sample(range(20), 20) for _ in range(50)]
    relevant = [rng.randrange(20) for _ in range(50)]
    hits = [hit_at_k(ranked, relevant, k) for k in range(1, 21)]
    assert hits == sorted(hits) and hits[-1] == 1.0
    assert hits[0] <= mrr(ranked, relevant) <= 1.0  # hit@1 <= MRR


def test_metric_input_errors():
    with pytest.raises(ValueError):
        hit_at_k([[1]], [1, 2], 1)
    with pytest.raises(ValueError):
        hit_at_k([], [], 1)
    with pytest.raises(ValueError):
        hit_at_k([[1]], [1], 0)
    with pytest.raises(ValueError):
        mrr([[1]], [1], k=0)


def test_rrf_hand_computed_example():
    bm25 = ["a", "b", "c"]
    dense = ["c", "a", "d"]
    fused = dict(reciprocal_rank_fusion([bm25, dense], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 63)
    order = [doc for doc, _ in reciprocal_rank_fusion([bm25, dense], k=60)]
    assert order == ["a", "c", "b", "d"]


def test_rrf_weights_top_n_and_duplicates():
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=0, weights=[2.0, 1.0])
    assert fused[0][0] == "a" and fused[0][1] == pytest.approx(2 / 1 + 1 / 2)
    assert reciprocal_rank_fusion([["a", "b", "c"]], top_n=2) == reciprocal_rank_fusion([["a", "b", "c"]])[:2]
    dup = dict(reciprocal_rank_fusion([["a", "a", "b"]], k=0))
    assert dup["a"] == pytest.approx(1.0) and dup["b"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_rrf_of_one_ranking_keeps_its_order():
    rng = random.Random(1)
    ranking = rng.sample(range(100), 30)
    assert [doc for doc, _ in reciprocal_rank_fusion([ranking])] == ranking


def test_rrf_ties_keep_first_seen_order():
    order = [doc for doc, _ in reciprocal_rank_fusion([["a", "b"], ["b", "a"]])]
    assert order == ["a", "b"]


def test_retrieval_report_row():
    row = retrieval_report(RANKED, RELEVANT, ks=(1, 3))
    assert list(row) == ["hit@1", "hit@3", "MRR"]
    assert row["hit@3"] == pytest.approx(0.75)
    assert math.isclose(row["MRR"], mrr(RANKED, RELEVANT))
