"""api_request_parallel_processor: 장애를 주입하는 루프백 서버에 대고 '하나도 잃지 않음'을 보인다.

시간 검사는 모두 하한(너무 빨리 보내지 않았는가)만 본다: 느린 기계는 더 느려질 뿐이라 흔들리지 않는다.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from ch06_eval import api_request_parallel_processor as proc
from tests.fault_injecting_server import FaultInjectingServer, FaultPlan, worst_window

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "ch06_eval" / "api_request_parallel_processor.py"
FAST = dict(api_key_env=None, max_requests_per_minute=None, max_tokens_per_minute=None, progress=False,
            backoff_base=0.02, backoff_max=0.2, seed=0)


def chat_requests(n: int, prefix: str = "q") -> list[dict]:
    return [{"id": f"r{i}", "model": "gpt-4.1-mini", "max_tokens": 5,
             "messages": [{"role": "user", "content": f"{prefix}{i}"}]} for i in range(n)]


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_2000_requests_with_20_percent_faults_one_record_per_id(tmp_path):
    n, max_attempts = 2000, 4
    plan = FaultPlan(fault_rate=0.2, seed=1)
    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(plan, slow_seconds=2.5, retry_after="0.05") as server:
        summary = proc.process_requests(requests_path, out, request_url=f"{server.url}/chat/completions",
                                        max_concurrency=64, max_attempts=max_attempts, timeout=1.0, **FAST)
        actions = Counter(server.stats.actions)
        attempts = Counter(server.stats.attempts)
        served_400 = Counter(key for _, key, action in server.stats.arrivals if action == "400")

    records = lines_of(out)
    ids = [r["id"] for r in records]
    print(f"\n[fault test] requests={n} first-attempt faults={sum(plan.action(f'q{i}', 1) != 'ok' for i in range(n))} "
          f"server actions={dict(actions)} records={len(records)} unique ids={len(set(ids))} "
          f"succeeded={summary.succeeded} failed={summary.failed} retries={summary.retries} "
          f"elapsed={summary.elapsed_s:.1f}s")
    assert len(records) == n and len(set(ids)) == n, "id 마다 기록이 정확히 하나"
    assert set(ids) == {f"r{i}" for i in range(n)}, "잃어버린 id 없음"
    first_attempt_faults = sum(plan.action(f"q{i}", 1) != "ok" for i in range(n))
    assert 0.15 * n <= first_attempt_faults <= 0.25 * n, "약 20% 에 장애가 주입됨"
    assert all(actions[kind] > 0 for kind in ("429", "429s", "500", "503", "slow", "drop", "400"))

    expected = {f"r{i}": plan.expected_status(f"q{i}", max_attempts) for i in range(n)}
    assert {r["id"]: r["status"] for r in records} == expected
    for r in records:
        assert set(r) == set(proc.RECORD_KEYS), "성공·실패 기록이 같은 모양"
        key = f"q{r['id'][1:]}"
        if r["status"] == "ok":
            assert r["response"]["choices"][0]["message"]["content"] == f"echo:{key}", "응답이 제 id 에 붙음"
            assert r["error"] is None and r["http_status"] == 200
        else:
            assert r["error"] and r["attempts"] >= 1
            if plan.action(key, 1) == "400":
                # (부하로 시간 초과가 나면 400 전에 재시도가 있을 수 있지만) 400 을 받은 뒤에는 다시 보내지 않는다
                assert r["http_status"] == 400 and served_400[key] >= 1  # 재시도 없음은 아래 전용 테스트에서
            else:
                assert r["http_status"] == 500 and r["attempts"] == max_attempts >= attempts[key]
    assert summary.succeeded == sum(s == "ok" for s in expected.values())
    assert summary.failed == n - summary.succeeded and summary.skipped == 0 and summary.malformed == 0
    assert summary.failures_by_status == dict(Counter(str(r["http_status"]) for r in records if r["status"] == "failed"))
    assert not summary.ok
    # 결과는 완료 순서로 쌓이지만, 도우미는 요청 순서로 돌려준다
    ordered = proc.results_in_order(requests_path, out)
    assert [r["id"] for r in ordered] == [f"r{i}" for i in range(n)]
    assert ids != [f"r{i}" for i in range(n)], "(동시 처리라 파일 순서는 요청 순서와 다르다)"


def _cli(args, env_extra=None, **kwargs):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_kill_and_resume_has_no_duplicates(tmp_path):
    n = 600
    plan = FaultPlan(fault_rate=0.2, seed=2)
    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(plan, latency=0.02, slow_seconds=2.5) as server:
        child = _cli([str(requests_path), str(out), "--request-url", f"{server.url}/chat/completions",
                      "--api-key-env", "", "--max-requests-per-minute", "0", "--max-tokens-per-minute", "0",
                      "--max-concurrency", "8", "--timeout", "1.0", "--backoff-base", "0.02", "--backoff-max",
                      "0.2", "--max-attempts", "4", "--no-progress"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < n // 4):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # 중간에 강제 종료
        child.communicate()
        assert child.returncode == -signal.SIGKILL
        done_before = {r["id"] for r in lines_of(out)} if out.read_bytes().endswith(b"\n") else None
        with open(out, "ab") as fh:  # 쓰다 만 줄을 흉내 낸다 (강제 종료가 write 중간에 걸린 경우)
            fh.write(b'{"id": "r5", "line": 6, "sta')
        complete = {json.loads(line)["id"] for line in out.read_bytes().split(b"\n")[:-1]}
        assert 0 < len(complete) < n, "중간에 끊겼다"
        arrivals_before = len(server.stats.arrivals)

        summary = proc.process_requests(requests_path, out, request_url=f"{server.url}/chat/completions",
                                        max_concurrency=16, max_attempts=4, timeout=1.0, **FAST)
        resent = {key for _, key, _ in server.stats.arrivals[arrivals_before:]}

    records = lines_of(out)  # 잘린 줄은 잘려 나가 모든 줄이 온전한 JSON
    ids = [r["id"] for r in records]
    print(f"\n[kill-resume] requests={n} complete before SIGKILL={len(complete)} resumed: skipped={summary.skipped} "
          f"sent={summary.succeeded + summary.failed} final lines={len(ids)} unique={len(set(ids))} "
          f"re-sent finished ids={len(resent & {f'q{rid[1:]}' for rid in complete})}")
    assert len(ids) == len(set(ids)) == n, "중복도 누락도 없음"
    assert summary.skipped == len(complete) and summary.succeeded + summary.failed == n - len(complete)
    assert not resent & {f"q{rid[1:]}" for rid in complete}, "끝난 id 는 다시 보내지 않음"
    if done_before is not None:
        assert done_before == complete

    again = proc.process_requests(requests_path, out, request_url="http://127.0.0.1:9/unused", **FAST)
    assert again.skipped == n and again.succeeded == again.failed == 0, "다시 돌려도 아무것도 안 보냄"
    assert len(lines_of(out)) == n


def _assert_rate_respected(times, per_second, capacity, weights=None, slack=1.0):
    """모든 구간 [t_i, t_j] 에서 양 <= 속도 x 길이 + 양동이 용량 (+ 네트워크 지터 여유)."""
    pairs = sorted(zip(times, weights or [1.0] * len(times)))
    for i in range(len(pairs)):
        total = 0.0
        for j in range(i, len(pairs)):
            total += pairs[j][1]
            allowed = per_second * (pairs[j][0] - pairs[i][0]) + capacity + slack
            assert total <= allowed + 1e-9, f"{total} > {allowed} in [{pairs[i][0]}, {pairs[j][0]}]"


def test_requests_per_minute_limit_is_respected(tmp_path):
    rpm, burst = 600, 0.25  # 초당 10개, 양동이 2.5개
    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(40))
    with FaultInjectingServer() as server:
        summary = proc.process_requests(requests_path, tmp_path / "out.jsonl",
                                        request_url=f"{server.url}/chat/completions", max_concurrency=16,
                                        **{**FAST, "max_requests_per_minute": rpm, "burst_seconds": burst})
        times = [t for t, _, _ in server.stats.arrivals]
    assert summary.succeeded == 40
    _assert_rate_respected(times, rpm / 60, max(1.0, rpm / 60 * burst), slack=2.0)  # 부하 때 서버 스레드 지연
    assert max(times) - min(times) >= (40 - 1 - rpm / 60 * burst) / (rpm / 60) - 0.05


def test_tokens_per_minute_limit_is_respected(tmp_path):
    tpm, burst = 30_000, 0.25  # 초당 500 토큰
    requests = chat_requests(30)
    for i, request in enumerate(requests):
        request["max_tokens"] = 20 + 10 * (i % 7)  # 요청마다 다른 비용
    requests_path = proc.write_requests(tmp_path / "req.jsonl", requests)
    costs = {r["messages"][-1]["content"]: proc.estimate_tokens({k: v for k, v in r.items() if k != "id"})
             for r in requests}
    with FaultInjectingServer() as server:
        summary = proc.process_requests(requests_path, tmp_path / "out.jsonl",
                                        request_url=f"{server.url}/chat/completions", max_concurrency=16,
                                        **{**FAST, "max_tokens_per_minute": tpm, "burst_seconds": burst})
        arrivals = list(server.stats.arrivals)
    assert summary.succeeded == 30 and summary.tokens_estimated == sum(costs.values())
    _assert_rate_respected([t for t, _, _ in arrivals], tpm / 60, tpm / 60 * burst,
                           weights=[costs[k] for _, k, _ in arrivals], slack=max(costs.values()))


def test_concurrency_is_bounded(tmp_path):
    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(30))
    with FaultInjectingServer(latency=0.1) as server:
        summary = proc.process_requests(requests_path, tmp_path / "out.jsonl",
                                        request_url=f"{server.url}/chat/completions", max_concurrency=3, **FAST)
        peak = server.stats.max_in_flight
    assert summary.succeeded == 30
    assert 2 <= peak <= 3


def _single_fault(fault: str, key: str = "q0"):
    return lambda k, attempt: fault if (k == key and attempt == 1) else "ok"


@pytest.mark.parametrize("fault, retry_after, wait", [("429s", "1", 1.0), ("429", "0.6", 0.6)])
def test_retry_after_is_honoured(tmp_path, fault, retry_after, wait):
    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(1))
    with FaultInjectingServer(_single_fault(fault), retry_after=retry_after) as server:
        summary = proc.process_requests(requests_path, tmp_path / "out.jsonl",
                                        request_url=f"{server.url}/chat/completions", **FAST)
        times = [t for t, _, _ in server.stats.arrivals]
    assert summary.succeeded == 1 and summary.retries == 1 and len(times) == 2
    assert times[1] - times[0] >= wait - 0.02, "Retry-After 보다 먼저 다시 보내지 않음"


def test_rate_limit_headers_pause_all_requests(tmp_path):
    def headers(key, attempt):
        return {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "800ms"} if key == "q2" else {
            "x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": "1s"}

    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(5))
    with FaultInjectingServer(headers_for=headers) as server:
        proc.process_requests(requests_path, tmp_path / "out.jsonl", request_url=f"{server.url}/chat/completions",
                              max_concurrency=1, **FAST)
        after_q2 = server.stats.after_response["q2"][0]
        later = [t for t, key, _ in server.stats.arrivals if t > after_q2]
    assert later and min(later) - after_q2 >= 0.75, "남은 요청 0 이면 reset 까지 멈춘다"


def test_backoff_grows_exponentially_with_jitter():
    import random

    rng = random.Random(0)
    for attempt in range(1, 8):
        values = [proc.backoff_delay(attempt, 0.5, 10.0, rng) for _ in range(200)]
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
        assert all(ceiling * 0.5 <= v < ceiling for v in values)
        assert len(set(values)) > 100, "지터가 있다"


def test_each_retry_waits_longer(tmp_path):
    requests_path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(1))
    with FaultInjectingServer(lambda k, attempt: "500" if attempt < 4 else "ok") as server:
        summary = proc.process_requests(requests_path, tmp_path / "out.jsonl",
                                        request_url=f"{server.url}/chat/completions",
                                        **{**FAST, "backoff_base": 0.2, "backoff_max": 10.0})
        times = [t for t, _, _ in server.stats.arrivals]
    assert summary.succeeded == 1 and summary.retries == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    for attempt, gap in enumerate(gaps, start=1):
        assert gap >= 0.2 * 2 ** (attempt - 1) * 0.5 - 0.02, "재시도는 즉시가 아니라 백오프 뒤"


def test_malformed_lines_are_counted_and_the_rest_runs(tmp_path):
    good = chat_requests(3)
    lines = [json.dumps(good[0]), "{not json", "[1, 2]", json.dumps(good[1]), json.dumps(good[1]),
             json.dumps({"id": "empty"}), "", json.dumps(good[2]), json.dumps({"id": [1], "model": "m"})]
    requests_path = tmp_path / "req.jsonl"
    requests_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with FaultInjectingServer() as server:
        summary = proc.process_requests(requests_path, tmp_path / "out.jsonl",
                                        request_url=f"{server.url}/chat/completions", **FAST)
    assert summary.succeeded == 3 and summary.total == 3
    assert summary.malformed == 5
    assert [line for line, _ in summary.malformed_lines] == [2, 3, 5, 6, 9]
    assert "중복" in summary.malformed_lines[2][1]
    assert not summary.ok


def test_ids_are_stable_in_every_input_shape(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    lines = [
        {"custom_id": "batch-1", "method": "POST", "url": "/v1/chat/completions", "body": body},
        {**body, "id": 7},
        {**body, "metadata": {"id": "meta-1", "topic": "t"}},
        body,  # id 없음 -> 내용의 해시 (줄 번호가 아님: 다른 줄을 고쳐도 바뀌지 않도록)
    ]
    path = proc.write_requests(tmp_path / "req.jsonl", lines)
    requests, malformed = proc.read_requests(path)
    assert not malformed
    assert [r.id for r in requests][:3] == ["batch-1", 7, "meta-1"]
    assert requests[3].id == proc.content_id(body) and requests[3].id.startswith("sha256:")
    assert all("id" not in r.body and "metadata" not in r.body for r in requests), "id 는 서버로 보내지 않음"
    assert requests[2].metadata == {"id": "meta-1", "topic": "t"}
    assert [r.id for r in proc.read_requests(path)[0]] == [r.id for r in requests], "다시 읽어도 같은 id"


def test_integer_and_string_ids_do_not_collide(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    path = proc.write_requests(tmp_path / "req.jsonl", [{**body, "id": 1}, {**body, "id": "1"}])
    requests, malformed = proc.read_requests(path)
    assert len(requests) == 2 and not malformed


def test_embeddings_endpoint(tmp_path):
    lines = [{"id": i, "model": "text-embedding-3-small", "input": f"문장 {i}"} for i in range(5)]
    path = proc.write_requests(tmp_path / "req.jsonl", lines)
    with FaultInjectingServer(FaultPlan(fault_rate=0.5, permanent_400=0, permanent_500=0)) as server:
        summary = proc.process_requests(path, tmp_path / "out.jsonl", request_url=f"{server.url}/embeddings",
                                        timeout=1.0, **FAST)
    assert summary.succeeded == 5
    ordered = proc.results_in_order(path, tmp_path / "out.jsonl")
    assert [len(r["response"]["data"][0]["embedding"]) for r in ordered] == [4] * 5


def test_openai_client_transport(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(40))
    plan = FaultPlan(fault_rate=0.5, permanent_400=0.05, permanent_500=0.0, seed=3)
    with FaultInjectingServer(plan, slow_seconds=2.5) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        summary = proc.process_requests(path, tmp_path / "out.jsonl", timeout=1.0,
                                        transport=proc.OpenAIClientTransport("chat/completions", timeout=1.0),
                                        **FAST)
    records = lines_of(tmp_path / "out.jsonl")
    assert len({r["id"] for r in records}) == len(records) == 40
    expected = {f"r{i}": plan.expected_status(f"q{i}", 5) for i in range(40)}
    assert {r["id"]: r["status"] for r in records} == expected
    assert summary.failed == sum(s == "failed" for s in expected.values())


def test_retry_failed_keeps_one_record_per_id(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(10))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(lambda k, a: "500" if k in ("q3", "q4") else "ok") as server:
        first = proc.process_requests(path, out, request_url=f"{server.url}/chat/completions",
                                      max_attempts=2, **FAST)
    assert first.failed == 2
    with FaultInjectingServer() as server:
        second = proc.process_requests(path, out, request_url=f"{server.url}/chat/completions",
                                       retry_failed=True, **FAST)
    assert second.succeeded == 2 and second.skipped == 8
    records = lines_of(out)
    assert len(records) == 10 and {r["status"] for r in records} == {"ok"}


def test_cli_exit_status_and_summary(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(6))
    common = ["--max-requests-per-minute", "0", "--max-tokens-per-minute", "0", "--no-progress",
              "--backoff-base", "0.01", "--max-attempts", "2"]
    with FaultInjectingServer(lambda k, a: "400" if k == "q1" else "ok") as server:
        url = ["--request-url", f"{server.url}/chat/completions"]
        child = _cli([str(path), str(tmp_path / "a.jsonl"), *url, *common], {"OPENAI_API_KEY": "local"})
        out, err = child.communicate(timeout=120)
        assert child.returncode == 1, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["succeeded"] == 5 and summary["failed"] == 1
        assert "성공 5 / 실패 1" in err

    with FaultInjectingServer() as server:
        url = ["--request-url", f"{server.url}/chat/completions"]
        child = _cli([str(path), str(tmp_path / "b.jsonl"), *url, *common], {"OPENAI_API_KEY": "local"})
        child.communicate(timeout=120)
        assert child.returncode == 0
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        child = subprocess.run([sys.executable, str(SCRIPT), str(path), str(tmp_path / "c.jsonl"), *url, *common],
                               env=env, capture_output=True, text=True, timeout=120)
        assert child.returncode == 2 and "OPENAI_API_KEY" in child.stderr, "키가 없으면 보내지 않음"
    assert "--api-key" not in proc.build_parser().format_help().replace("--api-key-env", ""), "키는 인자로 받지 않음"


@pytest.mark.parametrize("value, seconds", [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                            ("0.5", 0.5), ("soon", None), (None, None)])
def test_parse_duration(value, seconds):
    assert proc.parse_duration(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_header_forms():
    from email.utils import formatdate

    assert proc.retry_after_seconds({"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert proc.retry_after_seconds({"retry-after": "3"}) == 3.0
    future = proc.retry_after_seconds({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert 25 <= future <= 31
    assert proc.retry_after_seconds({}) is None
    assert proc.rate_limit_pause({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2s",
                                  "x-ratelimit-remaining-requests": "9"}) == 2.0
    assert proc.rate_limit_pause({"x-ratelimit-remaining-requests": "3"}) == 0.0


def test_token_estimates_grow_with_text_and_max_tokens():
    short = {"model": "m", "messages": [{"role": "user", "content": "안녕"}], "max_tokens": 10}
    long = {"model": "m", "messages": [{"role": "user", "content": "안녕하세요 " * 50}], "max_tokens": 10}
    assert proc.estimate_tokens(long) > proc.estimate_tokens(short) > 10
    assert proc.estimate_tokens({**short, "max_tokens": 100}) - proc.estimate_tokens(short) == 90
    assert proc.estimate_tokens({"model": "e", "input": ["a b c", "d e f"]}) >= 2


def test_worst_window_helper():
    assert worst_window([0, 1, 2, 11, 11.5], window=10) == 3
    assert worst_window([0, 1, 2], window=10, weights=[5, 1, 1]) == 7


def test_unexpected_error_still_leaves_one_failure_record(tmp_path):
    class Broken:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

        async def send(self, body):
            if body["messages"][-1]["content"] == "q1":
                raise KeyError("boom")  # 전송 계층의 예상 못 한 버그
            return proc.Reply(200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})

    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(3))
    summary = proc.process_requests(path, tmp_path / "out.jsonl", transport=Broken(), **FAST)
    records = {r["id"]: r for r in lines_of(tmp_path / "out.jsonl")}
    assert summary.succeeded == 2 and summary.failed == 1 and len(records) == 3
    assert records["r1"]["status"] == "failed" and "boom" in records["r1"]["error"] and records["r1"]["attempts"] == 1


def test_no_retry_on_other_4xx(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(5))
    with FaultInjectingServer(lambda key, attempt: "400") as server:
        summary = proc.process_requests(path, tmp_path / "out.jsonl", request_url=f"{server.url}/chat/completions",
                                        timeout=60, **FAST)
        attempts = Counter(server.stats.attempts)
    records = lines_of(tmp_path / "out.jsonl")
    assert summary.failed == 5 and summary.retries == 0
    assert all(r["attempts"] == 1 and r["http_status"] == 400 and "injected" in r["error"] for r in records)
    assert set(attempts.values()) == {1}, "서버도 한 번씩만 받았다"
