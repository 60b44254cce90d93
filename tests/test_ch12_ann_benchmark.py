"""Unit tests of ch12_vectordb/ann_benchmark.py."""

import faiss
import numpy as np
import pytest

from ch12_vectordb.ann_benchmark import (
    build,
    cheapest_meeting,
    clustered_vectors,
    exact_neighbors,
    faiss_threads,
    index_bytes,
    latency_summary,
    measure,
    normalize_rows,
    pareto_front,
    ratio_table,
    recall_at_k,
    recommend,
    set_search_params,
    single_query_latencies,
    smallest_meeting,
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
    flat = measure(lambda: faiss.IndexFlatIP(16), xb, xq, truth, name="Flat", repeat=1, n_single=20)
    assert flat["recall@10"] == 1.0 and flat["batch_qps"] > 0 and flat["build_s"] >= 0
    assert 0 < flat["p50_ms"] <= flat["p95_ms"] and flat["single_qps"] > 0
    assert flat["bytes_per_vector"] >= 16 * 4
    nlist = 16
    ivf = measure(lambda: faiss.IndexIVFFlat(faiss.IndexFlatIP(16), 16, nlist, faiss.METRIC_INNER_PRODUCT),
                  xb, xq, truth, params={"nprobe": nlist}, repeat=1)
    assert ivf["recall@10"] == 1.0 and ivf["nprobe"] == nlist
    assert "p50_ms" not in ivf and "single_qps" not in ivf      # single-query timing only when asked


def test_recall_at_k_counts_partial_and_duplicate_free():
    truth = np.array([[0, 1, 2, 3]])
    assert recall_at_k(np.array([[3, 2, 7, 8]]), truth) == 0.5
    assert recall_at_k(np.array([[0, 0, 0, 0]]), truth) == 0.25     # a repeated id counts once
    assert recall_at_k(np.array([[9, 8, 0, 1]]), truth, k=2) == 0.0  # only the first k found ids count


def test_latency_summary_percentiles_and_qps():
    seconds = np.arange(1, 101) / 1000            # 1 ms .. 100 ms
    s = latency_summary(seconds)
    assert s["p50_ms"] == pytest.approx(50.5) and s["p95_ms"] == pytest.approx(95.05)
    assert s["single_qps"] == pytest.approx(100 / seconds.sum())
    assert latency_summary([0.002] * 5)["single_qps"] == pytest.approx(500)
    for bad in ([], [0.1, float("nan")], [-0.1]):
        with pytest.raises(ValueError):
            latency_summary(bad)


def test_single_query_latencies_one_per_query():
    calls = []

    class Probe:
        def search(self, q, k):
            calls.append(len(q))
            return np.zeros((len(q), k)), np.zeros((len(q), k), dtype=np.int64)

    seconds = single_query_latencies(Probe(), np.zeros((7, 4), dtype=np.float32), 3)
    assert seconds.shape == (7,) and (seconds >= 0).all()
    assert calls == [1] * 8                       # one warm-up, then one call per query
    calls.clear()
    assert single_query_latencies(Probe(), np.zeros((3, 4), dtype=np.float32), 2, repeat=3).shape == (3,)
    assert calls == [1] * 10                      # warm-up + 3 rounds of 3 queries
    with pytest.raises(ValueError):
        single_query_latencies(Probe(), np.zeros((0, 4), dtype=np.float32), 3)


def test_faiss_threads_sets_and_restores():
    before = faiss.omp_get_max_threads()
    with faiss_threads(1) as n:
        assert n == 1 and faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    with pytest.raises(ValueError), faiss_threads(0):
        pass


def test_ratio_table_against_baseline():
    rows = [{"index": "Flat", "recall@10": 1.0, "single_qps": 100.0, "batch_qps": 1000.0, "build_s": 0.5,
             "memory_mb": 10.0, "p50_ms": 10.0, "p95_ms": 12.0},
            {"index": "HNSW", "recall@10": 0.96, "single_qps": 1500.0, "batch_qps": 2000.0, "build_s": 5.0,
             "memory_mb": 12.0, "p50_ms": 0.6, "p95_ms": 0.9},
            {"index": "noisy", "recall@10": 0.5, "batch_qps": 10.0, "build_s": None, "memory_mb": 1.0}]
    table = {r["index"]: r for r in ratio_table(rows, "Flat")}
    assert table["Flat"]["단건 QPS 배수"] == 1.0 and table["Flat"]["메모리 배수"] == 1.0
    h = table["HNSW"]
    assert h["단건 QPS 배수"] == pytest.approx(15) and h["배치 QPS 배수"] == pytest.approx(2)
    assert h["빌드 시간 배수"] == pytest.approx(10) and h["메모리 배수"] == pytest.approx(1.2)
    assert h["recall@10"] == 0.96 and h["p95_ms"] == 0.9
    assert table["noisy"]["단건 QPS 배수"] is None and table["noisy"]["빌드 시간 배수"] is None
    with pytest.raises(ValueError):
        ratio_table(rows, "IVF")
    with pytest.raises(ValueError):
        ratio_table(rows + [dict(rows[0])], "Flat")


def test_smallest_meeting_and_recommend():
    rows = [{"m": m, "efSearch": ef, "recall@10": r, "single_qps": q}
            for m, ef, r, q in [(16, 32, 0.90, 900), (16, 64, 0.94, 600), (16, 128, 0.97, 300),
                                (32, 32, 0.93, 800), (32, 64, 0.96, 500), (32, 128, 0.99, 250),
                                (4, 256, 0.80, 100)]]
    assert smallest_meeting(rows, "efSearch", 0.95)["efSearch"] == 64        # m=32 reaches it first
    assert smallest_meeting(rows, "efSearch", 0.999) is None
    per_m, best = recommend(rows, 0.95, group="m", param="efSearch")
    assert [(r["m"], r["efSearch"]) for r in per_m] == [(4, None), (16, 128), (32, 64)]
    assert best["m"] == 32 and best["efSearch"] == 64                         # highest QPS at >= 0.95
    assert recommend(rows, 0.999, group="m", param="efSearch")[1] is None


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
    rows = [{"single_qps": 10, "recall@10": 0.99}, {"single_qps": 100, "recall@10": 0.9},
            {"single_qps": 50, "recall@10": 0.8}, {"single_qps": 60, "recall@10": 0.96}]
    assert [r["single_qps"] for r in pareto_front(rows)] == [10, 60, 100]
    assert cheapest_meeting(rows, 0.95)["single_qps"] == 60
    assert cheapest_meeting(rows, 0.999) is None
    batch = [{"batch_qps": r["single_qps"], "recall@10": r["recall@10"]} for r in rows]
    assert cheapest_meeting(batch, 0.9, by="batch_qps")["batch_qps"] == 100


def test_exact_neighbors_shape_and_self_match():
    """One row of k ids per query; a query that is a database vector finds itself first."""
    xb, _ = clustered_vectors(400, 12, n_queries=5, seed=4)
    ids = exact_neighbors(xb, xb[:7], 3)
    assert ids.shape == (7, 3)
    assert ids[:, 0].tolist() == list(range(7))
