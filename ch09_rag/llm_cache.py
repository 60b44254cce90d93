"""LLM 응답 캐시: 정확 일치(exact) 캐시와 의미(semantic) 캐시, 둘 다 SQLite 파일에 저장됩니다.

    exact = ExactCache("outputs/cache.db", namespace="gpt-4.1-mini")
    semantic = SemanticCache("outputs/cache.db", embed=embed_texts, threshold=0.9, namespace="gpt-4.1-mini")
    llm = CachedLLM(call_model, exact=exact, semantic=semantic)
    result = llm.ask("대통령의 임기는?")   # result.answer, result.source ("exact" / "semantic" / "model")

- 캐시는 모델 이름(namespace)별로 나뉩니다: 다른 모델의 답을 돌려주지 않습니다.
- 정확 일치 키는 공백을 정리한 질문의 sha256 입니다 (대소문자·띄어쓰기 차이만 흡수).
- 의미 캐시는 L2 정규화한 임베딩의 코사인 유사도가 threshold 이상인 가장 가까운 질문의 답을 돌려줍니다.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def normalize_prompt(text: str) -> str:
    """Exact-match key text: trimmed, inner whitespace collapsed, case-folded."""
    return " ".join(text.split()).casefold()


def prompt_key(text: str, namespace: str = "") -> str:
    return hashlib.sha256(f"{namespace}\x00{normalize_prompt(text)}".encode()).hexdigest()


def _connect(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(str(path))


class ExactCache:
    """Prompt -> answer, keyed by the normalised prompt text (and the model name)."""

    def __init__(self, path: str | Path, namespace: str = ""):
        self.namespace = namespace
        self.conn = _connect(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS exact_cache ("
                          "key TEXT PRIMARY KEY, namespace TEXT, prompt TEXT, answer TEXT, created REAL)")
        self.conn.commit()

    def get(self, prompt: str) -> str | None:
        row = self.conn.execute("SELECT answer FROM exact_cache WHERE key = ?",
                                (prompt_key(prompt, self.namespace),)).fetchone()
        return None if row is None else row[0]

    def put(self, prompt: str, answer: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO exact_cache VALUES (?, ?, ?, ?, ?)",
                          (prompt_key(prompt, self.namespace), self.namespace, prompt, answer, time.time()))
        self.conn.commit()

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM exact_cache WHERE namespace = ?",
                                 (self.namespace,)).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


@dataclass
class SemanticMatch:
    prompt: str
    answer: str
    similarity: float


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SemanticCache:
    """Answers of earlier prompts, found by cosine similarity of prompt embeddings.

    The vectors are stored as float32 blobs in SQLite and kept in memory as one matrix, so a lookup is
    one matrix-vector product (fine for thousands of entries; use a vector DB beyond that).
    """

    def __init__(self, path: str | Path, embed: EmbedFn, threshold: float = 0.9, namespace: str = ""):
        self.embed = embed
        self.threshold = threshold
        self.namespace = namespace
        self.conn = _connect(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS semantic_cache ("
                          "key TEXT PRIMARY KEY, namespace TEXT, prompt TEXT, answer TEXT, vector BLOB, created REAL)")
        self.conn.commit()
        rows = self.conn.execute("SELECT prompt, answer, vector FROM semantic_cache WHERE namespace = ? "
                                 "ORDER BY created", (namespace,)).fetchall()
        self._prompts = [r[0] for r in rows]
        self._answers = [r[1] for r in rows]
        self._matrix = (np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
                        if rows else np.zeros((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self._prompts)

    def embed_one(self, prompt: str) -> np.ndarray:
        return _unit_rows(self.embed([prompt]))[0]

    def nearest(self, prompt: str, vector: np.ndarray | None = None) -> SemanticMatch | None:
        """The most similar cached prompt, whatever its similarity (None when the cache is empty)."""
        if not self._prompts:
            return None
        query = self.embed_one(prompt) if vector is None else _unit_rows(vector)[0]
        scores = self._matrix @ query
        best = int(np.argmax(scores))
        return SemanticMatch(self._prompts[best], self._answers[best], float(scores[best]))

    def get(self, prompt: str, vector: np.ndarray | None = None) -> SemanticMatch | None:
        match = self.nearest(prompt, vector)
        return match if match is not None and match.similarity >= self.threshold else None

    def put(self, prompt: str, answer: str, vector: np.ndarray | None = None) -> None:
        vector = self.embed_one(prompt) if vector is None else _unit_rows(vector)[0]
        key = prompt_key(prompt, self.namespace)
        self.conn.execute("INSERT OR REPLACE INTO semantic_cache VALUES (?, ?, ?, ?, ?, ?)",
                          (key, self.namespace, prompt, answer, vector.astype(np.float32).tobytes(), time.time()))
        self.conn.commit()
        if prompt in self._prompts:  # replace in memory too (same key)
            i = self._prompts.index(prompt)
            self._answers[i] = answer
            self._matrix[i] = vector
            return
        self._prompts.append(prompt)
        self._answers.append(answer)
        self._matrix = vector[None, :] if self._matrix.size == 0 else np.vstack([self._matrix, vector[None, :]])

    def close(self) -> None:
        self.conn.close()


@dataclass
class CacheResult:
    answer: str
    source: str  # "exact", "semantic" or "model"
    latency_s: float
    similarity: float | None = None
    matched_prompt: str | None = None


class CachedLLM:
    """Exact cache, then semantic cache, then the model; the model's answer is stored in both caches."""

    def __init__(self, call_model: Callable[[str], str], exact: ExactCache | None = None,
                 semantic: SemanticCache | None = None):
        self.call_model = call_model
        self.exact = exact
        self.semantic = semantic
        self.model_calls = 0

    def ask(self, prompt: str) -> CacheResult:
        start = time.perf_counter()
        if self.exact is not None:
            answer = self.exact.get(prompt)
            if answer is not None:
                return CacheResult(answer, "exact", time.perf_counter() - start, 1.0, prompt)
        vector = None
        if self.semantic is not None:
            vector = self.semantic.embed_one(prompt)
            match = self.semantic.get(prompt, vector)
            if match is not None:
                return CacheResult(match.answer, "semantic", time.perf_counter() - start,
                                   match.similarity, match.prompt)
        self.model_calls += 1
        answer = self.call_model(prompt)
        if self.exact is not None:
            self.exact.put(prompt, answer)
        if self.semantic is not None:
            self.semantic.put(prompt, answer, vector)
        return CacheResult(answer, "model", time.perf_counter() - start)


def threshold_tradeoff(similarities: Sequence[float], same_intent: Sequence[bool],
                       thresholds: Sequence[float]) -> list[dict]:
    """Precision and recall of "serve from the semantic cache" at each threshold.

    similarities[i]: similarity of query i to its nearest cached prompt; same_intent[i]: whether that prompt
    asks the same thing (a correct hit). A hit is predicted when similarity >= threshold.
    precision = correct hits / hits; recall = correct hits / queries whose nearest prompt is the same intent.
    """
    sims = np.asarray(similarities, dtype=float)
    good = np.asarray(same_intent, dtype=bool)
    rows = []
    for t in thresholds:
        hit = sims >= t
        tp = int(np.sum(hit & good))
        rows.append({"threshold": float(t), "hits": int(hit.sum()), "correct_hits": tp,
                     "precision": tp / hit.sum() if hit.sum() else 1.0,
                     "recall": tp / good.sum() if good.sum() else 0.0,
                     "hit_rate": float(hit.mean()) if len(hit) else 0.0})
    return rows
