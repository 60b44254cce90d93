"""Unit tests of ch09_rag/llm_call_logger.py (SQLite call log, SDK wrapper, LlamaIndex event handler)."""

from types import SimpleNamespace

import pytest

from ch09_rag.llm_call_logger import (
    CallLogStore,
    LoggedChat,
    make_llamaindex_handler,
    messages_to_text,
    summary,
)


class FakeCompletions:
    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.requests = []

    def create(self, model, messages, **kwargs):
        self.requests.append((model, messages, kwargs))
        if self.fail_on and self.fail_on in messages[-1]["content"]:
            raise RuntimeError("rate limited")
        usage = SimpleNamespace(prompt_tokens=len(messages[-1]["content"]), completion_tokens=3)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content="답변"))], usage=usage)


def fake_client(fail_on=None):
    return SimpleNamespace(chat=SimpleNamespace(completions=FakeCompletions(fail_on)))


def test_store_roundtrip_and_persistence(tmp_path):
    db = tmp_path / "calls.db"
    store = CallLogStore(db)
    call_id = store.record(source="s", model="m", prompt="p", response="r", latency_s=0.5, prompt_tokens=2,
                           completion_tokens=3)
    store.close()
    rows = CallLogStore(db).rows()
    assert len(rows) == 1 and rows[0]["call_id"] == call_id
    assert rows[0]["total_tokens"] == 5 and rows[0]["status"] == "ok"


def test_pii_redacted_before_storage(tmp_path):
    store = CallLogStore(tmp_path / "calls.db")
    store.record(source="s", model="m", prompt="내 번호 010-1234-5678", response="900101-1234567", latency_s=0.1)
    row = store.rows()[0]
    assert "010-1234-5678" not in row["prompt"] and "900101-1234567" not in row["response"]
    raw = CallLogStore(tmp_path / "raw.db", redact=None)
    raw.record(source="s", model="m", prompt="010-1234-5678", response="", latency_s=0.1)
    assert raw.rows()[0]["prompt"] == "010-1234-5678"


def test_logged_chat_records_every_call_including_failures(tmp_path):
    store = CallLogStore(tmp_path / "calls.db")
    client = fake_client(fail_on="boom")
    chat = LoggedChat(client, store, model="gpt-x", system="헌법 도우미", max_tokens=5)
    assert chat("안녕") == "답변"
    with pytest.raises(RuntimeError):
        chat("boom")
    rows = store.rows()
    assert [r["status"] for r in rows] == ["ok", "error"] and chat.calls == 2
    assert rows[0]["prompt"] == "system: 헌법 도우미\nuser: 안녕" and rows[0]["model"] == "gpt-x"
    assert rows[0]["prompt_tokens"] == 2 and rows[0]["completion_tokens"] == 3
    assert "rate limited" in rows[1]["error"] and rows[1]["response"] is None
    assert client.chat.completions.requests[0][2] == {"max_tokens": 5}
    s = summary(rows)
    assert s["calls"] == 2 and s["errors"] == 1 and s["total_tokens"] == 5


def test_messages_to_text():
    assert messages_to_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]) == \
        "user: a\nassistant: b"


def test_llamaindex_handler_logs_chat_calls(tmp_path):
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse
    from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMChatStartEvent

    store = CallLogStore(tmp_path / "calls.db")
    handler = make_llamaindex_handler(store)
    messages = [ChatMessage(role="user", content="대통령의 임기는?")]
    start = LLMChatStartEvent(messages=messages, additional_kwargs={}, model_dict={}, span_id="span-1")
    response = ChatResponse(message=ChatMessage(role="assistant", content="5년"),
                            raw={"model": "gpt-4.1-mini", "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    end = LLMChatEndEvent(messages=messages, response=response, span_id="span-1")
    handler.handle(start)
    handler.handle(end)
    rows = store.rows()
    assert len(rows) == 1
    row = rows[0]
    assert row["source"] == "llamaindex" and row["model"] == "gpt-4.1-mini"
    assert row["prompt"] == "user: 대통령의 임기는?" and row["response"] == "5년"
    assert row["prompt_tokens"] == 7 and row["completion_tokens"] == 2
    assert row["latency_s"] is not None and row["latency_s"] >= 0


# ---------------------------------------------------------------- 가린 오류 메시지, 동시 쓰기, 이상한 입력


def test_exception_text_is_redacted_in_the_log(tmp_path):
    class Leaky(FakeCompletions):
        def create(self, model, messages, **kwargs):
            raise RuntimeError("bad request for 010-1234-5678 / hong@example.com / key sk-" + "proj-" + "a1" * 10)

    store = CallLogStore(tmp_path / "calls.db")
    chat = LoggedChat(SimpleNamespace(chat=SimpleNamespace(completions=Leaky())), store, model="m")
    with pytest.raises(RuntimeError, match="010-1234-5678"):  # the caller still sees the real exception
        chat("안녕")
    error = store.rows()[0]["error"]
    print(error)
    assert error.startswith("RuntimeError: bad request for")
    assert "010-1234-5678" not in error and "hong@example.com" not in error and "sk-proj" not in error
    store.record(source="s", model="m", prompt="p", response=None, latency_s=None, status="error",
                 error="주민번호 900101-1234567")
    assert "900101-1234567" not in store.rows()[-1]["error"]


def test_log_uses_wal_and_a_busy_timeout(tmp_path):
    store = CallLogStore(tmp_path / "calls.db")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def _log_writer(path, worker, count, errors):
    from ch09_rag.llm_call_logger import CallLogStore as Store

    store = Store(path)
    for i in range(count):
        try:
            store.record(source=f"w{worker}", model="m", prompt=f"질문 {i}", response="답", latency_s=0.01,
                         call_id=f"{worker}-{i}")
            if i % 10 == 0:
                len(store)
        except Exception as err:  # noqa: BLE001 - counted, reported by the parent
            errors.put(f"{worker}-{i}: {type(err).__name__}: {err}")


def test_four_processes_write_one_log_without_locks_or_lost_rows(tmp_path):
    from tests.concurrent_writers import run_writers

    path, count = tmp_path / "calls.db", 200
    exitcodes, problems = run_writers(_log_writer, path, count)
    assert exitcodes == [0, 0, 0, 0]
    assert problems == [], "no 'database is locked'"
    ids = [r["call_id"] for r in CallLogStore(path).rows()]
    assert len(ids) == len(set(ids)) == 4 * count


@pytest.mark.parametrize("bad", [123, b"bytes", ["a"], {"role": "user"}])
def test_non_string_prompt_or_response_is_logged_readably(tmp_path, bad):
    store = CallLogStore(tmp_path / "calls.db")
    store.record(source="s", model="m", prompt=bad, response=bad, latency_s=0.1)
    row = store.rows()[0]
    assert isinstance(row["prompt"], str) and isinstance(row["response"], str) and row["prompt"]
