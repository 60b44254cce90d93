"""12장 ANN 벤치마크를 실제 규모(기본 100,000 x 384)로 재는 스크립트 (손으로 실행, 단위 테스트 아님).

    .venv/bin/python tools/bench_ann.py                     # 100k x 384, 질의 1,000개 (2코어에서 몇 분)
    .venv/bin/python tools/bench_ann.py --n 20000 --dim 64  # 작게 빨리

- 데이터: 정규화한 가우시안 혼합(군집) 벡터 (`ann_benchmark.clustered_vectors`), 질의는 DB 에 없는 벡터.
- 인덱스: Flat(정확), IVF-Flat, IVF-PQ(8차원 조각, 4차원 조각 + IndexRefineFlat 재정렬), HNSW(efSearch 훑기),
  hnswlib 가 설치돼 있으면 hnswlib HNSW 도.
- 빌드는 모든 코어, 검색은 `--search-threads`(기본 1) 스레드로 고정합니다. 배치 QPS(질의 전체를 한 번에)와
  단건 지연 p50/p95·단건 QPS(질의 하나씩, 질의마다 3번 중 최솟값)를 같은 실행의 Flat 대비 배수로 출력합니다.
- 마지막 줄: HNSW 로 recall@10 >= 목표를 얻는 가장 작은 efSearch 와 그때의 Flat 대비 단건 QPS 배수.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course import hardware_label  # noqa: E402

import faiss
import numpy as np
import pandas as pd

from ch12_vectordb.ann_benchmark import (
    build,
    clustered_vectors,
    exact_neighbors,
    faiss_threads,
    measure,
    ratio_table,
    smallest_meeting,
)


def hnswlib_rows(xb, xq, truth, k, m, ef_list, n_single):
    """hnswlib (if installed) behind the same search(xq, k) interface, measured like the FAISS rows."""
    try:
        import hnswlib
    except ImportError:
        return []

    class HnswlibIndex:
        is_trained = True

        def __init__(self):
            self.index = hnswlib.Index(space="ip", dim=xb.shape[1])
            self.index.init_index(max_elements=len(xb), M=m, ef_construction=40, random_seed=0)
            self.ntotal = 0

        def add(self, x):
            self.index.add_items(x, np.arange(len(x)))
            self.ntotal = len(x)

        def search(self, q, kk):
            labels, dist = self.index.knn_query(q, k=kk, num_threads=1)
            return 1 - dist, labels.astype(np.int64)

        def memory_bytes(self):
            return len(pickle.dumps(self.index))

    index, build_s = build(HnswlibIndex, xb)
    rows = []
    for ef in ef_list:
        index.index.set_ef(ef)
        rows.append(measure(None, xb, xq, truth, k, name=f"hnswlib M{m} ef{ef}", index=index,
                            build_s=build_s, n_single=n_single, single_repeat=3))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--single", type=int, default=300, help="queries timed one at a time")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--search-threads", type=int, default=1)
    ap.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--train", type=int, default=10_000, help="vectors for IVF/PQ k-means (>= 39 x 256)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    k, d = args.k, args.dim
    xb, xq = clustered_vectors(args.n, d, n_queries=args.queries, seed=args.seed)
    truth = exact_neighbors(xb, xq, k)
    nlist = max(8, int(np.sqrt(args.n)))
    train = xb[: min(len(xb), args.train)]
    ip = faiss.METRIC_INNER_PRODUCT
    build_threads = args.build_threads
    indexes = {
        "Flat": lambda: faiss.IndexFlatIP(d),
        f"IVF{nlist},Flat": lambda: faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, ip),
        f"IVF{nlist},PQ{d // 8}": lambda: faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, d // 8, 8, ip),
        f"IVF{nlist},PQ{d // 4}+Refine": lambda: faiss.IndexRefineFlat(
            faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, nlist, d // 4, 8, ip)),
        "HNSW32": lambda: faiss.IndexHNSWFlat(d, 32, ip),
    }
    params = {f"IVF{nlist},Flat": [{"nprobe": p} for p in (4, 8, 16)],
              f"IVF{nlist},PQ{d // 8}": [{"nprobe": 16}],
              f"IVF{nlist},PQ{d // 4}+Refine": [{"nprobe": 16, "k_factor_rf": 10}],
              "HNSW32": [{"efSearch": ef} for ef in (16, 32, 64, 128, 256)]}
    rows, start = [], time.perf_counter()
    for name, factory in indexes.items():
        with faiss_threads(build_threads):
            index, build_s = build(factory, xb, train=train)
        with faiss_threads(args.search_threads):
            for p in params.get(name, [{}]):
                label = name + "".join(f" {key}={v}" for key, v in p.items())
                rows.append(measure(None, xb, xq, truth, k, p, name=label, index=index, build_s=build_s,
                                    n_single=args.single, single_repeat=3))
        print(f"  {name}: built in {build_s:.1f}s", flush=True)
    try:  # optional: only where hnswlib is installed (not in requirements.txt)
        rows += hnswlib_rows(xb, xq, truth, k, 32, (16, 32, 64, 128, 256), args.single)
    except Exception as exc:  # noqa: BLE001 (a failing optional row must not lose the FAISS table)
        print(f"  hnswlib: 측정 실패 ({type(exc).__name__}: {exc}), 표에서 뺍니다")

    table = pd.DataFrame(ratio_table(rows, "Flat", k)).set_index("index")
    print(f"\n{hardware_label()} | faiss {faiss.__version__} | 빌드 {build_threads} 스레드, 검색 {args.search_threads} 스레드"
          f" | N={args.n:,} d={d} 질의 {args.queries:,}개 (단건 {args.single}개, 3번 중 최솟값) | "
          f"총 {time.perf_counter() - start:.0f}s")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string())
    flat = next(r for r in rows if r["index"] == "Flat")
    hit = smallest_meeting([r for r in rows if "efSearch" in r], "efSearch", args.target, f"recall@{k}")
    if hit:
        print(f"\nHNSW32: recall@{k} >= {args.target} 를 얻는 가장 작은 efSearch = {hit['efSearch']} "
              f"(recall {hit[f'recall@{k}']:.3f}, 단건 QPS {hit['single_qps'] / flat['single_qps']:.1f}x Flat, "
              f"배치 QPS {hit['batch_qps'] / flat['batch_qps']:.2f}x Flat) | N={args.n:,} d={d}")
    else:
        print(f"\nHNSW32: 훑은 efSearch 중 recall@{k} >= {args.target} 인 값이 없습니다 | N={args.n:,} d={d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
