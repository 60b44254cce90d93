"""시험용 OpenAI 호환 서버 (루프백 전용): 정해 둔 비율로 장애를 주입한다.

처리기(ch06_eval/api_request_parallel_processor.py)의 테스트(tests/test_ch06_processor*.py)와
벤치마크(tools/bench_processor.py)가 쓴다. 실제 모델은 없고,
chat/completions 에는 마지막 메시지를 "echo:<내용>" 으로 되돌려 주고 embeddings 에는 작은 벡터를 준다.

장애 종류 (요청 본문의 열쇠 = 마지막 메시지 내용 또는 input, 시도 횟수로 결정적으로 고른다):
    ok, 429 (Retry-After 또는 retry-after-ms), 500, 503, slow (시간 초과를 넘겨 늦게 답함),
    drop (답 없이 연결을 끊음), 400 (재시도하면 안 되는 오류),
    429bare (Retry-After 없는 429), html (200 인데 본문이 HTML), nochoices (200 인데 JSON 에 choices/data 가 없음)

    server = FaultInjectingServer(FaultPlan(fault_rate=0.2)).start()
    ...  server.url  ->  "http://127.0.0.1:PORT/v1"
    server.stop()
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

TRANSIENT_FAULTS = ("429", "429s", "500", "503", "slow", "drop")
REASONS = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


def _unit(*parts) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class FaultPlan:
    """열쇠마다 결정적인 장애 계획.

    - permanent_400 비율: 항상 400 (재시도 없이 실패 기록 1개, 시도 1회)
    - permanent_500 비율: 항상 500 (max_attempts 번 시도 뒤 실패 기록 1개)
    - fault_rate 까지: 첫 시도에 일시 장애 하나, 그중 절반은 두 번째 시도에도 500
    """

    fault_rate: float = 0.2
    permanent_400: float = 0.01
    permanent_500: float = 0.01
    seed: int = 0

    def action(self, key: str, attempt: int) -> str:
        u = _unit(self.seed, key)
        if u < self.permanent_400:
            return "400"
        if u < self.permanent_400 + self.permanent_500:
            return "500"
        if u < self.fault_rate:
            if attempt == 1:
                return TRANSIENT_FAULTS[int(_unit(self.seed, key, "kind") * len(TRANSIENT_FAULTS))]
            if attempt == 2 and _unit(self.seed, key, "again") < 0.5:
                return "500"
        return "ok"

    def expected_status(self, key: str, max_attempts: int) -> str:
        for attempt in range(1, max_attempts + 1):
            action = self.action(key, attempt)
            if action == "ok":
                return "ok"
            if action == "400":
                return "failed"
        return "failed"


def request_key(body: dict) -> str:
    if isinstance(body.get("messages"), list) and body["messages"]:
        content = body["messages"][-1].get("content")
        return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    if "input" in body:
        return body["input"] if isinstance(body["input"], str) else json.dumps(body["input"], ensure_ascii=False)
    return json.dumps(body, sort_keys=True)


@dataclass
class ServerStats:
    arrivals: list = field(default_factory=list)  # (monotonic time, key, action)
    attempts: Counter = field(default_factory=Counter)  # key -> 도착 횟수
    actions: Counter = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    after_response: dict = field(default_factory=lambda: defaultdict(list))  # 응답 보낸 시각 (key -> [t])


class FaultInjectingServer:
    def __init__(self, plan: FaultPlan | Callable[[str, int], str] | None = None, *, latency: float = 0.0,
                 slow_seconds: float = 2.0, retry_after: str = "0.05", headers_for: Callable | None = None):
        self.plan = plan or FaultPlan(fault_rate=0.0, permanent_400=0.0, permanent_500=0.0)
        self.action = self.plan.action if hasattr(self.plan, "action") else self.plan
        self.latency, self.slow_seconds, self.retry_after = latency, slow_seconds, retry_after
        self.headers_for = headers_for  # (key, attempt) -> 추가 응답 헤더 dict (예: x-ratelimit-*)
        self.stats = ServerStats()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- 수명
    def start(self) -> FaultInjectingServer:
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            self._server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="fault-server")
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- HTTP (keep-alive 를 지원하는 아주 작은 구현)
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body_bytes = await reader.readexactly(int(headers.get("content-length", 0)))
                keep_going = await self._respond(lines[0], body_bytes, writer)
                if not keep_going or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # 손님이 끊었거나 서버를 멈추는 중
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def _respond(self, request_line: str, body_bytes: bytes, writer: asyncio.StreamWriter) -> bool:
        try:
            body = json.loads(body_bytes or b"{}")
        except ValueError:
            await self._send(writer, 400, {"error": {"message": "invalid json"}})
            return True
        key = request_key(body)
        with self._lock:
            self.stats.attempts[key] += 1
            attempt = self.stats.attempts[key]
            action = self.action(key, attempt)
            self.stats.arrivals.append((time.monotonic(), key, action))
            self.stats.actions[action] += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            extra = self.headers_for(key, attempt) if self.headers_for else {}
            if action == "drop":
                writer.transport.abort()
                return False
            if action == "slow":
                await asyncio.sleep(self.slow_seconds)
                action = "ok"
            if action == "400":
                await self._send(writer, 400, {"error": {"message": "bad request (injected)", "type": "invalid"}})
            elif action == "429":
                await self._send(writer, 429, {"error": {"message": "rate limited (injected)"}},
                                 {"retry-after-ms": str(int(float(self.retry_after) * 1000)), **extra})
            elif action == "429s":  # 초 단위 Retry-After 만 주는 서버
                await self._send(writer, 429, {"error": {"message": "rate limited (injected)"}},
                                 {"Retry-After": self.retry_after, **extra})
            elif action == "429bare":  # Retry-After 없이 (x-ratelimit-* 는 headers_for 로)
                await self._send(writer, 429, {"error": {"message": "rate limited (injected)"}}, extra)
            elif action == "html":  # 프록시·게이트웨이의 오류 페이지가 200 으로 오는 경우
                await self._send_raw(writer, 200, b"<html><body>Gateway says hi</body></html>", "text/html", extra)
            elif action == "nochoices":
                await self._send(writer, 200, {"object": "chat.completion", "model": body.get("model")}, extra)
            elif action in ("500", "503"):
                await self._send(writer, int(action), {"error": {"message": f"server error {action} (injected)"}},
                                 extra)
            else:
                await self._send(writer, 200, self._ok_payload(request_line, body, key), extra)
            with self._lock:
                self.stats.after_response[key].append(time.monotonic())
            return True
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    @staticmethod
    def _ok_payload(request_line: str, body: dict, key: str) -> dict:
        if "/embeddings" in request_line:
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs or []
            return {"object": "list", "model": body.get("model"),
                    "data": [{"object": "embedding", "index": i, "embedding": [_unit(t, j) for j in range(4)]}
                             for i, t in enumerate(map(str, inputs))]}
        return {"id": "chatcmpl-fault", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"echo:{key}"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    @classmethod
    async def _send(cls, writer: asyncio.StreamWriter, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        await cls._send_raw(writer, status, data, "application/json", headers)

    @staticmethod
    async def _send_raw(writer: asyncio.StreamWriter, status: int, data: bytes, content_type: str,
                        headers: dict | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"Content-Type: {content_type}",
                 f"Content-Length: {len(data)}", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
            await writer.drain()
        except ConnectionError:
            pass


def worst_window(times: list[float], window: float = 10.0, weights: list[float] | None = None) -> float:
    """times (오름차순 아니어도 됨) 중 길이 window 초 구간에 든 가장 큰 양 (weights 가 있으면 그 합)."""
    pairs = sorted(zip(times, weights or [1.0] * len(times)))
    best = total = 0.0
    left = 0
    for right, (t, w) in enumerate(pairs):
        total += w
        while pairs[left][0] <= t - window:
            total -= pairs[left][1]
            left += 1
        best = max(best, total)
    return best
