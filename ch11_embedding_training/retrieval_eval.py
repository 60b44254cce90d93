"""검색(retrieval) 평가 도우미: 중복 없는 코퍼스, 밀집 검색 top-N, 재순위화, hit@k / MRR.

11장 노트북이 기본 모델·미세조정 모델·재순위화(reranker) 결과를 **같은 코퍼스, 같은 질문**으로
비교할 때 쓰는 작은 함수들이다. 모델과 무관한 순수 numpy 코드라서 단위 테스트로 검증한다
(`tests/test_ch11_retrieval_eval.py`).

순위(ranking)는 코퍼스 인덱스의 목록이며, 앞에 있을수록 관련도가 높다.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def dedup_corpus(texts: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    """처음 나온 순서를 지키며 중복 문단을 없앤다. (코퍼스, 문단 -> 인덱스) 를 돌려준다.

    MRC 데이터는 한 문단에 질문이 여러 개 달려 있어서, 중복을 지우지 않으면 같은 문단이 코퍼스에
    여러 번 들어가 hit@k 가 부풀려진다.
    """
    index: dict[str, int] = {}
    for text in texts:
        index.setdefault(text, len(index))
    return list(index), index


def build_eval_set(questions: Sequence[str], contexts: Sequence[str]) -> tuple[list[str], list[str], list[int]]:
    """(질문, 정답 문단) 쌍에서 (중복 없는 코퍼스, 질문 목록, 질문별 정답 코퍼스 인덱스) 를 만든다."""
    if len(questions) != len(contexts):
        raise ValueError("questions and contexts must have the same length")
    corpus, index = dedup_corpus(contexts)
    return corpus, list(questions), [index[c] for c in contexts]


def corpus_fingerprint(corpus: Sequence[str]) -> str:
    """코퍼스 내용과 순서의 지문(sha256 앞 12자리). 표의 모든 행이 같은 코퍼스를 썼는지 확인할 때 쓴다."""
    digest = hashlib.sha256()
    for text in corpus:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:12]


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def dense_top_n(query_emb: np.ndarray, corpus_emb: np.ndarray, n: int) -> np.ndarray:
    """코사인 유사도 상위 n 개 코퍼스 인덱스 (질문 수, n). 동점이면 인덱스가 작은 쪽이 앞선다.

    벡터를 정규화한 뒤 내적하므로 임베딩 크기가 달라도 코사인 유사도가 된다.
    """
    corpus_emb = np.asarray(corpus_emb)
    if not 1 <= n <= len(corpus_emb):
        raise ValueError(f"n must be in [1, {len(corpus_emb)}], got {n}")
    scores = _normalize(query_emb) @ _normalize(corpus_emb).T
    return np.argsort(-scores, axis=1, kind="stable")[:, :n]


def rerank(candidates: Sequence[int], scores: Sequence[float]) -> list[int]:
    """후보 인덱스를 점수 내림차순으로 다시 줄 세운다 (동점이면 원래 순서 유지).

    재순위화는 받은 후보 안에서 순서만 바꾼다: 후보를 더하거나 빼지 않는다.
    """
    if len(candidates) != len(scores):
        raise ValueError("one score per candidate is needed")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return [int(candidates[i]) for i in order]


def reciprocal_rank(ranking: Sequence[int], gold: int, k: int | None = None) -> float:
    """정답의 순위 r (1부터) 이 k 안이면 1/r, 아니면 0."""
    ranking = list(ranking)[: k if k is not None else None]
    return 1.0 / (ranking.index(gold) + 1) if gold in ranking else 0.0


def hit_at_k(rankings: Sequence[Sequence[int]], golds: Sequence[int], k: int) -> float:
    """정답 문단이 상위 k 안에 든 질문의 비율. k 가 순위 길이보다 크면 오류 (top-k 를 속이지 않도록)."""
    if len(rankings) != len(golds) or not golds:
        raise ValueError("need one ranking per gold answer, and at least one")
    if any(len(r) < k for r in rankings):
        raise ValueError(f"k={k} is larger than a ranking: hit@{k} would not be a true top-{k}")
    return float(np.mean([gold in list(r)[:k] for r, gold in zip(rankings, golds)]))


def mrr(rankings: Sequence[Sequence[int]], golds: Sequence[int], k: int | None = None) -> float:
    """평균 역순위(Mean Reciprocal Rank). k 를 주면 MRR@k (순위 k 밖은 0)."""
    if len(rankings) != len(golds) or not golds:
        raise ValueError("need one ranking per gold answer, and at least one")
    return float(np.mean([reciprocal_rank(r, gold, k) for r, gold in zip(rankings, golds)]))


def retrieval_report(rankings: Sequence[Sequence[int]], golds: Sequence[int], ks: Sequence[int],
                     n: int) -> dict[str, float]:
    """hit@k (ks 의 각 k) 와 hit@n, MRR@n 을 한 줄(dict)로 만든다."""
    row = {f"hit@{k}": hit_at_k(rankings, golds, k) for k in ks}
    row[f"hit@{n}"] = hit_at_k(rankings, golds, n)
    row[f"MRR@{n}"] = mrr(rankings, golds, n)
    return row
