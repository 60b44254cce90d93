"""Unit tests of ch09_rag/llm_cache.py (exact + semantic LLM caches persisted in SQLite)."""

import numpy as np
import pytest

from ch09_rag.llm_cache import (
    CachedLLM,
    ExactCache,
    SemanticCache,
    normalize_prompt,
    prompt_key,
    threshold_tradeoff,
)

VOCAB = ["대통령", "국회의원", "임기", "주권", "영토", "몇", "년"]


def bag_of_words(texts):
    """A deterministic toy embedding: counts of known words (plus a small constant dimension)."""
    return np.array([[t.count(w) for w in VOCAB] + [0.1] for t in texts], dtype=np.float32)


def counting_model():
    calls = []

    def call(prompt):
        calls.append(prompt)
        return f"answer#{len(calls)}"

    return call, calls


def test_normalize_and_key():
    assert normalize_prompt("  대통령의   임기는?\n") == "대통령의 임기는?"
    assert normalize_prompt("Hello World") == normalize_prompt("hello world")
    assert prompt_key("a b", "m1") == prompt_key(" a  b ", "m1")
    assert prompt_key("a b", "m1") != prompt_key("a b", "m2")


def test_exact_cache_roundtrip_and_persistence(tmp_path):
    db = tmp_path / "cache.db"
    cache = ExactCache(db, namespace="gpt")
    assert cache.get("질문") is None
    cache.put("질문", "답")
    cache.put(" 질문 ", "새 답")  # same key: replaced, not duplicated
    assert len(cache) == 1 and cache.get("질문") == "새 답"
    cache.close()
    reopened = ExactCache(db, namespace="gpt")
    assert reopened.get("  질문") == "새 답"
    assert ExactCache(db, namespace="other").get("질문") is None


def test_semantic_cache_threshold_and_persistence(tmp_path):
    db = tmp_path / "cache.db"
    cache = SemanticCache(db, embed=bag_of_words, threshold=0.9, namespace="gpt")
    assert cache.nearest("x") is None and cache.get("x") is None
    cache.put("대통령 임기 몇 년", "5년")
    cache.put("국회의원 임기 몇 년", "4년")
    hit = cache.get("대통령의 임기는 몇 년?")
    assert hit is not None and hit.answer == "5년" and hit.similarity > 0.99
    assert cache.get("영토") is None  # far away: no hit
    assert cache.nearest("영토").similarity < 0.9
    reopened = SemanticCache(db, embed=bag_of_words, threshold=0.9, namespace="gpt")
    assert len(reopened) == 2 and reopened.get("대통령 임기 몇 년").answer == "5년"
    assert len(SemanticCache(db, embed=bag_of_words, namespace="other")) == 0


def test_semantic_put_same_prompt_replaces(tmp_path):
    cache = SemanticCache(tmp_path / "c.db", embed=bag_of_words, threshold=0.5)
    cache.put("대통령 임기", "a")
    cache.put("대통령 임기", "b")
    assert len(cache) == 1 and cache.get("대통령 임기").answer == "b"


def test_cached_llm_counts_model_calls(tmp_path):
    call, calls = counting_model()
    db = tmp_path / "cache.db"
    llm = CachedLLM(call, exact=ExactCache(db), semantic=SemanticCache(db, embed=bag_of_words, threshold=0.95))
    r1 = llm.ask("대통령 임기 몇 년")
    r2 = llm.ask("  대통령 임기 몇 년 ")
    r3 = llm.ask("대통령의 임기는 몇 년인가요")
    r4 = llm.ask("영토")
    assert [r.source for r in (r1, r2, r3, r4)] == ["model", "exact", "semantic", "model"]
    assert r2.answer == r3.answer == r1.answer == "answer#1"
    assert llm.model_calls == len(calls) == 2


def test_cached_llm_without_caches_always_calls():
    call, calls = counting_model()
    llm = CachedLLM(call)
    assert llm.ask("a").source == "model" and llm.ask("a").source == "model"
    assert len(calls) == 2


def test_threshold_tradeoff():
    sims = [0.95, 0.9, 0.8, 0.7]
    good = [True, False, True, False]
    rows = {r["threshold"]: r for r in threshold_tradeoff(sims, good, [0.5, 0.85, 0.92, 0.99])}
    assert rows[0.5]["hits"] == 4 and rows[0.5]["precision"] == 0.5 and rows[0.5]["recall"] == 1.0
    assert rows[0.85]["hits"] == 2 and rows[0.85]["precision"] == 0.5 and rows[0.85]["recall"] == 0.5
    assert rows[0.92]["precision"] == 1.0 and rows[0.92]["recall"] == 0.5
    assert rows[0.99]["hits"] == 0 and rows[0.99]["precision"] == 1.0 and rows[0.99]["recall"] == 0.0
    assert rows[0.5]["hit_rate"] == pytest.approx(1.0)
