"""FAISS 인덱스 벤치마크 도우미: 데이터 만들기, 정답(정확 검색) 구하기, 인덱스 하나 재기.

    xb, xq = clustered_vectors(20_000, 64, n_queries=500, seed=0)
    truth = exact_neighbors(xb, xq, k=10)
    row = measure(lambda: faiss.IndexHNSWFlat(64, 16, faiss.METRIC_INNER_PRODUCT), xb, xq, truth, k=10,
                  params={"efSearch": 64})

- 벡터는 모두 L2 정규화하고 내적(= 코사인 유사도)으로 검색합니다.
- 메모리는 `faiss.serialize_index` 로 직렬화한 바이트 수로 잽니다 (인덱스가 실제로 들고 있는 데이터의 크기).
- QPS 는 질의 전체를 한 번에 search 한 시간으로 계산합니다 (`repeat` 번 중 가장 빠른 값).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def clustered_vectors(n: int, dim: int, n_queries: int = 200, n_clusters: int = 50, spread: float = 0.35,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors drawn around `n_clusters` random centres (like real embeddings, which are clustered).

    Queries come from the same distribution but are not copies of database vectors.
    """
    rng = np.random.default_rng(seed)
    centres = normalize_rows(rng.standard_normal((n_clusters, dim)))

    def draw(m: int) -> np.ndarray:
        labels = rng.integers(0, n_clusters, size=m)
        noise = rng.standard_normal((m, dim)).astype(np.float32) * spread / np.sqrt(dim) * 3
        return normalize_rows(centres[labels] + noise)

    return draw(n), draw(n_queries)


def exact_neighbors(xb: np.ndarray, xq: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k most similar database vectors (inner product), by brute force with FAISS IndexFlatIP."""
    import faiss

    index = faiss.IndexFlatIP(xb.shape[1])
    index.add(xb)
    return index.search(xq, k)[1]


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int | None = None) -> float:
    """Mean over queries of |found[:k] ∩ truth[:k]| / k (ids < 0, i.e. 'not found', never count)."""
    found, truth = np.asarray(found), np.asarray(truth)
    k = k or truth.shape[1]
    hits = 0
    for f, t in zip(found[:, :k], truth[:, :k]):
        hits += len(set(f[f >= 0].tolist()) & set(t.tolist()))
    return hits / (k * len(truth))


def index_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def set_search_params(index, params: dict | None) -> None:
    """Set search-time knobs: efSearch (HNSW), nprobe (IVF); works through IndexPreTransform/IDMap too."""
    import faiss

    for name, value in (params or {}).items():
        faiss.ParameterSpace().set_index_parameter(index, name, value)


def timed_search(index, xq: np.ndarray, k: int, repeat: int = 3) -> tuple[np.ndarray, float]:
    best, ids = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        _, ids = index.search(xq, k)
        best = min(best, time.perf_counter() - start)
    return ids, best


def build(factory: Callable[[], object], xb: np.ndarray, train: np.ndarray | None = None):
    """Create, train (if needed) and fill an index; returns (index, seconds)."""
    start = time.perf_counter()
    index = factory()
    if not index.is_trained:
        index.train(xb if train is None else train)
    index.add(xb)
    return index, time.perf_counter() - start


def measure(factory: Callable[[], object], xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, k: int = 10,
            params: dict | None = None, name: str = "", repeat: int = 3, index=None, build_s: float | None = None,
            train: np.ndarray | None = None) -> dict:
    """Build (unless `index` is given) and measure one index: build time, bytes, QPS and recall@k."""
    if index is None:
        index, build_s = build(factory, xb, train)
    set_search_params(index, params)
    ids, seconds = timed_search(index, xq, k, repeat)
    return {"index": name, **(params or {}), "build_s": build_s, "memory_mb": index_bytes(index) / 2**20,
            "bytes_per_vector": index_bytes(index) / index.ntotal, "qps": len(xq) / seconds,
            f"recall@{k}": recall_at_k(ids, truth, k)}


def pareto_front(rows: list[dict], x: str = "qps", y: str = "recall@10") -> list[dict]:
    """Rows not dominated by another row with both higher-or-equal x and y (one strictly higher)."""
    front = []
    for r in rows:
        dominated = any(o[x] >= r[x] and o[y] >= r[y] and (o[x] > r[x] or o[y] > r[y]) for o in rows)
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r[x])


def cheapest_meeting(rows: list[dict], target: float, key: str = "recall@10", by: str = "qps") -> dict | None:
    """The row with the highest `by` among rows whose `key` >= target (None if none does)."""
    ok = [r for r in rows if r[key] >= target]
    return max(ok, key=lambda r: r[by]) if ok else None
