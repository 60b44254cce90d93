"""모든 LLM 호출(프롬프트, 응답, 지연시간, 토큰 수)을 로컬 SQLite 에 기록합니다.

    log = CallLogStore("outputs/llm_calls.db")
    chat = LoggedChat(OpenAI(), log, model="gpt-4.1-mini", max_tokens=128)
    answer = chat("대통령의 임기는?")                   # OpenAI SDK 호출이 한 줄씩 기록됨
    dispatcher.add_event_handler(LlamaIndexCallLogger(log))  # LlamaIndex 안의 LLM 호출도 같은 표에
    log.dataframe()

- 프롬프트와 응답은 저장 전에 `redact` 함수(기본: 개인정보 가리기)를 거칩니다.
- 실패한 호출도 남깁니다 (status="error", 오류 메시지도 `redact` 를 거쳐 저장); 예외는 그대로 다시 던집니다.
- SQLite 는 WAL 모드 + busy timeout + 문장마다 자동 커밋: 여러 프로세스(노트북, 배치 작업)가 한 로그에 동시에 써도
  "database is locked" 없이, 빠지는 행 없이 기록됩니다.
- 문자열이 아닌 프롬프트·응답(바이트, 메시지 목록 등)은 읽을 수 있는 문자열로 바꿔 저장합니다.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:  # the chapter folder is the cwd in the notebook; the repo root is on sys.path in tests
    from output_validator import mask_pii
except ImportError:  # pragma: no cover - import path depends on the caller
    from ch09_rag.output_validator import mask_pii

BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write before giving up

COLUMNS = ["call_id", "ts", "source", "model", "prompt", "response", "latency_s", "prompt_tokens",
           "completion_tokens", "total_tokens", "status", "error"]


class CallLogStore:
    """One row per LLM call in a SQLite table `llm_calls` (thread-safe, append-only)."""

    def __init__(self, path: str | Path, redact: Callable[[str], str] | None = mask_pii):
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.redact = redact or (lambda s: s)
        self._lock = threading.Lock()
        # WAL: readers never block the writer; busy timeout: a writer waits for another process instead of
        # failing; autocommit: each INSERT is one short transaction (no read lock upgraded to a write lock)
        self.conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS llm_calls (call_id TEXT PRIMARY KEY, ts REAL, source TEXT, "
                          "model TEXT, prompt TEXT, response TEXT, latency_s REAL, prompt_tokens INTEGER, "
                          "completion_tokens INTEGER, total_tokens INTEGER, status TEXT, error TEXT)")

    def record(self, *, source: str, model: str, prompt: str, response: str | None, latency_s: float | None,
               prompt_tokens: int | None = None, completion_tokens: int | None = None,
               status: str = "ok", error: str | None = None, call_id: str | None = None) -> str:
        call_id = call_id or uuid.uuid4().hex
        total = None if prompt_tokens is None and completion_tokens is None else (prompt_tokens or 0) + (
            completion_tokens or 0)
        row = (call_id, time.time(), source, model, self.redact(_as_text(prompt)),
               None if response is None else self.redact(_as_text(response)), latency_s, prompt_tokens,
               completion_tokens, total, status, None if error is None else self.redact(_as_text(error)))
        with self._lock:
            self.conn.execute(f"INSERT INTO llm_calls VALUES ({', '.join('?' * len(COLUMNS))})", row)
        return call_id

    def rows(self) -> list[dict]:
        with self._lock:
            cur = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM llm_calls ORDER BY ts")
            return [dict(zip(COLUMNS, r)) for r in cur.fetchall()]

    def __len__(self) -> int:
        with self._lock:
            return self.conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]

    def dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=COLUMNS)

    def close(self) -> None:
        self.conn.close()


def _as_text(value) -> str:
    """What to store for a prompt/response/error that may not be a str (bytes, a message list, None)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def messages_to_text(messages: list[dict]) -> str:
    """Chat messages as one readable string: 'role: content' lines."""
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages)


class LoggedChat:
    """A callable around `client.chat.completions.create` that logs each call (also failed ones)."""

    def __init__(self, client: Any, store: CallLogStore, model: str, system: str | None = None,
                 source: str = "openai-sdk", **create_kwargs: Any):
        self.client = client
        self.store = store
        self.model = model
        self.system = system
        self.source = source
        self.create_kwargs = create_kwargs
        self.calls = 0

    def __call__(self, prompt: str) -> str:
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": prompt}]
        self.calls += 1
        start = time.perf_counter()
        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages,
                                                           **self.create_kwargs)
        except Exception as err:
            self.store.record(source=self.source, model=self.model, prompt=messages_to_text(messages),
                              response=None, latency_s=time.perf_counter() - start, status="error",
                              error=f"{type(err).__name__}: {err}")
            raise
        latency = time.perf_counter() - start
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        self.store.record(source=self.source, model=self.model, prompt=messages_to_text(messages), response=text,
                          latency_s=latency, prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None))
        return text


def _token_counts(response: Any) -> tuple[int | None, int | None]:
    """Prompt/completion tokens from a LlamaIndex ChatResponse/CompletionResponse (additional_kwargs or raw)."""
    extra = getattr(response, "additional_kwargs", None) or {}
    if "prompt_tokens" in extra or "completion_tokens" in extra:
        return extra.get("prompt_tokens"), extra.get("completion_tokens")
    raw = getattr(response, "raw", None)
    usage = getattr(raw, "usage", None) if raw is not None else None
    if usage is None and isinstance(raw, dict):
        usage = raw.get("usage")
    if isinstance(usage, dict):
        return usage.get("prompt_tokens"), usage.get("completion_tokens")
    return getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)


def make_llamaindex_handler(store: CallLogStore, source: str = "llamaindex"):
    """An instrumentation event handler that logs LlamaIndex LLM chat/completion calls into `store`.

    Register it with `llama_index.core.instrumentation.get_dispatcher().add_event_handler(handler)`.
    Start and end events of one call share a span id; latency = end.timestamp - start.timestamp.
    """
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.events.llm import (
        LLMChatEndEvent,
        LLMChatStartEvent,
        LLMCompletionEndEvent,
        LLMCompletionStartEvent,
    )
    from pydantic import Field

    class LlamaIndexCallLogger(BaseEventHandler):
        starts: dict = Field(default_factory=dict)

        @classmethod
        def class_name(cls) -> str:
            return "LlamaIndexCallLogger"

        def handle(self, event, **kwargs) -> None:
            if isinstance(event, (LLMChatStartEvent, LLMCompletionStartEvent)):
                self.starts[event.span_id] = event.timestamp
                return
            if not isinstance(event, (LLMChatEndEvent, LLMCompletionEndEvent)):
                return
            start = self.starts.pop(event.span_id, None)
            latency = (event.timestamp - start).total_seconds() if start is not None else None
            if isinstance(event, LLMChatEndEvent):
                prompt = "\n".join(f"{m.role.value}: {m.content}" for m in event.messages)
                response = event.response
                text = response.message.content if response is not None else None
            else:
                prompt, response = event.prompt, event.response
                text = response.text if response is not None else None
            raw = getattr(response, "raw", None)
            model = getattr(raw, "model", None) or (raw.get("model") if isinstance(raw, dict) else None) or "?"
            p_tok, c_tok = _token_counts(response)
            store.record(source=source, model=str(model), prompt=prompt, response=text, latency_s=latency,
                         prompt_tokens=p_tok, completion_tokens=c_tok,
                         status="ok" if response is not None else "error")

    return LlamaIndexCallLogger()


def summary(rows: list[dict]) -> dict:
    """Counts, error rate, mean latency and total tokens of logged calls."""
    ok = [r for r in rows if r["status"] == "ok"]
    latencies = [r["latency_s"] for r in ok if r["latency_s"] is not None]
    return {"calls": len(rows), "errors": len(rows) - len(ok),
            "mean_latency_s": sum(latencies) / len(latencies) if latencies else None,
            "total_tokens": sum(r["total_tokens"] or 0 for r in rows)}


__all__ = ["CallLogStore", "LoggedChat", "make_llamaindex_handler", "messages_to_text", "summary"]
