"""The course's no-key path for real: `course.chat_backend` starts `transformers serve` on the chat stand-in."""

from __future__ import annotations

import os

import pytest

import course
from course import server
from tests.world import standins


@pytest.mark.world
def test_no_key_starts_a_local_server_that_the_openai_client_reaches(monkeypatch, capsys):
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COURSE_NO_PROMPT", "1")
    backend = course.chat_backend(standins.OPENAI_CHAT_MODELS[0])
    try:
        assert backend.kind == "local" and backend.model == standins.CHAT_STANDIN
        from openai import OpenAI

        client = OpenAI()  # the notebook's own code: reads OPENAI_BASE_URL / OPENAI_API_KEY
        reply = client.chat.completions.create(model=backend.model, max_tokens=3,
                                               messages=[{"role": "user", "content": "안녕"}])
        assert reply.choices[0].message.role == "assistant"
        proc = course.llm._local["proc"]
    finally:
        course.stop_local_llm()
    assert proc.poll() is not None
    assert not server.chat_ready(backend.base_url, backend.model, timeout=3)
    assert "로컬 transformers serve" in capsys.readouterr().out
