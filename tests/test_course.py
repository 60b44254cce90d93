"""The shared course package: secret order, guard messages, local LLM server start/stop/readiness, helpers."""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import types

import pytest

import course
from course import guard, hardware, llm, secrets, server


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HF_TOKEN", "COURSE_QUICK", "COURSE_NO_PROMPT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    secrets.forget_answers()
    yield
    secrets.forget_answers()


def fake_colab(monkeypatch, values: dict):
    class SecretNotFoundError(Exception):
        pass

    def get(name):
        if name not in values:
            raise SecretNotFoundError(name)
        return values[name]

    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=get)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.userdata", colab.userdata)


def test_secret_order_env_then_colab_then_prompt(monkeypatch):
    prompts = []
    monkeypatch.setattr(secrets, "can_prompt", lambda: True)
    monkeypatch.setattr(secrets.getpass, "getpass", lambda text: prompts.append(text) or "typed")
    fake_colab(monkeypatch, {"HF_TOKEN": "from-colab"})
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert course.get_secret("HF_TOKEN") == "from-env"
    monkeypatch.delenv("HF_TOKEN")
    assert course.get_secret("HF_TOKEN") == "from-colab"
    assert course.get_secret("OPENAI_API_KEY") == "typed"
    assert prompts and "OPENAI_API_KEY" in prompts[0] and "typed" not in prompts[0]


def test_empty_prompt_means_no_key_and_is_asked_once(monkeypatch):
    asked = []
    monkeypatch.setattr(secrets, "can_prompt", lambda: True)
    monkeypatch.setattr(secrets.getpass, "getpass", lambda text: asked.append(text) or "  ")
    assert course.get_secret("PINECONE_API_KEY") is None
    assert course.get_secret("PINECONE_API_KEY") is None
    assert len(asked) == 1


def test_no_prompt_without_stdin(monkeypatch):
    monkeypatch.setattr(secrets.getpass, "getpass", lambda text: pytest.fail("must not prompt"))
    monkeypatch.setenv("COURSE_NO_PROMPT", "1")
    assert secrets.can_prompt() is False
    assert course.get_secret("HF_TOKEN") is None


def test_prompt_that_cannot_read_stdin_is_no_key(monkeypatch):
    def refuse(text):
        raise RuntimeError("StdinNotImplementedError: raw_input was called, but this frontend does not support input")

    monkeypatch.setattr(secrets, "can_prompt", lambda: True)
    monkeypatch.setattr(secrets.getpass, "getpass", refuse)
    assert course.get_secret("HF_TOKEN") is None


def test_local_placeholder_is_not_a_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", secrets.LOCAL_PLACEHOLDER)
    monkeypatch.setenv("COURSE_NO_PROMPT", "1")
    assert course.get_secret("OPENAI_API_KEY") is None


def test_colab_secret_errors_are_no_key(monkeypatch):
    fake_colab(monkeypatch, {})
    assert secrets.colab_secret("HF_TOKEN") is None


def test_guard_messages(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_NO_PROMPT", "1")
    monkeypatch.setattr(guard, "cuda_available", lambda: False)
    assert course.requires(gpu=True) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("⏭") and "GPU" in out and "T4" in out
    assert course.requires(key="HF_TOKEN") is False
    out = capsys.readouterr().out
    assert "HF_TOKEN" in out and "huggingface.co/settings/tokens" in out and out.count("\n") == 1
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    monkeypatch.setattr(guard, "cuda_available", lambda: True)
    assert course.requires(gpu=True, key="HF_TOKEN") is True
    assert capsys.readouterr().out == ""  # nothing printed, the value least of all


def test_guard_lists_every_missing_requirement(monkeypatch):
    monkeypatch.setenv("COURSE_NO_PROMPT", "1")
    monkeypatch.setattr(guard, "cuda_available", lambda: False)
    reasons = guard.missing(gpu=True, keys=("HF_TOKEN", "PINECONE_API_KEY"))
    assert len(reasons) == 3 and "PINECONE_API_KEY" in reasons[2]


@pytest.mark.parametrize("env, cuda, minutes, expected", [
    ("1", True, None, True), ("0", False, 600, False), ("", False, 600, True),
    ("", False, 20, False), ("", True, 600, False), ("", False, None, False)])
def test_quick_mode_defaults(monkeypatch, capsys, env, cuda, minutes, expected):
    monkeypatch.setenv("COURSE_QUICK", env)
    monkeypatch.setattr(guard, "cuda_available", lambda: cuda)
    assert course.quick_mode(full_cpu_minutes=minutes) is expected
    said = capsys.readouterr().out
    assert ("빠른 모드" in said) == (env == "" and expected)


def test_fp16_on_t4_bf16_on_ampere(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))
    assert course.fp16_or_bf16() is torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0))
    assert course.fp16_or_bf16() is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert course.fp16_or_bf16() is torch.float32


def test_hardware_label_and_seed():
    import numpy as np
    import torch

    assert hardware.hardware_label().startswith(("CPU ", "GPU "))
    course.seed_everything(7)
    first = (np.random.rand(), torch.rand(1).item())
    course.seed_everything(7)
    assert (np.random.rand(), torch.rand(1).item()) == first


class _Chat(http.server.BaseHTTPRequestHandler):
    ready_after = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Chat.ready_after -= 1
        if _Chat.ready_after >= 0:
            self.send_response(503)
            self.end_headers()
            return
        reply = json.dumps({"choices": [{"message": {"content": body["model"]}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def test_readiness_waits_for_a_real_chat_answer():
    _Chat.ready_after = 2
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        assert server.chat_ready(url, "m") is False
        assert server.chat_ready(url, "m") is False
        assert server.chat_ready(url, "m") is True
    finally:
        httpd.shutdown()
    assert server.chat_ready(url, "m", timeout=2) is False  # nobody listens


def test_start_reports_a_server_that_dies(tmp_path):
    command = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(RuntimeError, match="exit 3") as info:
        server.start(command, "http://127.0.0.1:9/v1", "m", tmp_path / "log", timeout=20)
    assert "boom" in str(info.value)


def _fake_serve(port):
    """A stand-in for `transformers serve`: answers chat requests on the port after a short load."""
    code = f"""
import http.server, json, time
time.sleep(0.5)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        out = json.dumps({{'choices': [{{'message': {{'content': 'ok'}}}}]}}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()
"""
    return [sys.executable, "-c", code]


def test_local_backend_starts_sets_env_and_stops(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_NO_PROMPT", "1")
    monkeypatch.setenv("COURSE_EVENT_LOG", str(tmp_path / "events"))
    monkeypatch.setattr(llm.server, "transformers_serve_command", lambda port, model, device: _fake_serve(port))
    backend = course.chat_backend("gpt-4.1-mini")
    try:
        assert backend.kind == "local" and backend.model == llm.LOCAL_MODEL_CPU  # requests name the served model
        assert os.environ["OPENAI_BASE_URL"] == backend.base_url
        assert course.get_secret("OPENAI_API_KEY") is None  # the placeholder is not a key
        assert server.chat_ready(backend.base_url, backend.model)
        again = course.chat_backend("gpt-4.1-mini")  # one server per kernel
        assert again.base_url == backend.base_url
        proc = llm._local["proc"]
    finally:
        assert course.stop_local_llm() is True
    assert proc.poll() is not None and "OPENAI_BASE_URL" not in os.environ
    assert course.stop_local_llm() is False
    events = (tmp_path / "events").read_text()
    assert "local LLM server started" in events and "local LLM server stopped" in events
    assert "로컬 transformers serve" in capsys.readouterr().out


def test_key_means_openai_and_base_url_means_compatible(monkeypatch, capsys):
    monkeypatch.setattr(llm, "_start_local", lambda *a: pytest.fail("must not start a server"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    assert course.chat_backend("gpt-4.1-mini").kind == "openai"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert course.chat_backend("gpt-4.1-mini").kind == "compatible"
    assert "sk-test-not-real" not in capsys.readouterr().out


@pytest.mark.parametrize("chapter, expected", [("ch03_huggingface", True), ("ch02_transformer", False),
                                               ("no_such_chapter", False)])
def test_quick_mode_takes_the_chapter_folder_as_notebooks_call_it(monkeypatch, capsys, chapter, expected):
    """The notebooks call `course.quick_mode(CHAPTER_DIR)`: the learner's world has no COURSE_QUICK."""
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.setattr(guard, "cuda_available", lambda: False)
    assert course.quick_mode(chapter) is expected  # ch03: full mode ~60 min on CPU (course/times.toml)
    assert ("빠른 모드" in capsys.readouterr().out) == expected
