"""Unit tests of ch11_embedding_training/retrieval_eval.py (pure numpy, no models)."""

import numpy as np
import pytest

from ch11_embedding_training.retrieval_eval import (
    corpus_fingerprint,
    dedup_corpus,
    dense_top_n,
    hit_at_k,
    mrr,
    reciprocal_rank,
    rerank,
    retrieval_report,
)


def test_dedup_keeps_first_occurrence_order():
    corpus, index = dedup_corpus(["b", "a", "b", "c", "a"])
    assert corpus == ["b", "a", "c"]
    assert index == {"b": 0, "a": 1, "c": 2}


def test_dedup_maps_every_question_to_its_context():
    contexts = ["문단1", "문단2", "문단1", "문단3", "문단2"]
    corpus, index = dedup_corpus(contexts)
    assert len(corpus) == len(set(contexts)) == 3
    assert all(corpus[index[c]] == c for c in contexts)


def test_fingerprint_depends_on_content_and_order():
    assert corpus_fingerprint(["a", "b"]) == corpus_fingerprint(["a", "b"])
    assert corpus_fingerprint(["a", "b"]) != corpus_fingerprint(["b", "a"])
    assert corpus_fingerprint(["ab"]) != corpus_fingerprint(["a", "b"])  # separator matters


def test_dense_top_n_equals_brute_force_cosine():
    rng = np.random.default_rng(0)
    queries, docs = rng.normal(size=(7, 16)), rng.normal(size=(30, 16)) * rng.uniform(0.1, 10, size=(30, 1))
    got = dense_top_n(queries, docs, 5)
    cos = np.array([[q @ d / np.linalg.norm(q) / np.linalg.norm(d) for d in docs] for q in queries])
    expected = np.argsort(-cos, axis=1)[:, :5]
    assert got.shape == (7, 5)
    np.testing.assert_array_equal(got, expected)


def test_dense_top_n_is_cosine_not_dot_product():
    # doc 1 has a larger norm but a worse angle: dot product would rank it first, cosine must not.
    query = np.array([[1.0, 0.0]])
    docs = np.array([[1.0, 0.1], [10.0, 5.0]])
    assert dense_top_n(query, docs, 2).tolist() == [[0, 1]]


def test_dense_top_n_ties_prefer_lower_index_and_rejects_bad_n():
    query = np.ones((1, 3))
    docs = np.ones((4, 3))
    assert dense_top_n(query, docs, 4).tolist() == [[0, 1, 2, 3]]
    with pytest.raises(ValueError):
        dense_top_n(query, docs, 5)
    with pytest.raises(ValueError):
        dense_top_n(query, docs, 0)


def test_rerank_only_reorders_given_candidates():
    candidates = [7, 3, 9, 1]
    out = rerank(candidates, [0.1, 0.9, 0.5, 0.9])
    assert out == [3, 1, 9, 7]  # ties keep the original order (3 before 1)
    assert sorted(out) == sorted(candidates)
    with pytest.raises(ValueError):
        rerank(candidates, [0.1, 0.2])


def test_reciprocal_rank_and_cutoff():
    assert reciprocal_rank([4, 2, 9], 2) == 0.5
    assert reciprocal_rank([4, 2, 9], 9, k=2) == 0.0
    assert reciprocal_rank([4, 2, 9], 5) == 0.0


def test_hit_and_mrr_hand_computed():
    rankings = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [1, 0, 2]]
    golds = [0, 0, 0, 2]
    assert hit_at_k(rankings, golds, 1) == pytest.approx(1 / 4)
    assert hit_at_k(rankings, golds, 2) == pytest.approx(2 / 4)
    assert hit_at_k(rankings, golds, 3) == pytest.approx(4 / 4)
    assert mrr(rankings, golds) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 3) / 4)
    assert mrr(rankings, golds, k=2) == pytest.approx((1 + 1 / 2) / 4)


def test_hit_at_k_refuses_k_beyond_candidates():
    with pytest.raises(ValueError, match="true top"):
        hit_at_k([[0, 1]], [0], 3)
    with pytest.raises(ValueError):
        hit_at_k([], [], 1)
    with pytest.raises(ValueError):
        mrr([[0]], [0, 1])


def test_reranking_cannot_change_hit_at_n_but_can_change_hit_at_k():
    first_stage = [[3, 1, 0], [2, 4, 1]]
    golds = [0, 1]
    reranked = [rerank(c, s) for c, s in zip(first_stage, [[0.1, 0.2, 0.9], [0.3, 0.1, 0.8]])]
    assert hit_at_k(first_stage, golds, 3) == hit_at_k(reranked, golds, 3)
    assert hit_at_k(first_stage, golds, 1) == 0.0 and hit_at_k(reranked, golds, 1) == 1.0


def test_retrieval_report_columns():
    row = retrieval_report([[0, 1, 2, 3]], [1], ks=[1, 3], n=4)
    assert row == {"hit@1": 0.0, "hit@3": 1.0, "hit@4": 1.0, "MRR@4": 0.5}
