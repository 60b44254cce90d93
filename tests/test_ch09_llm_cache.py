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


# ---------------------------------------------------------------- 동시 쓰기, 임베딩 크기, 이상한 입력


def wide_bag_of_words(texts):
    """The same toy embedding with 8 extra dimensions: a different embedding model."""
    return np.hstack([bag_of_words(texts), np.ones((len(texts), 8), dtype=np.float32)])


def test_stores_use_wal_and_a_busy_timeout(tmp_path):
    cache = ExactCache(tmp_path / "c.db")
    semantic = SemanticCache(tmp_path / "c.db", embed=bag_of_words)
    for conn in (cache.conn, semantic.conn):
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def _cache_writer(path, worker, count, errors):
    from ch09_rag.llm_cache import ExactCache as Exact
    from ch09_rag.llm_cache import SemanticCache as Semantic

    exact, semantic = Exact(path, namespace="m"), Semantic(path, embed=bag_of_words, namespace="m")
    for i in range(count):
        try:
            exact.put(f"질문 {worker}-{i}", f"답 {worker}-{i}")
            semantic.put(f"대통령 {worker}-{i}", f"답 {worker}-{i}")
            exact.get(f"질문 {worker}-{i // 2}")
        except Exception as err:  # noqa: BLE001 - counted, reported by the parent
            errors.put(f"{worker}-{i}: {type(err).__name__}: {err}")


def test_four_processes_write_one_cache_without_locks_or_lost_rows(tmp_path):
    from tests.concurrent_writers import run_writers

    path, count = tmp_path / "shared.db", 150
    exitcodes, problems = run_writers(_cache_writer, path, count)
    assert exitcodes == [0, 0, 0, 0]
    assert problems == [], "no 'database is locked'"
    assert len(ExactCache(path, namespace="m")) == 4 * count
    assert len(SemanticCache(path, embed=bag_of_words, namespace="m")) == 4 * count


def test_reopening_with_another_embedding_size_refuses_and_keeps_the_data(tmp_path):
    from ch09_rag.llm_cache import EmbeddingSizeError

    db = tmp_path / "c.db"
    cache = SemanticCache(db, embed=bag_of_words, namespace="gpt")
    cache.put("대통령 임기 몇 년", "5년")
    cache.put("국회의원 임기", "4년")
    cache.close()
    with pytest.raises(EmbeddingSizeError, match="8.*16|16.*8"):
        SemanticCache(db, embed=wide_bag_of_words, namespace="gpt")
    reopened = SemanticCache(db, embed=bag_of_words, namespace="gpt")
    assert len(reopened) == 2 and reopened.get("대통령 임기 몇 년").answer == "5년"
    reopened.put("영토", "한반도")
    assert len(SemanticCache(db, embed=bag_of_words, namespace="gpt")) == 3
    other = SemanticCache(db, embed=wide_bag_of_words, namespace="wide")  # another namespace may differ
    other.put("대통령", "x")
    assert len(other) == 1 and len(SemanticCache(db, embed=bag_of_words, namespace="gpt")) == 3


def test_a_wrong_sized_vector_is_refused_before_anything_is_written(tmp_path):
    from ch09_rag.llm_cache import EmbeddingSizeError

    db = tmp_path / "c.db"
    cache = SemanticCache(db, embed=bag_of_words)
    cache.put("대통령 임기", "5년")
    with pytest.raises(EmbeddingSizeError):
        cache.put("국회의원", "4년", vector=np.ones(3, dtype=np.float32))
    with pytest.raises(EmbeddingSizeError):
        cache.get("국회의원", vector=np.ones(3, dtype=np.float32))
    assert len(cache) == 1 and cache.get("대통령 임기").answer == "5년"
    assert len(SemanticCache(db, embed=bag_of_words)) == 1, "nothing half-written"
    cache.put("국회의원 임기", "4년")
    assert len(cache) == 2


def test_an_embedder_returning_a_bad_shape_gives_a_clear_error(tmp_path):
    from ch09_rag.llm_cache import EmbeddingSizeError

    cache = SemanticCache(tmp_path / "c.db", embed=lambda texts: np.zeros((2, 4, 4), dtype=np.float32))
    with pytest.raises(EmbeddingSizeError, match="embed"):
        cache.put("a", "b")
    assert len(cache) == 0


@pytest.mark.parametrize("bad", [None, 123, b"bytes", ["list"], {"d": 1}])
def test_non_string_prompts_and_answers_give_a_clear_error(tmp_path, bad):
    exact = ExactCache(tmp_path / "c.db")
    semantic = SemanticCache(tmp_path / "c.db", embed=bag_of_words)
    for call in (lambda: exact.get(bad), lambda: exact.put(bad, "a"), lambda: exact.put("q", bad),
                 lambda: semantic.get(bad), lambda: semantic.put(bad, "a"), lambda: semantic.put("q", bad),
                 lambda: prompt_key(bad)):
        with pytest.raises(TypeError, match="문자열"):
            call()
    assert len(exact) == 0 and len(semantic) == 0
    call, calls = counting_model()
    llm = CachedLLM(call, exact=exact, semantic=semantic)
    with pytest.raises(TypeError, match="문자열"):
        llm.ask(bad)
    assert calls == [], "the model is not paid for a prompt that cannot be cached"


def test_a_non_string_model_answer_is_returned_but_not_cached(tmp_path):
    db = tmp_path / "c.db"
    llm = CachedLLM(lambda prompt: None, exact=ExactCache(db), semantic=SemanticCache(db, embed=bag_of_words))
    first = llm.ask("대통령 임기")
    assert first.answer is None and first.source == "model" and llm.uncached == 1
    assert len(llm.exact) == 0 and len(llm.semantic) == 0
