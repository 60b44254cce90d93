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
