"""FAISS 인덱스 벤치마크 보조 모듈: 데이터 만들기, 정답(정확 검색) 구하기, 인덱스 하나 재기, 표와 권장값 만들기.

    xb, xq = clustered_vectors(20_000, 64, n_queries=500, seed=0)
    truth = exact_neighbors(xb, xq, k=10)
    row = measure(lambda: faiss.IndexHNSWFlat(64, 16, faiss.METRIC_INNER_PRODUCT), xb, xq, truth, k=10,
                  params={"efSearch": 64}, n_single=200)
    table = ratio_table(rows, baseline="Flat")          # 같은 실행의 Flat 대비 배수

- 벡터는 모두 L2 정규화하고 내적(= 코사인 유사도)으로 검색합니다.
- 메모리는 `faiss.serialize_index`로 직렬화한 바이트 수로 잽니다 (인덱스가 실제로 들고 있는 데이터의 크기).
- 처리량 두 가지: `batch_qps`는 질의 전체를 한 번에 search한 시간(`repeat`번 중 가장 빠른 값, 행렬 곱이 유리),
  `single_qps`/`p50_ms`/`p95_ms`는 질의를 하나씩 search한 지연 시간(서비스하는 벡터 DB와 ann-benchmarks의 방식).
- 검색 스레드 수는 `faiss_threads(n)`으로 고정하고 표 옆에 적습니다.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager

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
    """Serialized size of a FAISS index; other indexes (e.g. an hnswlib wrapper) may define memory_bytes()."""
    if hasattr(index, "memory_bytes"):
        return int(index.memory_bytes())
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def set_search_params(index, params: dict | None) -> None:
    """Set search-time knobs: efSearch (HNSW), nprobe (IVF); works through IndexPreTransform/IDMap too."""
    import faiss

    for name, value in (params or {}).items():
        faiss.ParameterSpace().set_index_parameter(index, name, value)


@contextmanager
def faiss_threads(n: int):
    """Run FAISS with exactly `n` OpenMP threads inside the block; the previous setting comes back after."""
    import faiss

    if int(n) < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n))
    try:
        yield int(n)
    finally:
        faiss.omp_set_num_threads(previous)


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


def single_query_latencies(index, xq: np.ndarray, k: int, repeat: int = 1) -> np.ndarray:
    """Seconds per query when queries arrive one at a time (one `search` call per query, after one warm-up).

    With `repeat` > 1 each query keeps its fastest of `repeat` runs (what the index costs, minus the noise of
    a shared machine)."""
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    if len(xq) == 0:
        raise ValueError("no queries to time")
    index.search(xq[:1], k)
    seconds = np.full(len(xq), np.inf)
    for _ in range(max(1, repeat)):
        for i in range(len(xq)):
            start = time.perf_counter()
            index.search(xq[i:i + 1], k)
            seconds[i] = min(seconds[i], time.perf_counter() - start)
    return seconds


def latency_summary(seconds: Iterable[float]) -> dict:
    """p50/p95 latency in ms (linear interpolation, numpy's default) and QPS = queries / total time."""
    s = np.asarray(list(seconds), dtype=np.float64)
    if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("latencies must be a non-empty list of finite, non-negative seconds")
    return {"p50_ms": float(np.percentile(s, 50) * 1000), "p95_ms": float(np.percentile(s, 95) * 1000),
            "single_qps": float(s.size / s.sum()) if s.sum() > 0 else float("inf")}


def measure(factory: Callable[[], object], xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, k: int = 10,
            params: dict | None = None, name: str = "", repeat: int = 3, index=None, build_s: float | None = None,
            train: np.ndarray | None = None, n_single: int | None = None, single_repeat: int = 1) -> dict:
    """Build (unless `index` is given) and measure one index: build time, bytes, batched QPS, recall@k and,
    with `n_single` > 0, single-query latency (p50/p95 ms) and QPS over the first `n_single` queries
    (each query's fastest of `single_repeat` runs)."""
    if index is None:
        index, build_s = build(factory, xb, train)
    set_search_params(index, params)
    ids, seconds = timed_search(index, xq, k, repeat)
    nbytes = index_bytes(index)
    row = {"index": name, **(params or {}), "build_s": build_s, "memory_mb": nbytes / 2**20,
           "bytes_per_vector": nbytes / index.ntotal, "batch_qps": len(xq) / seconds,
           f"recall@{k}": recall_at_k(ids, truth, k)}
    if n_single:
        row.update(latency_summary(single_query_latencies(index, xq[:n_single], k, single_repeat)))
    return row


def pareto_front(rows: list[dict], x: str = "single_qps", y: str = "recall@10") -> list[dict]:
    """Rows not dominated by another row with both higher-or-equal x and y (one strictly higher)."""
    front = []
    for r in rows:
        dominated = any(o[x] >= r[x] and o[y] >= r[y] and (o[x] > r[x] or o[y] > r[y]) for o in rows)
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r[x])


def cheapest_meeting(rows: list[dict], target: float, key: str = "recall@10",
                     by: str = "single_qps") -> dict | None:
    """The row with the highest `by` among rows whose `key` >= target (None if none does)."""
    ok = [r for r in rows if r[key] >= target]
    return max(ok, key=lambda r: r[by]) if ok else None


RATIO_COLUMNS = {"single_qps": "단건 QPS 배수", "batch_qps": "배치 QPS 배수", "build_s": "빌드 시간 배수",
                 "memory_mb": "메모리 배수"}


def ratio_table(rows: list[dict], baseline: str, k: int = 10) -> list[dict]:
    """Each row next to the `baseline` row (same run): recall@k, p50/p95 ms and x-times ratios of
    single-query QPS, batched QPS, build time and memory. Missing measurements give None, never a crash."""
    base = [r for r in rows if r["index"] == baseline]
    if len(base) != 1:
        raise ValueError(f"need exactly one baseline row named {baseline!r}, found {len(base)}")
    base = base[0]

    def ratio(r, col):
        a, b = r.get(col), base.get(col)
        return None if a is None or not b else a / b

    table = []
    for r in rows:
        out = {"index": r["index"], f"recall@{k}": r[f"recall@{k}"], "p50_ms": r.get("p50_ms"),
               "p95_ms": r.get("p95_ms"), "build_s": r.get("build_s"), "memory_mb": r.get("memory_mb")}
        out.update({label: ratio(r, col) for col, label in RATIO_COLUMNS.items()})
        table.append(out)
    return table


def smallest_meeting(rows: list[dict], param: str, target: float, key: str = "recall@10") -> dict | None:
    """The row with the smallest `param` (e.g. efSearch, nprobe) whose `key` >= target; None if none does.
    Ties on `param` go to the higher recall."""
    ok = [r for r in rows if r[key] >= target]
    return min(ok, key=lambda r: (r[param], -r[key])) if ok else None


def recommend(rows: list[dict], target: float, group: str, param: str, key: str = "recall@10",
              by: str = "single_qps") -> tuple[list[dict], dict | None]:
    """Derived from measured curves: for each `group` value (e.g. m) the smallest `param` (e.g. efSearch)
    reaching `target`, and overall the row meeting the target with the highest `by` (None if none does)."""
    per_group = []
    for g in sorted({r[group] for r in rows}):
        hit = smallest_meeting([r for r in rows if r[group] == g], param, target, key)
        per_group.append({group: g, param: hit[param] if hit else None, key: hit[key] if hit else None,
                          by: hit[by] if hit else None})
    return per_group, cheapest_meeting(rows, target, key=key, by=by)
