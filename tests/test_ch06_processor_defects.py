"""api_request_parallel_processor: 이슈 14 의 결함 1-8 이 다시 생기지 않는지 (장애 주입 서버, 루프백).

결함마다 테스트가 있고, 고치기 전 코드에서는 모두 실패했다. 시간은 재지 않는다: 순서(무엇이 무엇보다 먼저
도착했는가), 개수, 기록 내용만 본다. 예전 코드가 한 시간씩 멈추던 경우는 `guarded` 가 넉넉한 안전 한도로
끊어 테스트가 멈추지 않고 실패하게 한다 (고친 코드는 1초 안에 끝나는 경우들이다).
"""

from __future__ import annotations

import _thread
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ch06_eval import api_request_parallel_processor as proc
from tests.fault_injecting_server import FaultInjectingServer

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "ch06_eval" / "api_request_parallel_processor.py"
FAST = dict(api_key_env=None, max_requests_per_minute=None, max_tokens_per_minute=None, progress=False,
            backoff_base=0.02, backoff_max=0.2, seed=0)
SAFETY_S = 60  # 멈춤을 실패로 바꾸는 안전 한도 (시간 검사가 아님)


def chat_requests(n: int, prefix: str = "q", with_ids: bool = True) -> list[dict]:
    out = []
    for i in range(n):
        body = {"model": "gpt-4.1-mini", "max_tokens": 5, "messages": [{"role": "user", "content": f"{prefix}{i}"}]}
        out.append({"id": f"r{i}", **body} if with_ids else body)
    return out


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_id(path: Path) -> dict:
    return {r["id"]: r for r in lines_of(path)}


def guarded(requests_path, save_path, **kwargs) -> proc.Summary:
    coro = proc.process_requests_async(requests_path, save_path, **kwargs)
    return asyncio.run(asyncio.wait_for(coro, SAFETY_S))


def chat_url(server) -> str:
    return f"{server.url}/chat/completions"


# --------------------------------------------------------------------------- 1. 결과 파일 하나에 쓰는 쪽은 하나


def test_1_interrupted_notebook_run_stops_its_worker_and_rerun_resumes(tmp_path):
    n = 60
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(latency=0.05) as server:
        def interrupter():  # 노트북의 '중단' 버튼: 주 스레드에 KeyboardInterrupt
            while len(server.stats.arrivals) < 5:
                time.sleep(0.005)
            _thread.interrupt_main()

        before = set(threading.enumerate())
        watcher = threading.Thread(target=interrupter, daemon=True)
        watcher.start()

        async def notebook_cell():  # 주피터처럼 이벤트 루프가 도는 중에 동기 도우미를 부른다
            return proc.process_requests(path, out, request_url=chat_url(server), max_concurrency=2, **FAST)

        loop = asyncio.new_event_loop()
        try:
            with pytest.raises(KeyboardInterrupt):
                loop.run_until_complete(notebook_cell())
        finally:
            loop.close()
        watcher.join(5)
        stray = [t for t in threading.enumerate() if t not in before and t is not watcher and t.is_alive()]
        arrivals, written = len(server.stats.arrivals), out.read_bytes()
        time.sleep(0.3)  # 남은 스레드가 있다면 그동안 더 보내거나 쓸 것이다
        done = written.count(b"\n")
        print(f"\n[interrupt] records at interrupt={done} of {n}, stray threads={stray}")
        assert not stray, "중단 뒤에 처리기 스레드가 남지 않는다"
        assert done < n, "중단하면 그 자리에서 멈춘다 (끝까지 돌지 않는다)"
        assert len(server.stats.arrivals) == arrivals and out.read_bytes() == written, "중단 뒤에는 보내지도 쓰지도 않는다"

        summary = proc.process_requests(path, out, request_url=chat_url(server), max_concurrency=2, **FAST)
    ids = [r["id"] for r in lines_of(out)]
    assert len(ids) == len(set(ids)) == n, "같은 프로세스에서 다시 돌리면 이어서, 중복 없이"
    assert summary.skipped == written.count(b"\n") and summary.succeeded == n - summary.skipped


def test_1_second_run_in_the_same_process_is_refused_while_the_first_writes(tmp_path):
    n = 40
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    box = {}
    with FaultInjectingServer(latency=0.05) as server:
        first = threading.Thread(target=lambda: box.update(s=proc.process_requests(
            path, out, request_url=chat_url(server), max_concurrency=1, **FAST)))
        first.start()
        while not out.exists() or out.read_text(encoding="utf-8").count("\n") < 3:
            time.sleep(0.005)
        with pytest.raises(RuntimeError) as refused:
            proc.process_requests(path, out, request_url=chat_url(server), max_concurrency=4, **FAST)
        first.join(SAFETY_S)
    message = str(refused.value)
    print(f"\n[lock] {message}")
    assert str(out) in message and "다른 실행" in message and "nother run" in message
    ids = [r["id"] for r in lines_of(out)]
    assert len(ids) == len(set(ids)) == n and box["s"].succeeded == n


def test_1_second_cli_run_on_the_same_results_file_is_refused(tmp_path):
    n = 40
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(latency=0.05) as server:
        args = [sys.executable, str(SCRIPT), str(path), str(out), "--request-url", chat_url(server),
                "--api-key-env", "", "--max-requests-per-minute", "0", "--max-tokens-per-minute", "0",
                "--max-concurrency", "1", "--no-progress"]
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not out.exists() or out.read_text(encoding="utf-8").count("\n") < 2:
            assert first.poll() is None, first.communicate()
            time.sleep(0.01)
        second = subprocess.run(args, capture_output=True, text=True, timeout=SAFETY_S)
        first.communicate(timeout=SAFETY_S)
    print(f"\n[cli lock] rc={second.returncode} stderr={second.stderr.strip()}")
    assert first.returncode == 0
    assert second.returncode == 2 and str(out) in second.stderr and "다른 실행" in second.stderr
    ids = [r["id"] for r in lines_of(out)]
    assert len(ids) == len(set(ids)) == n


def test_1_ctrl_c_on_the_cli_stops_cleanly_and_a_rerun_resumes(tmp_path):
    import signal

    n = 40
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(latency=0.05) as server:
        child = subprocess.Popen([sys.executable, str(SCRIPT), str(path), str(out), "--request-url", chat_url(server),
                                  "--api-key-env", "", "--max-requests-per-minute", "0", "--max-tokens-per-minute",
                                  "0", "--max-concurrency", "2", "--no-progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not out.exists() or out.read_text(encoding="utf-8").count("\n") < 3:
            assert child.poll() is None, child.communicate()
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=SAFETY_S)
        done = len(lines_of(out))
        summary = guarded(path, out, request_url=chat_url(server), **FAST)
    assert child.returncode == 130 and "이어서" in err, err
    assert done < n and summary.skipped == done
    ids = [r["id"] for r in lines_of(out)]
    assert len(ids) == len(set(ids)) == n


# --------------------------------------------------------------------------- 2. 서버가 요구한 대기에 상한


def test_2_a_one_hour_retry_after_fails_that_request_and_the_batch_goes_on(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(10))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(lambda k, a: "429s" if k == "q0" else "ok", retry_after="3600") as server:
        summary = guarded(path, out, request_url=chat_url(server), **FAST)
    records = by_id(out)
    print(f"\n[retry-after 3600] q0: {records['r0']['error']}")
    assert summary.succeeded == 9 and summary.failed == 1
    assert records["r0"]["status"] == "failed" and "3600" in records["r0"]["error"]
    assert records["r0"]["http_status"] == 429 and records["r0"]["attempts"] == 1


def test_2_a_one_hour_rate_limit_reset_is_capped_too(tmp_path):
    def headers(key, attempt):
        return {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1h"} if key == "q1" else {}

    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(10))
    out = tmp_path / "out.jsonl"
    plan = lambda k, a: "429bare" if k == "q1" else "ok"
    with FaultInjectingServer(plan, headers_for=headers) as server:
        summary = guarded(path, out, request_url=chat_url(server), max_concurrency=1, **FAST)
    records = by_id(out)
    assert summary.succeeded == 9 and records["r1"]["status"] == "failed" and "3600" in records["r1"]["error"]


def test_2_a_503_with_a_long_retry_after_is_capped_and_backoff_max_caps_our_own_waits(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(4))
    out = tmp_path / "out.jsonl"
    plan = lambda k, a: "503" if k in ("q0", "q1") else "ok"
    headers = lambda k, a: {"Retry-After": "3600"} if k == "q0" else {}
    with FaultInjectingServer(plan, headers_for=headers) as server:
        summary = guarded(path, out, request_url=chat_url(server), max_attempts=4,
                          **{**FAST, "backoff_base": 1000.0, "backoff_max": 0.05})
    records = by_id(out)
    assert records["r0"]["attempts"] == 1 and "3600" in records["r0"]["error"], "5xx 의 Retry-After 도 상한을 따른다"
    assert records["r1"]["attempts"] == 4 and records["r1"]["http_status"] == 503, "자기 백오프는 backoff_max 까지"
    assert summary.succeeded == 2 and summary.retries == 3


def test_2_an_exhausted_quota_on_a_success_does_not_freeze_the_batch_beyond_the_cap(tmp_path):
    def headers(key, attempt):
        return {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "59m"} if key == "q0" else {}

    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(6))
    with FaultInjectingServer(headers_for=headers) as server:
        summary = guarded(path, tmp_path / "out.jsonl", request_url=chat_url(server), max_concurrency=1,
                          max_retry_wait=0.3, **FAST)
    assert summary.succeeded == 6


def test_2_server_wait_above_max_retry_wait_fails_and_the_cli_has_the_option(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(3))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(lambda k, a: "429" if k == "q2" else "ok", retry_after="2") as server:
        summary = guarded(path, out, request_url=chat_url(server), max_retry_wait=0.5, **FAST)
    assert summary.succeeded == 2 and by_id(out)["r2"]["status"] == "failed"
    args = proc.build_parser().parse_args(["a", "b"])
    assert 60 <= args.max_retry_wait <= 600, "기본값은 몇 분"
    assert proc.build_parser().parse_args(["a", "b", "--max-retry-wait", "5"]).max_retry_wait == 5


# --------------------------------------------------------------------------- 3. 줄마다 따로 검사


def _write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_3_each_bad_line_is_reported_and_the_rest_is_processed(tmp_path):
    good = [json.dumps(r).encode() for r in chat_requests(2)]
    msg = [{"role": "user", "content": "x"}]
    lines = [
        good[0],
        json.dumps({"id": "a", "model": "m", "messages": "hi"}).encode(),
        json.dumps({"id": "b", "model": "m", "messages": None}).encode(),
        json.dumps({"id": "c", "model": "m", "max_tokens": "abc", "messages": msg}).encode(),
        b'{"id": "d", "model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        b"{not json",
        json.dumps({"id": "f", "model": "m", "messages": [{"content": "no role"}]}).encode(),
        good[1],
    ]
    path = _write_lines(tmp_path / "req.jsonl", lines)
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer() as server:
        summary = guarded(path, out, request_url=chat_url(server), **FAST)
        again = guarded(path, out, request_url=chat_url(server), **FAST)
    print("\n[bad lines]\n" + summary.describe())
    assert summary.succeeded == 2 and summary.total == 2
    assert summary.malformed == 6 and [n for n, _ in summary.malformed_lines] == [2, 3, 4, 5, 6, 7]
    assert all(reason for _, reason in summary.malformed_lines)
    records = lines_of(out)
    bad = sorted(r["line"] for r in records if r["status"] == "failed")
    assert bad == [2, 3, 4, 5, 6, 7], "잘못된 줄마다 실패 기록 하나"
    assert all(r["error"] and r["attempts"] == 0 for r in records if r["status"] == "failed")
    assert again.malformed == 6 and len(lines_of(out)) == 8, "다시 돌려도 실패 기록이 늘지 않는다"


def test_3_embedding_token_arrays_are_valid(tmp_path):
    lines = [{"id": "e1", "model": "e", "input": [1, 2, 3]}, {"id": "e2", "model": "e", "input": [[1, 2], [3]]},
             {"id": "e3", "model": "e", "input": "문장"}, {"id": "e4", "model": "e", "input": ["가", "나"]},
             {"id": "e5", "model": "e", "input": None}, {"id": "e6", "model": "e", "input": [1, "a"]}]
    path = proc.write_requests(tmp_path / "req.jsonl", lines)
    with FaultInjectingServer() as server:
        summary = guarded(path, tmp_path / "out.jsonl", request_url=f"{server.url}/embeddings", **FAST)
    assert summary.succeeded == 4 and [n for n, _ in summary.malformed_lines] == [5, 6]
    assert proc.estimate_tokens({"input": [1, 2, 3]}) == 3 and proc.estimate_tokens({"input": [[1, 2], [3]]}) == 3


# --------------------------------------------------------------------------- 4. 이어 하기는 온전한 기록을 모두 지킨다


def test_4_resume_keeps_every_valid_record_wherever_the_damage_is(tmp_path):
    n = 10
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer() as server:
        guarded(path, out, request_url=chat_url(server), **FAST)
    good = out.read_bytes().splitlines(keepends=True)
    damaged = good[:2] + [b"\n"] + good[2:5] + [b'{"id": "r3", "sta\n', b"\xff\xfe garbage\n"] + good[5:]
    out.write_bytes(b"".join(damaged) + b'{"id": "r9", "line": 10, "status": "o')  # 잘린 마지막 줄
    with FaultInjectingServer() as server:
        summary = guarded(path, out, request_url=chat_url(server), **FAST)
        resent = len(server.stats.arrivals)
    records = lines_of(out)  # 모든 줄이 온전한 JSON
    print(f"\n[resume] skipped={summary.skipped} re-sent={resent} records={len(records)}")
    assert resent == 0 and summary.skipped == n, "온전한 기록은 하나도 다시 보내지 않는다"
    assert sorted(r["id"] for r in records) == sorted(f"r{i}" for i in range(n))
    kept = Path(f"{out}.damaged").read_bytes()
    assert b"garbage" in kept and b'"sta' in kept, "망가진 줄도 버리지 않고 옆 파일에 남긴다"


def test_4_resume_after_damage_sends_only_what_is_missing(tmp_path):
    n = 8
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer() as server:
        guarded(path, out, request_url=chat_url(server), **FAST)
    good = out.read_bytes().splitlines(keepends=True)
    lost = json.loads(good[1])["id"]
    out.write_bytes(good[0] + b"{broken\n" + b"".join(good[2:]))  # 두 번째 기록이 망가졌다
    with FaultInjectingServer() as server:
        summary = guarded(path, out, request_url=chat_url(server), **FAST)
        sent = [key for _, key, _ in server.stats.arrivals]
    assert summary.skipped == n - 1 and sent == [f"q{lost[1:]}"]
    assert sorted(r["id"] for r in lines_of(out)) == sorted(f"r{i}" for i in range(n))


# --------------------------------------------------------------------------- 5. 형식이 맞는 응답만 성공


def test_5_html_or_choiceless_200_is_not_a_success(tmp_path):
    def plan(key, attempt):
        if key == "q1":
            return "html" if attempt <= 2 else "ok"
        return "nochoices" if key == "q2" else "ok"

    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(4))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer(plan) as server:
        summary = guarded(path, out, request_url=chat_url(server), max_attempts=3, **FAST)
    records = by_id(out)
    print(f"\n[malformed reply] q2: {records['r2']['error']}")
    assert records["r1"]["status"] == "ok" and records["r1"]["attempts"] == 3
    assert isinstance(records["r1"]["response"]["choices"], list)
    assert records["r2"]["status"] == "failed" and records["r2"]["attempts"] == 3
    assert records["r2"]["http_status"] == 200 and "choices" in records["r2"]["error"]
    assert summary.succeeded == 3 and summary.failed == 1


def test_5_embeddings_need_data(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", [{"id": 1, "model": "e", "input": "가"}])
    with FaultInjectingServer(lambda k, a: "nochoices") as server:
        summary = guarded(path, tmp_path / "out.jsonl", request_url=f"{server.url}/embeddings", max_attempts=2,
                          **FAST)
    assert summary.failed == 1 and "data" in lines_of(tmp_path / "out.jsonl")[0]["error"]


# --------------------------------------------------------------------------- 6. id 는 내용에서


def test_6_ids_without_an_id_field_follow_the_content_under_edits(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(5, with_ids=False))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer() as server:
        guarded(path, out, request_url=chat_url(server), **FAST)
    edited = chat_requests(5, with_ids=False)
    edited[2]["messages"][0]["content"] = "q2-edited"
    edited.insert(0, {"model": "gpt-4.1-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "new"}]})
    proc.write_requests(path, edited)
    with FaultInjectingServer() as server:
        summary = guarded(path, out, request_url=chat_url(server), **FAST)
        sent = sorted(key for _, key, _ in server.stats.arrivals)
    ordered = proc.results_in_order(path, out)
    echoes = [r["response"]["choices"][0]["message"]["content"] for r in ordered]
    print(f"\n[content ids] re-sent={sent} skipped={summary.skipped}")
    assert sent == ["new", "q2-edited"] and summary.skipped == 4, "바뀐 줄만 보낸다"
    assert echoes == [f"echo:{r['messages'][0]['content']}" for r in edited], "결과가 제 요청에 붙는다"


def test_6_content_ids_are_stable_and_explicit_ids_still_win(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    other = {"model": "m", "messages": [{"role": "user", "content": "y"}]}
    a = proc.read_requests(proc.write_requests(tmp_path / "a.jsonl", [body, other]))[0]
    b = proc.read_requests(proc.write_requests(tmp_path / "b.jsonl", [other, {**body, "temperature": 0}, body]))[0]
    assert a[0].id == b[2].id and a[1].id == b[0].id and b[1].id != a[0].id
    assert isinstance(a[0].id, str) and a[0].id != 1
    explicit = proc.read_requests(proc.write_requests(tmp_path / "c.jsonl", [{**body, "id": 7}]))[0]
    assert explicit[0].id == 7
    requests, bad = proc.read_requests(proc.write_requests(tmp_path / "d.jsonl", [body, {**body, "id": "k"}]),
                                       require_ids=True)
    assert [r.id for r in requests] == ["k"] and bad[0].line == 1 and "id" in bad[0].reason


# --------------------------------------------------------------------------- 7. 분당 토큰 한도보다 큰 요청


def _oversized(tokens: int) -> dict:
    return {"id": "big", "model": "gpt-4.1-mini", "max_tokens": tokens,
            "messages": [{"role": "user", "content": "big"}]}


def test_7_an_oversized_request_fails_at_once_with_a_clear_record(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(4) + [_oversized(5000)])
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer() as server:
        summary = guarded(path, out, request_url=chat_url(server), **{**FAST, "max_tokens_per_minute": 3000})
        sent = {key for _, key, _ in server.stats.arrivals}
    record = by_id(out)["big"]
    print(f"\n[oversized] {record['error']}")
    assert "big" not in sent and record["status"] == "failed" and record["attempts"] == 0
    assert "3000" in record["error"] and summary.succeeded == 4 and summary.failed == 1


def test_7_an_oversized_request_does_not_stall_the_rest(tmp_path):
    path = proc.write_requests(tmp_path / "req.jsonl", [_oversized(3100)] + chat_requests(4))
    out = tmp_path / "out.jsonl"
    with FaultInjectingServer() as server:
        summary = guarded(path, out, request_url=chat_url(server), **{**FAST, "max_tokens_per_minute": 3000})
    assert summary.succeeded == 4 and by_id(out)["big"]["status"] == "failed"


# --------------------------------------------------------------------------- 8. 429 는 전체를 얼리지 않고 늦춘다


def test_8_rate_limiter_decreases_multiplicatively_and_recovers_additively():
    limiter = proc.RateLimiter(600, 60_000)
    assert limiter.fraction == 1.0 and limiter.requests.effective_rate == limiter.requests.rate <= 10.0
    limiter.on_rate_limited()
    first = limiter.fraction
    limiter.on_rate_limited()
    assert 0 < first < 1 and limiter.fraction == pytest.approx(first * first), "곱으로 줄어든다"
    assert limiter.requests.effective_rate == pytest.approx(limiter.requests.rate * limiter.fraction)
    assert limiter.tokens.effective_rate == pytest.approx(limiter.tokens.rate * limiter.fraction)
    for _ in range(1000):
        limiter.on_rate_limited()
    assert limiter.fraction > 0, "바닥이 있다"
    steps = []
    for _ in range(5):
        low = limiter.fraction
        limiter.on_success()
        steps.append(limiter.fraction - low)
    assert all(s > 0 for s in steps) and max(steps) - min(steps) < 1e-9, "같은 폭으로 조금씩 회복"
    for _ in range(10_000):
        limiter.on_success()
    assert limiter.fraction == 1.0, "설정한 한도를 넘지는 않는다"


def test_8_a_429_delays_only_its_own_request(tmp_path):
    n = 20
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    plan = lambda k, a: "429s" if (k == "q0" and a == 1) else "ok"
    with FaultInjectingServer(plan, retry_after="3") as server:
        summary = guarded(path, tmp_path / "out.jsonl", request_url=chat_url(server), max_concurrency=4,
                          **{**FAST, "max_requests_per_minute": 6000})
        q0 = [t for t, key, _ in server.stats.arrivals if key == "q0"]
        told = server.stats.after_response["q0"][0]
        between = [key for t, key, _ in server.stats.arrivals if told < t < q0[1] and key != "q0"]
    print(f"\n[429 isolation] other requests sent while q0 waited its Retry-After: {len(between)} of {n - 1}")
    assert summary.succeeded == n and q0[1] - told >= 3 - 0.02, "429 를 받은 요청은 Retry-After 만큼 기다린다"
    assert len(between) >= 10, "나머지는 그동안 계속 나간다 (전체가 멈추지 않는다)"
    assert summary.rate_limited == 1 and summary.min_rate_fraction < 1.0, "전체 속도는 조금 늦춘다"


def test_8_many_429s_slow_the_client_in_proportion(tmp_path):
    n = 40
    path = proc.write_requests(tmp_path / "req.jsonl", chat_requests(n))
    hit = {f"q{i}" for i in range(0, n, 3)}
    with FaultInjectingServer(lambda k, a: "429" if (k in hit and a == 1) else "ok", retry_after="0.01") as server:
        summary = guarded(path, tmp_path / "out.jsonl", request_url=chat_url(server), max_concurrency=8,
                          **{**FAST, "max_requests_per_minute": 6000})
    assert summary.succeeded == n and summary.rate_limited == len(hit)
    assert summary.min_rate_fraction < 0.9 ** 2, "429 가 많을수록 더 늦춘다"


def test_cli_has_no_key_argument_and_documents_ids():
    text = proc.build_parser().format_help()
    assert "--max-retry-wait" in text and "--require-ids" in text
    assert "sha256" in proc.__doc__, "id 를 내용에서 만드는 규칙을 문서에 적는다"
    assert os.path.exists(SCRIPT)


def test_8_token_bucket_keeps_every_10s_window_within_the_limit():
    from tests.fault_injecting_server import worst_window

    now = [0.0]
    bucket = proc.TokenBucket(600, 0.25, clock=lambda: now[0])
    sends = []
    for _ in range(100_000):  # 시뮬레이션 걸음 수 상한 (무한 루프 대신 실패)
        if now[0] >= 60:
            break
        if 20 <= now[0] < 23:  # 쉬는 동안 양동이가 다시 찬다
            now[0] = 23
        wait = bucket.wait_time(1)
        if wait > 0:
            now[0] += wait
            continue
        bucket.take(1)
        sends.append(now[0])
    assert now[0] >= 60, "양동이가 시계를 앞으로 보낸다 (아주 작은 대기를 되풀이하며 멈추지 않는다)"
    print(f"\n[bucket] sends={len(sends)} in 60 s, worst 10 s window={worst_window(sends, 10.0)} (limit 100)")
    assert worst_window(sends, 10.0) <= 600 / 6, "어느 10초 구간도 한도의 10초 몫을 넘지 않는다"
    assert len(sends) >= 0.9 * 600 * 57 / 60, "그러면서도 한도에 가깝게 보낸다"
