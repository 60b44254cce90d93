"""검색 평가와 결과 합치기에 쓰는 작은 함수 모음 (10장, 11장에서 함께 쓴다).

- ``dedup_contexts``: 같은 문단이 여러 질문에 달려 있을 때 말뭉치에서 한 번만 남기고, 질문마다 정답 문단 번호를 돌려준다.
  (중복 문단을 그대로 두면 같은 정답이 여러 자리를 차지해 hit@k 가 부풀려진다.)
- ``hit_at_k``: 상위 k 개 안에 정답이 하나라도 있는 질문의 비율.
- ``mrr``: 첫 정답 순위의 역수 평균 (k 를 주면 k 위 밖은 0 으로 친다).
- ``reciprocal_rank_fusion``: 여러 검색기의 순위를 1/(k + 순위) 합으로 합친다 (Cormack et al., 2009).
- ``retrieval_report``: 위 지표를 한 번에 계산해 표 한 줄(dict)로 돌려준다.

순위 목록(ranked)은 질문마다 문서 id 를 좋은 순서대로 담은 시퀀스이고, 정답(relevant)은 질문마다
문서 id 하나 또는 id 의 모음(set/list/tuple)이다. 순위는 1 부터 센다.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

__all__ = ["dedup_contexts", "first_hit_rank", "hit_at_k", "mrr", "reciprocal_rank_fusion", "retrieval_report"]


def dedup_contexts(contexts: Iterable[str]) -> tuple[list[str], list[int]]:
    """같은 문단을 한 번만 남긴다 (처음 나온 순서 유지).

    Returns ``(corpus, gold)``: 중복 없는 문단 목록과, 입력의 각 위치가 가리키는 corpus 번호.
    ``corpus[gold[i]] == contexts[i]`` 가 항상 성립한다.
    """
    corpus: list[str] = []
    index: dict[str, int] = {}
    gold: list[int] = []
    for text in contexts:
        if text not in index:
            index[text] = len(corpus)
            corpus.append(text)
        gold.append(index[text])
    return corpus, gold


def _as_set(relevant) -> set:
    if isinstance(relevant, (set, frozenset, list, tuple)):
        return set(relevant)
    return {relevant}


def _check(ranked: Sequence[Sequence[Hashable]], relevant: Sequence) -> None:
    if len(ranked) != len(relevant):
        raise ValueError(f"ranked has {len(ranked)} queries but relevant has {len(relevant)}")
    if len(ranked) == 0:
        raise ValueError("no queries to evaluate")


def first_hit_rank(ranking: Sequence[Hashable], relevant) -> int | None:
    """정답이 처음 나오는 순위 (1 부터). 없으면 None."""
    gold = _as_set(relevant)
    for position, doc_id in enumerate(ranking, start=1):
        if doc_id in gold:
            return position
    return None


def hit_at_k(ranked: Sequence[Sequence[Hashable]], relevant: Sequence, k: int) -> float:
    """상위 k 개 안에 정답이 있는 질문의 비율 (0..1)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    _check(ranked, relevant)
    hits = 0
    for ranking, gold in zip(ranked, relevant):
        rank = first_hit_rank(list(ranking)[:k], gold)
        hits += rank is not None
    return hits / len(ranked)


def mrr(ranked: Sequence[Sequence[Hashable]], relevant: Sequence, k: int | None = None) -> float:
    """Mean Reciprocal Rank: 질문마다 1/(첫 정답 순위) 의 평균. k 위 밖이나 정답이 없으면 0."""
    if k is not None and k < 1:
        raise ValueError("k must be >= 1")
    _check(ranked, relevant)
    total = 0.0
    for ranking, gold in zip(ranked, relevant):
        ranking = list(ranking) if k is None else list(ranking)[:k]
        rank = first_hit_rank(ranking, gold)
        total += 0.0 if rank is None else 1.0 / rank
    return total / len(ranked)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], k: int = 60,
                           weights: Sequence[float] | None = None,
                           top_n: int | None = None) -> list[tuple[Hashable, float]]:
    """여러 순위 목록을 RRF 로 합친다: score(d) = sum_i w_i / (k + rank_i(d)), rank 는 1 부터.

    한 목록에 없는 문서는 그 목록에서 점수를 받지 않는다. 한 목록 안의 중복 id 는 처음 순위만 센다.
    점수가 같으면 먼저 나온(목록 순서, 그 안의 순위 순서) 문서가 앞선다. ``(id, score)`` 를 점수 내림차순으로 돌려준다.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set = set()
        for rank, doc_id in enumerate(ranking, start=1):
            if doc_id in seen:
                continue
            seen.add(doc_id)
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    fused = sorted(scores.items(), key=lambda item: -item[1])  # sorted() is stable: ties keep first-seen order
    return fused if top_n is None else fused[:top_n]


def retrieval_report(ranked: Sequence[Sequence[Hashable]], relevant: Sequence,
                     ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """표 한 줄: ``{"hit@1": .., "hit@3": .., ..., "MRR": ..}`` (MRR 은 주어진 순위 전체로 계산)."""
    row = {f"hit@{k}": hit_at_k(ranked, relevant, k) for k in ks}
    row["MRR"] = mrr(ranked, relevant)
    return row
