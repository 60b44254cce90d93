"""Unit tests of ch12_vectordb/ann_benchmark.py."""

import faiss
import numpy as np
import pytest

from ch12_vectordb.ann_benchmark import (
    build,
    cheapest_meeting,
    clustered_vectors,
    exact_neighbors,
    index_bytes,
    measure,
    normalize_rows,
    pareto_front,
    recall_at_k,
    set_search_params,
)


def test_recall_at_k():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(truth, truth) == 1.0
    assert recall_at_k(np.array([[3, 2, 9], [-1, -1, -1]]), truth) == pytest.approx(2 / 6)
    assert recall_at_k(np.array([[1, 9], [4, 9]]), np.array([[1, 2], [4, 5]]), k=1) == 1.0


def test_clustered_vectors_are_unit_and_seeded():
    xb, xq = clustered_vectors(500, 16, n_queries=20, seed=3)
    assert xb.shape == (500, 16) and xq.shape == (20, 16) and xb.dtype == np.float32
    assert np.allclose(np.linalg.norm(xb, axis=1), 1, atol=1e-5)
    xb2, _ = clustered_vectors(500, 16, n_queries=20, seed=3)
    assert np.array_equal(xb, xb2)


def test_exact_neighbors_matches_numpy():
    xb, xq = clustered_vectors(300, 8, n_queries=10, seed=1)
    truth = exact_neighbors(xb, xq, 5)
    brute = np.argsort(-(xq @ xb.T), axis=1)[:, :5]
    assert recall_at_k(truth, brute) == 1.0


def test_measure_flat_and_ivf_full_probe_are_exact():
    xb, xq = clustered_vectors(2000, 16, n_queries=50, seed=2)
    truth = exact_neighbors(xb, xq, 10)
    flat = measure(lambda: faiss.IndexFlatIP(16), xb, xq, truth, name="Flat", repeat=1)
    assert flat["recall@10"] == 1.0 and flat["qps"] > 0 and flat["build_s"] >= 0
    assert flat["bytes_per_vector"] >= 16 * 4
    nlist = 16
    ivf = measure(lambda: faiss.IndexIVFFlat(faiss.IndexFlatIP(16), 16, nlist, faiss.METRIC_INNER_PRODUCT),
                  xb, xq, truth, params={"nprobe": nlist}, repeat=1)
    assert ivf["recall@10"] == 1.0 and ivf["nprobe"] == nlist


def test_set_search_params_hnsw():
    xb, _ = clustered_vectors(200, 8, seed=0)
    index, _ = build(lambda: faiss.IndexHNSWFlat(8, 8, faiss.METRIC_INNER_PRODUCT), xb)
    set_search_params(index, {"efSearch": 77})
    assert index.hnsw.efSearch == 77
    assert index_bytes(index) > index_bytes(faiss.IndexFlatIP(8))


def test_normalize_rows_zero_safe():
    x = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(x[0], [0.6, 0.8]) and np.all(np.isfinite(x))


def test_pareto_and_cheapest():
    rows = [{"qps": 10, "recall@10": 0.99}, {"qps": 100, "recall@10": 0.9}, {"qps": 50, "recall@10": 0.8},
            {"qps": 60, "recall@10": 0.96}]
    assert [r["qps"] for r in pareto_front(rows)] == [10, 60, 100]
    assert cheapest_meeting(rows, 0.95)["qps"] == 60
    assert cheapest_meeting(rows, 0.999) is None
