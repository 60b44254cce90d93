"""OpenAI 호환 API 요청을 병렬로 보내고, 하나도 잃지 않고 저장하는 처리기 (라이브러리 + 명령줄).

요청 JSONL 한 줄 = 요청 하나. 결과 JSONL 한 줄 = 요청 id 하나에 대한 기록 하나 (성공 또는 실패).

    python api_request_parallel_processor.py requests.jsonl results.jsonl \
        --endpoint chat/completions --max-requests-per-minute 500 --max-tokens-per-minute 200000

요청 줄의 세 가지 모양 (id 는 이 순서로 찾고, 없으면 1부터 세는 줄 번호):
    {"custom_id": "q-1", "body": {...}}                  # OpenAI Batch API 모양
    {"id": "q-1", "model": "...", "messages": [...]}     # 본문 + id (id 는 보내지 않음)
    {"model": "...", "messages": [...], "metadata": {"id": "q-1", ...}}  # metadata 는 결과에만 남김

결과 기록은 성공이든 실패든 같은 열을 가진다 (집계 코드가 모양 때문에 깨지지 않도록):
    {"id", "line", "status": "ok" | "failed", "http_status", "attempts", "error", "response", "metadata"}

동작:
- 동시에 날아가는 요청 수 상한 (--max-concurrency), 분당 요청 수·토큰 수 상한 (tiktoken 추정치).
- 429·5xx·시간 초과·연결 오류는 지수 백오프 + 지터로 재시도하고, Retry-After / retry-after-ms 와
  x-ratelimit-remaining-* / x-ratelimit-reset-* 헤더를 따른다. 그 밖의 4xx 는 재시도하지 않는다.
- 마지막 재시도 뒤에는 실패 기록을 정확히 하나 남긴다 (조용히 사라지지도, 전체 실행이 죽지도 않는다).
- 같은 결과 파일로 다시 실행하면 이미 끝난 id 는 건너뛴다 (강제 종료 뒤에도 중복 없음).
- 잘못된 줄은 줄 번호와 함께 보고하고 세며, 나머지는 계속 처리한다.
- 진행 막대, 마지막 요약, 실패가 있으면 0 이 아닌 종료 코드. API 키는 환경 변수에서만 읽는다.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("api_request_parallel_processor")

RETRYABLE_STATUS = {408, 409, 429}  # 5xx 는 모두 재시도
DEFAULT_BASE_URL = "https://api.openai.com/v1"
RECORD_KEYS = ("id", "line", "status", "http_status", "attempts", "error", "response", "metadata")


# --------------------------------------------------------------------------- 입력


@dataclass
class Request:
    id: Any
    line: int  # 1부터 세는 입력 파일 줄 번호 (결과 순서 복원용)
    body: dict
    metadata: Any = None
    tokens: int = 0


@dataclass
class Malformed:
    line: int
    reason: str


def parse_request_line(text: str, line_no: int) -> Request:
    """한 줄을 Request 로 바꾼다. 잘못된 줄이면 ValueError."""
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("JSON 객체가 아님")
    metadata = None
    if "body" in obj and isinstance(obj.get("body"), dict):  # Batch API 모양
        body = dict(obj["body"])
        rid = obj.get("custom_id", obj.get("id"))
        metadata = obj.get("metadata")
    else:
        body = dict(obj)
        rid = body.pop("id", None)
        metadata = body.pop("metadata", None)
        if rid is None and isinstance(metadata, dict):
            rid = metadata.get("id")
    if rid is None:
        rid = line_no
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise ValueError(f"id 는 문자열이나 정수여야 함: {rid!r}")
    if not body:
        raise ValueError("요청 본문이 비어 있음")
    return Request(id=rid, line=line_no, body=body, metadata=metadata)


def read_requests(path: str | Path) -> tuple[list[Request], list[Malformed]]:
    """요청 파일을 읽는다. 중복 id 도 잘못된 줄로 센다 (한 id 에 기록 하나라는 약속을 지키려고)."""
    requests: list[Request] = []
    malformed: list[Malformed] = []
    seen: set = set()
    with open(path, encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                request = parse_request_line(text, line_no)
            except (ValueError, TypeError) as exc:  # json.JSONDecodeError 는 ValueError
                malformed.append(Malformed(line_no, f"{type(exc).__name__}: {exc}"))
                continue
            key = _id_key(request.id)
            if key in seen:
                malformed.append(Malformed(line_no, f"중복 id: {request.id!r}"))
                continue
            seen.add(key)
            requests.append(request)
    return requests, malformed


def _id_key(rid: Any) -> str:
    return json.dumps(rid)  # 1 과 "1" 을 구별


# --------------------------------------------------------------------------- 토큰 추정

_ENCODINGS: dict[str, Any] = {}


def _encoding(name: str):
    if name not in _ENCODINGS:
        try:
            import tiktoken

            _ENCODINGS[name] = tiktoken.get_encoding(name)
        except Exception as exc:  # noqa: BLE001  (오프라인 등으로 인코딩을 못 받으면 글자 수로 근사)
            logger.warning("tiktoken %s 를 쓸 수 없어 글자 수/3 으로 토큰을 추정합니다: %s", name, exc)
            _ENCODINGS[name] = None
    return _ENCODINGS[name]


def count_tokens(text: str, encoding_name: str = "cl100k_base") -> int:
    enc = _encoding(encoding_name)
    if enc is None:
        return max(1, len(text) // 3)
    return len(enc.encode(text, disallowed_special=()))


def estimate_tokens(body: dict, encoding_name: str = "cl100k_base") -> int:
    """요청 하나가 쓸 토큰 수 추정 (입력 + 최대 출력). 분당 토큰 상한에 쓴다."""
    if "messages" in body:  # chat/completions
        n = int(body.get("n") or 1)
        completion = body.get("max_completion_tokens") or body.get("max_tokens") or 15
        prompt = 2
        for message in body["messages"]:
            prompt += 4
            for key, value in message.items():
                if isinstance(value, str):
                    prompt += count_tokens(value, encoding_name)
                elif isinstance(value, list):  # content parts
                    for part in value:
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            prompt += count_tokens(part["text"], encoding_name)
                if key == "name":
                    prompt -= 1
        return prompt + n * int(completion)
    if "input" in body:  # embeddings
        value = body["input"]
        texts = [value] if isinstance(value, str) else value
        return sum(count_tokens(t, encoding_name) if isinstance(t, str) else len(t) for t in texts)
    if "prompt" in body:  # completions
        value = body["prompt"]
        texts = [value] if isinstance(value, str) else value
        n = int(body.get("n") or 1)
        return sum(count_tokens(t, encoding_name) for t in texts) + n * int(body.get("max_tokens") or 16)
    return count_tokens(json.dumps(body, ensure_ascii=False), encoding_name)


# --------------------------------------------------------------------------- 속도 제한


class TokenBucket:
    """초당 rate 만큼 차오르는 양동이. 용량(burst)이 작아서 어느 구간을 재도 상한을 크게 넘지 않는다.

    비용이 용량보다 크면 양동이가 가득 찼을 때 보내고 빚(음수)을 진다: 장기 평균은 rate 를 넘지 않는다.
    """

    def __init__(self, per_minute: float, burst_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.clock = clock
        self.level = self.capacity
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, cost: float) -> float:
        self._refill()
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, cost: float) -> None:
        self._refill()
        self.level -= cost


class RateLimiter:
    """분당 요청·토큰 상한 + 서버가 알려 준 일시 정지(Retry-After, x-ratelimit-reset-*)."""

    def __init__(self, max_requests_per_minute: float | None, max_tokens_per_minute: float | None,
                 burst_seconds: float = 0.25):
        self.requests = TokenBucket(max_requests_per_minute, burst_seconds) if max_requests_per_minute else None
        self.tokens = TokenBucket(max_tokens_per_minute, burst_seconds) if max_tokens_per_minute else None
        self.paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO: 먼저 기다린 요청이 먼저 나간다

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def acquire(self, tokens: int) -> None:
        async with self._lock:
            while True:
                wait = self.paused_until - time.monotonic()
                if self.requests is not None:
                    wait = max(wait, self.requests.wait_time(1))
                if self.tokens is not None:
                    wait = max(wait, self.tokens.wait_time(tokens))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests is not None:
                self.requests.take(1)
            if self.tokens is not None:
                self.tokens.take(tokens)


# --------------------------------------------------------------------------- 헤더 해석

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str | None) -> float | None:
    """'1s', '6m0s', '20ms', '1h2m3.5s', '0.5' 같은 값을 초로. 모르면 None."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_RE.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def retry_after_seconds(headers) -> float | None:
    """retry-after-ms 또는 Retry-After (초 또는 HTTP 날짜)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def rate_limit_pause(headers) -> float:
    """x-ratelimit-remaining-{requests,tokens} 가 0 이면 해당 reset 까지 기다릴 초."""
    pause = 0.0
    for kind in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        if remaining is None:
            continue
        try:
            exhausted = float(remaining) <= 0
        except ValueError:
            continue
        if exhausted:
            pause = max(pause, parse_duration(headers.get(f"x-ratelimit-reset-{kind}")) or 1.0)
    return pause


# --------------------------------------------------------------------------- 전송 계층


class _LowerHeaders(dict):
    def get(self, key, default=None):
        return super().get(key.lower(), default)


@dataclass
class Reply:
    status: int
    headers: dict
    data: Any  # JSON 이면 dict, 아니면 본문 문자열


class TransportError(Exception):
    """시간 초과·연결 끊김 (재시도 대상)."""


class AiohttpTransport:
    """기본 전송: aiohttp 로 POST 한다."""

    def __init__(self, url: str, api_key: str | None, timeout: float, max_concurrency: int):
        self.url, self.api_key, self.timeout, self.max_concurrency = url, api_key, timeout, max_concurrency
        self.session = None

    async def __aenter__(self):
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self.max_concurrency, force_close=False)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self.session = aiohttp.ClientSession(connector=connector, headers=headers)
        return self

    async def __aexit__(self, *exc):
        await self.session.close()

    async def send(self, body: dict) -> Reply:
        import aiohttp

        try:
            async with self.session.post(self.url, json=body,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                text = await response.text()
                headers = _LowerHeaders({k.lower(): v for k, v in response.headers.items()})
                try:
                    data = json.loads(text)
                except ValueError:
                    data = text
                return Reply(response.status, headers, data)
        except asyncio.TimeoutError as exc:
            raise TransportError(f"시간 초과 ({self.timeout}s)") from exc
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc


class OpenAIClientTransport:
    """openai 패키지의 AsyncOpenAI 로 보내는 전송 (키·주소는 OPENAI_API_KEY / OPENAI_BASE_URL 에서 클라이언트가 읽음).

    재시도는 처리기가 맡으므로 클라이언트의 자체 재시도는 끈다 (max_retries=0).
    """

    def __init__(self, endpoint: str = "chat/completions", timeout: float = 60.0, client=None):
        self.endpoint, self.timeout, self.client = endpoint.strip("/"), timeout, client

    async def __aenter__(self):
        if self.client is None:
            from openai import AsyncOpenAI

            self.client = AsyncOpenAI(max_retries=0, timeout=self.timeout)
        return self

    async def __aexit__(self, *exc):
        await self.client.close()

    async def send(self, body: dict) -> Reply:
        import httpx
        import openai

        try:
            response = await self.client.post(f"/{self.endpoint}", body=body, cast_to=httpx.Response)
        except openai.APIStatusError as exc:
            headers = _LowerHeaders({k.lower(): v for k, v in exc.response.headers.items()})
            try:
                data = exc.response.json()
            except ValueError:
                data = exc.response.text
            return Reply(exc.status_code, headers, data)
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        headers = _LowerHeaders({k.lower(): v for k, v in response.headers.items()})
        try:
            data = response.json()
        except ValueError:
            data = response.text
        return Reply(response.status_code, headers, data)


# --------------------------------------------------------------------------- 처리기


@dataclass
class Summary:
    total: int = 0  # 입력의 올바른 요청 수
    succeeded: int = 0  # 이번 실행에서 성공
    failed: int = 0  # 이번 실행에서 실패 기록을 남김
    skipped: int = 0  # 이전 실행에서 이미 끝나 건너뜀
    malformed: int = 0
    malformed_lines: list = field(default_factory=list)  # [(줄 번호, 이유)]
    retries: int = 0
    failures_by_status: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    requests_per_minute: float = 0.0  # 이번 실행에서 끝낸 요청 수 / 경과 시간
    tokens_estimated: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.malformed == 0

    def describe(self) -> str:
        lines = [
            f"성공 {self.succeeded} / 실패 {self.failed} / 건너뜀 {self.skipped} / 잘못된 줄 {self.malformed} "
            f"(요청 {self.total}개)",
            f"경과 {self.elapsed_s:.1f}s, 분당 요청 {self.requests_per_minute:.0f}, 재시도 {self.retries}회, "
            f"추정 토큰 {self.tokens_estimated}",
        ]
        if self.failures_by_status:
            lines.append(f"실패 원인: {self.failures_by_status}")
        for line_no, reason in self.malformed_lines[:10]:
            lines.append(f"  잘못된 줄 {line_no}: {reason}")
        return "\n".join(lines)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """지수 백오프 + 지터: [0.5, 1.0) x min(cap, base x 2^(attempt-1))."""
    return min(cap, base * (2 ** (attempt - 1))) * (0.5 + 0.5 * rng.random())


def load_finished(save_path: str | Path) -> dict[str, dict]:
    """결과 파일에서 끝난 기록을 읽는다. 강제 종료로 잘린 마지막 줄은 파일에서 잘라 낸다."""
    path = Path(save_path)
    finished: dict[str, dict] = {}
    if not path.exists():
        return finished
    raw = path.read_bytes()
    good_end = 0
    position = 0
    for chunk in raw.splitlines(keepends=True):
        position += len(chunk)
        if not chunk.endswith(b"\n"):
            break  # 쓰다 만 마지막 줄
        try:
            record = json.loads(chunk)
        except ValueError:
            break
        good_end = position
        if isinstance(record, dict) and record.get("status") in ("ok", "failed"):
            finished[_id_key(record["id"])] = record
    if good_end < len(raw):
        logger.warning("%s: 끝의 불완전한 %d 바이트를 잘라 냅니다 (중단된 실행의 흔적)", path, len(raw) - good_end)
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
    return finished


def _drop_failed(save_path: Path, finished: dict[str, dict]) -> None:
    """retry_failed: 실패 기록을 파일에서 빼서(원자적으로 다시 씀) 그 id 들을 다시 처리한다."""
    keep = [r for r in finished.values() if r["status"] == "ok"]
    tmp = save_path.with_suffix(save_path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in keep)
    os.replace(tmp, save_path)
    for key in [k for k, r in finished.items() if r["status"] == "failed"]:
        del finished[key]


class _ResultWriter:
    """기록 하나를 한 번의 write 로 줄 단위로 쓰고 바로 flush (강제 종료돼도 온전한 줄만 남도록)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


async def process_requests_async(
    requests_path: str | Path,
    save_path: str | Path,
    *,
    request_url: str | None = None,
    endpoint: str = "chat/completions",
    api_key_env: str | None = "OPENAI_API_KEY",
    max_requests_per_minute: float | None = 500,
    max_tokens_per_minute: float | None = 200_000,
    max_concurrency: int = 32,
    max_attempts: int = 5,
    timeout: float = 60.0,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
    burst_seconds: float = 0.25,
    token_encoding: str = "cl100k_base",
    retry_failed: bool = False,
    progress: bool = True,
    transport=None,
    seed: int | None = None,
) -> Summary:
    """requests_path 의 요청을 보내고 save_path 에 id 마다 기록 하나를 남긴다. Summary 를 돌려준다."""
    start = time.monotonic()
    save_path = Path(save_path)
    requests, malformed = read_requests(requests_path)
    for bad in malformed:
        logger.warning("잘못된 줄 %d: %s", bad.line, bad.reason)
    summary = Summary(total=len(requests), malformed=len(malformed),
                      malformed_lines=[(m.line, m.reason) for m in malformed])

    finished = load_finished(save_path)
    if retry_failed and any(r["status"] == "failed" for r in finished.values()):
        _drop_failed(save_path, finished)
    todo = [r for r in requests if _id_key(r.id) not in finished]
    summary.skipped = len(requests) - len(todo)
    for request in todo:
        request.tokens = estimate_tokens(request.body, token_encoding)
    summary.tokens_estimated = sum(r.tokens for r in todo)

    if transport is None:
        url = request_url or f"{os.environ.get('OPENAI_BASE_URL', DEFAULT_BASE_URL).rstrip('/')}/{endpoint.strip('/')}"
        api_key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not api_key:
            raise RuntimeError(f"환경 변수 {api_key_env} 가 비어 있습니다 (키는 환경 변수로만 받습니다)")
        transport = AiohttpTransport(url, api_key, timeout, max_concurrency)

    limiter = RateLimiter(max_requests_per_minute, max_tokens_per_minute, burst_seconds)
    in_flight = asyncio.Semaphore(max_concurrency)
    backlog = asyncio.Semaphore(max(4 * max_concurrency, 64))  # 만들어 둘 작업 수 상한 (메모리)
    rng = random.Random(seed)
    writer = _ResultWriter(save_path)
    failures: Counter = Counter()
    bar = _progress_bar(len(requests), summary.skipped, progress)

    def record(request: Request, status: str, http_status, attempts: int, error, response) -> None:
        writer.write({"id": request.id, "line": request.line, "status": status, "http_status": http_status,
                      "attempts": attempts, "error": error, "response": response, "metadata": request.metadata})
        if status == "ok":
            summary.succeeded += 1
        else:
            summary.failed += 1
            failures[str(http_status) if http_status else "network"] += 1
        if bar is not None:
            bar.update(1)

    async def handle(request: Request, state: dict) -> None:
        attempt = 0
        while True:
            attempt += 1
            state["attempts"] = attempt
            async with in_flight:
                await limiter.acquire(request.tokens)  # 자리를 잡은 뒤 보내기 직전에 한도를 확인
                try:
                    reply = await transport.send(request.body)
                    error, status, retry_after = None, reply.status, retry_after_seconds(reply.headers)
                    limiter.pause(rate_limit_pause(reply.headers))
                except TransportError as exc:
                    reply, error, status, retry_after = None, str(exc), None, None
            if reply is not None and 200 <= reply.status < 300:
                record(request, "ok", reply.status, attempt, None, reply.data)
                return
            if reply is not None:
                error = _error_text(reply)
            retryable = reply is None or reply.status >= 500 or reply.status in RETRYABLE_STATUS
            if not retryable or attempt >= max_attempts:
                record(request, "failed", status, attempt, error, reply.data if reply is not None else None)
                return
            delay = backoff_delay(attempt, backoff_base, backoff_max, rng)
            if retry_after is not None:
                delay = max(delay, retry_after)
                if status == 429:  # 서버가 한도 초과라고 했으니 모두 잠시 멈춘다
                    limiter.pause(retry_after)
            summary.retries += 1
            logger.info("id=%r 시도 %d 실패 (%s), %.2fs 뒤 재시도", request.id, attempt, error, delay)
            await asyncio.sleep(delay)

    async def guarded(request: Request) -> None:
        state = {"attempts": 0}
        try:
            await handle(request, state)
        except Exception as exc:
            logger.exception("id=%r 처리 중 예외", request.id)
            record(request, "failed", None, state["attempts"], f"{type(exc).__name__}: {exc}", None)
        finally:
            backlog.release()

    try:
        async with transport:
            tasks = []
            for request in todo:
                await backlog.acquire()
                tasks.append(asyncio.create_task(guarded(request)))
            await asyncio.gather(*tasks)
    finally:
        writer.close()
        if bar is not None:
            bar.close()

    summary.failures_by_status = dict(failures)
    summary.elapsed_s = time.monotonic() - start
    done = summary.succeeded + summary.failed
    summary.requests_per_minute = 60.0 * done / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    return summary


def _error_text(reply: Reply) -> str:
    data = reply.data
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message") or json.dumps(data["error"], ensure_ascii=False)
    elif isinstance(data, dict):
        message = json.dumps(data, ensure_ascii=False)
    else:
        message = str(data)
    return f"HTTP {reply.status}: {message[:500]}"


def _progress_bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="API 요청", unit="req")


def process_requests(requests_path, save_path, **kwargs) -> Summary:
    """동기 버전. 주피터처럼 이벤트 루프가 이미 돌고 있으면 별도 스레드에서 실행한다."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(process_requests_async(requests_path, save_path, **kwargs))
    box: dict = {}

    def runner():
        try:
            box["value"] = asyncio.run(process_requests_async(requests_path, save_path, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def read_results(save_path: str | Path) -> dict[str, dict]:
    """결과 파일을 {id 키: 기록} 으로 (파일은 건드리지 않음). 키는 json.dumps(id): 정수 1 과 문자열 "1" 구별."""
    finished: dict[str, dict] = {}
    path = Path(save_path)
    if not path.exists():
        return finished
    with open(path, encoding="utf-8") as fh:
        for text in fh:
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("status") in ("ok", "failed"):
                finished[_id_key(record["id"])] = record
    return finished


def results_in_order(requests_path: str | Path, save_path: str | Path) -> list[dict | None]:
    """요청 파일 순서대로 기록을 돌려준다 (아직 없는 id 는 None, 잘못된 줄은 빠진다)."""
    requests, _ = read_requests(requests_path)
    finished = read_results(save_path)
    return [finished.get(_id_key(r.id)) for r in requests]


def write_requests(path: str | Path, requests: list[dict]) -> Path:
    """요청 목록을 JSONL 로 (새로 씀)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(request, ensure_ascii=False) + "\n" for request in requests)
    return path


# --------------------------------------------------------------------------- 명령줄


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("requests_path")
    parser.add_argument("save_path")
    parser.add_argument("--request-url", default=None,
                        help="전체 주소. 없으면 $OPENAI_BASE_URL (기본 https://api.openai.com/v1) + --endpoint")
    parser.add_argument("--endpoint", default="chat/completions", help="chat/completions, embeddings, ...")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY",
                        help="API 키를 담은 환경 변수 이름 (키 자체는 인자로 받지 않음). '' 이면 인증 없음")
    parser.add_argument("--max-requests-per-minute", type=float, default=500, help="0 이면 제한 없음")
    parser.add_argument("--max-tokens-per-minute", type=float, default=200_000,
                        help="0 이면 제한 없음 (토큰 수는 tiktoken 으로 추정: 입력 + max_tokens)")
    parser.add_argument("--max-concurrency", type=int, default=32)
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="요청 하나의 시간 제한 (초)")
    parser.add_argument("--backoff-base", type=float, default=1.0)
    parser.add_argument("--backoff-max", type=float, default=60.0)
    parser.add_argument("--token-encoding", default="cl100k_base")
    parser.add_argument("--retry-failed", action="store_true", help="실패 기록을 지우고 그 id 를 다시 보냄")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--seed", type=int, default=None, help="지터 난수 씨앗")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(message)s")
    try:
        summary = process_requests(
            args.requests_path, args.save_path, request_url=args.request_url, endpoint=args.endpoint,
            api_key_env=args.api_key_env or None, max_requests_per_minute=args.max_requests_per_minute or None,
            max_tokens_per_minute=args.max_tokens_per_minute or None, max_concurrency=args.max_concurrency,
            max_attempts=args.max_attempts, timeout=args.timeout, backoff_base=args.backoff_base,
            backoff_max=args.backoff_max, token_encoding=args.token_encoding, retry_failed=args.retry_failed,
            progress=not args.no_progress, seed=args.seed)
    except (RuntimeError, OSError) as exc:
        print(f"오류: {exc}", file=sys.stderr)
        return 2
    print(summary.describe(), file=sys.stderr)
    print(json.dumps({k: v for k, v in asdict(summary).items() if k != "malformed_lines"}, ensure_ascii=False))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
