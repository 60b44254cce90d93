"""ch08_serving/server_process.py 와 bench_client.py: 가짜 OpenAI 호환 서버(루프백)로 수명 주기와 벤치마크를 확인한다."""

from __future__ import annotations

import sys
import textwrap

import pytest

from ch08_serving.bench_client import percentile, run_benchmark, summarize
from ch08_serving.server_process import ServerProcess, free_port, port_is_free

FAKE_SERVER = textwrap.dedent('''
    import json, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    port, delay = int(sys.argv[1]), float(sys.argv[2])
    time.sleep(delay)  # 모델 로딩 흉내: 이 동안은 포트가 닫혀 있다
    state = {"loaded_at": time.monotonic() + delay}  # 포트는 열렸지만 모델은 아직 (503)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._json(200 if self.path == "/health" else 404, {"status": "ok"})

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if time.monotonic() < state["loaded_at"]:
                return self._json(503, {"error": "loading"})
            prompt = req["messages"][-1]["content"]
            if prompt == "fail":
                return self._json(500, {"error": "boom"})
            n = req.get("max_tokens", 4)
            if not req.get("stream"):
                return self._json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": req["model"],
                                        "choices": [{"index": 0, "finish_reason": "length",
                                                     "message": {"role": "assistant", "content": "a" * n}}],
                                        "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            base = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": req["model"]}
            def send(obj):
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\\n\\n")
                self.wfile.flush()
            send({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
            for i in range(0, n, 2):  # 청크 하나에 토큰 두 개
                time.sleep(0.01)
                send({**base, "choices": [{"index": 0, "delta": {"content": "ab"[: min(2, n - i)]}}]})
            send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                  "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}})
            self.wfile.write(b"data: [DONE]\\n\\n")

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
''')


@pytest.fixture
def fake_server(tmp_path):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    port = free_port()
    server = ServerProcess([sys.executable, str(script), str(port), "0.5"], port, "tiny",
                           log_path=tmp_path / "server.log")
    yield server
    server.stop()


def test_start_waits_for_readiness_and_stop_frees_the_port(fake_server):
    assert port_is_free(fake_server.port)
    with fake_server as server:
        assert server.running and server.ready()
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert not port_is_free(server.port)
        assert server.startup_seconds >= 1.0  # 포트가 열린 뒤 모델 로딩(503)까지 기다렸다
    assert not fake_server.running
    assert port_is_free(fake_server.port)
    fake_server.stop()  # 두 번 불러도 안전


def test_start_raises_with_log_when_the_process_dies(tmp_path):
    port = free_port()
    server = ServerProcess([sys.executable, "-c", "import sys; print('bad flag'); sys.exit(3)"], port, "tiny",
                           log_path=tmp_path / "dead.log")
    with pytest.raises(RuntimeError, match="bad flag"):
        server.start(timeout=30)
    assert not server.running


def test_start_refuses_a_busy_port(fake_server, tmp_path):
    fake_server.start()
    other = ServerProcess([sys.executable, "-c", "pass"], fake_server.port, "tiny", log_path=tmp_path / "o.log")
    with pytest.raises(RuntimeError, match="in use"):
        other.start()


def test_start_times_out_and_cleans_up(tmp_path):
    port = free_port()
    server = ServerProcess([sys.executable, "-c", "import time; time.sleep(60)"], port, "tiny",
                           log_path=tmp_path / "slow.log")
    with pytest.raises(TimeoutError):
        server.start(timeout=1.0, poll=0.2)
    assert not server.running


def test_benchmark_counts_every_request_and_uses_usage_tokens(fake_server):
    fake_server.start()
    prompts = {1: ["a"], 4: ["b", "fail", "c", "d", "e"]}
    summaries, rows = run_benchmark(fake_server.base_url, "tiny", prompts, max_tokens=5)
    assert [s["concurrency"] for s in summaries] == [1, 4]
    assert len(rows) == 6  # 잃어버린 요청 없음
    assert [r["request_id"] for r in rows if r["concurrency"] == 4] == [0, 1, 2, 3, 4]
    failed = [r for r in rows if not r["ok"]]
    assert len(failed) == 1 and failed[0]["request_id"] == 1 and failed[0]["tokens"] == 0
    assert summaries[1]["errors"] == 1 and summaries[1]["requests"] == 5
    ok = [r for r in rows if r["ok"]]
    assert all(r["tokens"] == 5 for r in ok)  # usage 값 (청크 수 3 이 아니라)
    assert all(0 < r["ttft_s"] <= r["latency_s"] for r in ok)
    assert summaries[1]["tokens"] == 20
    assert summaries[0]["ttft_p50_s"] <= summaries[0]["latency_p50_s"]


def test_percentile_and_summarize():
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([], 50) != percentile([], 50)  # nan
    rows = [{"concurrency": 2, "ok": True, "ttft_s": 0.1, "latency_s": 1.0, "tokens": 10},
            {"concurrency": 2, "ok": False, "ttft_s": float("nan"), "latency_s": 0.5, "tokens": 0}]
    s = summarize(rows, wall_seconds=2.0)
    assert s["requests"] == 2 and s["errors"] == 1 and s["tokens_per_s"] == 5.0


def test_health_path_is_what_readiness_polls(tmp_path):
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    port = free_port()
    wrong = ServerProcess([sys.executable, str(script), str(port), "0"], port, "tiny", log_path=tmp_path / "w.log",
                          health_path="/v1/models")  # 가짜 서버는 /health 만 200
    with pytest.raises(TimeoutError):
        wrong.start(timeout=2.0, poll=0.2)
    assert not wrong.running and port_is_free(port)


def test_llama_cpp_server_command_names_model_alias_and_port(tmp_path):
    from ch08_serving.server_process import llama_cpp_server_command

    cmd = llama_cpp_server_command(8123, tmp_path / "m.gguf", alias="Qwen/Qwen2.5-0.5B-Instruct", n_ctx=512)
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    pairs = dict(zip(cmd[3::2], cmd[4::2]))
    assert pairs == {"--model": str(tmp_path / "m.gguf"), "--model_alias": "Qwen/Qwen2.5-0.5B-Instruct",
                     "--host": "127.0.0.1", "--port": "8123", "--n_ctx": "512"}
