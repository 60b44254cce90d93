"""LLM 응답 캐시: 정확 일치(exact) 캐시와 의미(semantic) 캐시, 둘 다 SQLite 파일에 저장됩니다.

    exact = ExactCache("outputs/cache.db", namespace="gpt-4.1-mini")
    semantic = SemanticCache("outputs/cache.db", embed=embed_texts, threshold=0.9, namespace="gpt-4.1-mini")
    llm = CachedLLM(call_model, exact=exact, semantic=semantic)
    result = llm.ask("대통령의 임기는?")   # result.answer, result.source ("exact" / "semantic" / "model")

- 캐시는 모델 이름(namespace)별로 나뉩니다: 다른 모델의 답을 돌려주지 않습니다.
- 정확 일치 키는 공백을 정리한 질문의 sha256 입니다 (대소문자·띄어쓰기 차이만 흡수).
- 의미 캐시는 L2 정규화한 임베딩의 코사인 유사도가 threshold 이상인 가장 가까운 질문의 답을 돌려줍니다.
  임베딩 크기가 저장된 것과 다르면(다른 임베딩 모델) 아무것도 쓰지 않고 EmbeddingSizeError 로 거절합니다.
- SQLite 는 WAL 모드 + busy timeout + 문장마다 자동 커밋: 여러 프로세스가 한 파일에 동시에 써도 잠김 오류가 나지 않습니다.
- 질문·답이 문자열이 아니면 TypeError (무엇을 받았는지 알려 줌). 모델이 문자열이 아닌 답을 주면 캐시하지 않습니다.
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


BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write before giving up


class EmbeddingSizeError(ValueError):
    """The embedder's vectors do not have the size of the vectors already stored (another embedding model)."""


def _require_str(value, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} 는 문자열(str)이어야 합니다 (받은 것: {type(value).__name__})")
    return value


def normalize_prompt(text: str) -> str:
    """Exact-match key text: trimmed, inner whitespace collapsed, case-folded."""
    return " ".join(_require_str(text, "prompt").split()).casefold()


def prompt_key(text: str, namespace: str = "") -> str:
    return hashlib.sha256(f"{namespace}\x00{normalize_prompt(text)}".encode()).hexdigest()


def connect_store(path: str | Path) -> sqlite3.Connection:
    """A SQLite connection for a store shared by several processes: WAL journal (readers never block the
    writer), a busy timeout (a writer waits for another instead of failing with "database is locked"), and
    autocommit (each INSERT is its own short transaction, so no read lock is ever upgraded to a write lock)."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


_connect = connect_store  # the old private name


class ExactCache:
    """Prompt -> answer, keyed by the normalised prompt text (and the model name)."""

    def __init__(self, path: str | Path, namespace: str = ""):
        self.namespace = namespace
        self.conn = connect_store(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS exact_cache ("
                          "key TEXT PRIMARY KEY, namespace TEXT, prompt TEXT, answer TEXT, created REAL)")

    def get(self, prompt: str) -> str | None:
        row = self.conn.execute("SELECT answer FROM exact_cache WHERE key = ?",
                                (prompt_key(prompt, self.namespace),)).fetchone()
        return None if row is None else row[0]

    def put(self, prompt: str, answer: str) -> None:
        key = prompt_key(prompt, self.namespace)
        _require_str(answer, "answer")
        self.conn.execute("INSERT OR REPLACE INTO exact_cache VALUES (?, ?, ?, ?, ?)",
                          (key, self.namespace, prompt, answer, time.time()))

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
        self.path = path
        self.conn = connect_store(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS semantic_cache ("
                          "key TEXT PRIMARY KEY, namespace TEXT, prompt TEXT, answer TEXT, vector BLOB, created REAL)")
        rows = self.conn.execute("SELECT prompt, answer, vector FROM semantic_cache WHERE namespace = ? "
                                 "ORDER BY created", (namespace,)).fetchall()
        sizes = sorted({len(r[2]) // 4 for r in rows})
        if len(sizes) > 1:
            raise EmbeddingSizeError(f"{path} (namespace {namespace!r}) holds vectors of several sizes {sizes}: "
                                     "written by different embedding models; use a new namespace or file")
        self.dim: int | None = sizes[0] if sizes else None
        self._prompts = [r[0] for r in rows]
        self._answers = [r[1] for r in rows]
        self._matrix = (np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
                        if rows else np.zeros((0, 0), dtype=np.float32))
        if self.dim is not None:  # refuse now, before anything is written, if the embedder changed
            self.embed_one("embedding size probe")

    def _check_size(self, vector: np.ndarray) -> np.ndarray:
        if self.dim is not None and vector.shape[-1] != self.dim:
            raise EmbeddingSizeError(
                f"the embedder gives {vector.shape[-1]}-dim vectors but {self.path} (namespace "
                f"{self.namespace!r}) holds {self.dim}-dim ones (another embedding model?). Nothing was written; "
                "use the original embedder, another namespace or another file")
        return vector

    def _unit(self, vectors) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim not in (1, 2) or array.size == 0 or (array.ndim == 2 and array.shape[0] != 1):
            raise EmbeddingSizeError(f"embed must return one vector per text, got shape {array.shape}")
        return self._check_size(_unit_rows(array)[0])

    def __len__(self) -> int:
        return len(self._prompts)

    def embed_one(self, prompt: str) -> np.ndarray:
        return self._unit(self.embed([_require_str(prompt, "prompt")]))

    def nearest(self, prompt: str, vector: np.ndarray | None = None) -> SemanticMatch | None:
        """The most similar cached prompt, whatever its similarity (None when the cache is empty)."""
        _require_str(prompt, "prompt")
        query = self.embed_one(prompt) if vector is None else self._unit(vector)
        if not self._prompts:
            return None
        scores = self._matrix @ query
        best = int(np.argmax(scores))
        return SemanticMatch(self._prompts[best], self._answers[best], float(scores[best]))

    def get(self, prompt: str, vector: np.ndarray | None = None) -> SemanticMatch | None:
        match = self.nearest(prompt, vector)
        return match if match is not None and match.similarity >= self.threshold else None

    def put(self, prompt: str, answer: str, vector: np.ndarray | None = None) -> None:
        key = prompt_key(prompt, self.namespace)
        _require_str(answer, "answer")
        vector = self.embed_one(prompt) if vector is None else self._unit(vector)
        self.conn.execute("INSERT OR REPLACE INTO semantic_cache VALUES (?, ?, ?, ?, ?, ?)",
                          (key, self.namespace, prompt, answer, vector.astype(np.float32).tobytes(), time.time()))
        self.dim = vector.shape[-1]
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
        self.uncached = 0  # model answers that were not strings (returned, never cached)

    def ask(self, prompt: str) -> CacheResult:
        _require_str(prompt, "prompt")
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
        if not isinstance(answer, str):
            self.uncached += 1
            return CacheResult(answer, "model", time.perf_counter() - start)
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
