"""OpenAI 호환 API 요청을 병렬로 보내고, 하나도 잃지 않고 저장하는 처리기 (라이브러리 + 명령줄).

요청 JSONL 한 줄 = 요청 하나. 결과 JSONL 한 줄 = 요청 id 하나에 대한 기록 하나 (성공 또는 실패).

    python api_request_parallel_processor.py requests.jsonl results.jsonl \
        --endpoint chat/completions --max-requests-per-minute 500 --max-tokens-per-minute 200000

요청 줄의 세 가지 모양 (id 는 이 순서로 찾는다):
    {"custom_id": "q-1", "body": {...}}                  # OpenAI Batch API 모양
    {"id": "q-1", "model": "...", "messages": [...]}     # 본문 + id (id 는 보내지 않음)
    {"model": "...", "messages": [...], "metadata": {"id": "q-1", ...}}  # metadata 는 결과에만 남김

id 규칙 (결과를 요청에 붙이는 열쇠):
- 줄에 id(custom_id, id, metadata.id)가 있으면 그대로 쓴다 (문자열 또는 정수, 이전 버전과 같음).
- 없으면 요청 내용에서 만든다: "sha256:" + sha256(본문[과 metadata]을 키 정렬한 JSON)의 앞 16자리.
  다른 줄을 고치거나 끼워 넣어도 바뀌지 않는다 (예전의 줄 번호 id 는 편집하면 결과가 엉뚱한 요청에 붙었다).
  내용까지 같은 줄은 같은 id 라 중복으로 보고된다: 같은 요청을 일부러 여러 번 보내려면 줄마다 id 를 준다.
- --require-ids (require_ids=True): id 가 없는 줄을 잘못된 줄로 센다.

결과 기록은 성공이든 실패든 같은 열을 가진다 (집계 코드가 모양 때문에 깨지지 않도록):
    {"id", "line", "status": "ok" | "failed", "http_status", "attempts", "error", "response", "metadata"}

동작:
- 결과 파일 하나에 쓰는 실행은 하나: 실행 내내 운영체제 잠금(fcntl.flock, 파일 "<결과>.lock")을 쥔다.
  같은 파일로 두 번째 실행(다른 명령줄, 같은 커널의 재실행)은 파일 이름을 밝힌 오류로 거절된다.
- 중단할 수 있다: 노트북 셀을 멈추면(KeyboardInterrupt) 작업 스레드도 멈추고 잠금을 놓는다.
  같은 파일로 다시 실행하면 끝난 id 는 건너뛰고 이어서 한다 (강제 종료 뒤에도 중복 없음).
- 동시에 날아가는 요청 수 상한 (--max-concurrency), 분당 요청 수·토큰 수 상한 (tiktoken 추정치).
  어느 10초 구간도 한도의 10초 몫을 넘지 않도록 채우는 속도를 양동이 용량만큼 살짝 낮춘다.
- 429 를 받으면 그 요청만 Retry-After 만큼 기다리고, 전체 속도는 곱으로 줄였다가(429 하나에 x0.9)
  성공할 때마다 조금씩(설정 속도의 2.5%) 되찾는다 (AIMD; 분당 한도가 설정된 경우). 429 하나로 전체가 멈추지 않는다.
- 429·5xx·시간 초과·연결 오류·형식이 틀린 200 응답은 지수 백오프 + 지터로 재시도한다. 그 밖의 4xx 는 재시도하지 않는다.
- 서버가 요구한 대기(Retry-After, retry-after-ms, x-ratelimit-reset-*)는 --max-retry-wait(기본 120초)까지만
  따른다. 그보다 길면 그 요청은 실패 기록을 남기고 나머지는 계속 간다. 처리기 자신의 백오프는 --backoff-max 까지.
- 성공은 형식이 맞는 응답뿐: JSON 객체이고, chat/completions 는 choices 목록, embeddings 는 data 목록이 있어야 한다.
- 요청 하나의 추정 토큰이 분당 토큰 상한보다 크면 보내지 않고 바로 실패 기록을 남긴다 (나머지를 멈추지 않도록).
- 마지막 재시도 뒤에는 실패 기록을 정확히 하나 남긴다 (조용히 사라지지도, 전체 실행이 죽지도 않는다).
- 입력은 줄마다 따로 검사한다 (JSON, UTF-8, messages/input/prompt/max_tokens 의 모양): 잘못된 줄은 줄 번호와
  이유를 요약에 세고 결과 파일에 실패 기록("invalid-line-<줄 번호>")을 남기며, 나머지는 처리한다.
- 이어 하기는 결과 파일의 온전한 기록을 모두 지킨다: 빈 줄·망가진 줄·잘린 마지막 줄이 어디에 있든 그 줄만 빼고
  ("<결과>.damaged" 에 보관) 파일을 원자적으로 다시 쓴다.
- 진행 막대, 마지막 요약, 실패가 있으면 0 이 아닌 종료 코드. API 키는 환경 변수에서만 읽는다.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import email.utils
import hashlib
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

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: 잠금 없이 동작하고 경고만)
    fcntl = None

logger = logging.getLogger("api_request_parallel_processor")

RETRYABLE_STATUS = {408, 409, 429}  # 5xx 는 모두 재시도
DEFAULT_BASE_URL = "https://api.openai.com/v1"
RECORD_KEYS = ("id", "line", "status", "http_status", "attempts", "error", "response", "metadata")
DEFAULT_MAX_RETRY_WAIT = 120.0  # 서버가 요구한 대기의 상한 (초)
WINDOW_S = 10.0  # 이 길이의 어느 구간에서도 한도의 몫을 넘지 않게 한다


# --------------------------------------------------------------------------- 입력


@dataclass
class Request:
    id: Any
    line: int  # 1부터 세는 입력 파일 줄 번호 (결과 순서 복원용)
    body: dict
    metadata: Any = None
    tokens: int = 0
    kind: str = "other"  # chat | completions | embeddings | other (성공 응답의 모양을 정한다)


@dataclass
class Malformed:
    line: int
    reason: str
    id: Any = None  # 줄에서 읽을 수 있었던 id (있으면)


def endpoint_kind(route: str | None) -> str:
    """주소나 엔드포인트 이름에서 요청 종류를 정한다."""
    route = (route or "").split("?")[0].rstrip("/")
    if route.endswith("chat/completions"):
        return "chat"
    if route.endswith("embeddings"):
        return "embeddings"
    if route.endswith("completions"):
        return "completions"
    return "other"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_int(t) for t in value)


def _check_texts(value: Any, name: str, allow_objects: bool) -> None:
    """문자열, 비어 있지 않은 문자열 목록, 토큰 id 목록, 토큰 id 목록의 목록 (API 가 받는 모양)."""
    if isinstance(value, str) or _is_token_list(value):
        return
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value) or all(_is_token_list(v) for v in value):
            return
        if allow_objects and all(isinstance(v, dict) for v in value):
            return
    raise ValueError(f"{name} 는 문자열, 문자열 목록, 토큰 id 목록(의 목록) 중 하나여야 합니다: {_short(value)}")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"messages 는 비어 있지 않은 목록이어야 합니다: {_short(messages)}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"messages[{i}] 가 객체가 아닙니다: {_short(message)}")
        if not isinstance(message.get("role"), str):
            raise ValueError(f"messages[{i}].role 이 없거나 문자열이 아닙니다")
        content = message.get("content")
        if content is not None and not isinstance(content, str) and not (
                isinstance(content, list) and all(isinstance(part, dict) for part in content)):
            raise ValueError(f"messages[{i}].content 는 문자열이나 내용 조각 목록이어야 합니다: {_short(content)}")


_POSITIVE_INTS = ("max_tokens", "max_completion_tokens", "n", "dimensions")
_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def validate_body(body: Any, kind: str = "other") -> None:
    """보내기 전에 요청 본문의 모양을 검사한다. 잘못되면 이유를 담은 ValueError."""
    if not isinstance(body, dict) or not body:
        raise ValueError("요청 본문이 비어 있거나 객체가 아닙니다")
    required = {"chat": "messages", "embeddings": "input", "completions": "prompt"}.get(kind)
    if required and required not in body:
        raise ValueError(f"{kind} 요청에 {required} 가 없습니다")
    if "model" in body and not isinstance(body["model"], str):
        raise ValueError(f"model 은 문자열이어야 합니다: {_short(body['model'])}")
    if "messages" in body:
        _check_messages(body["messages"])
    if "input" in body:
        _check_texts(body["input"], "input", allow_objects=kind != "embeddings")
    if "prompt" in body:
        _check_texts(body["prompt"], "prompt", allow_objects=False)
    for name in _POSITIVE_INTS:
        if name in body and body[name] is not None and not (_is_int(body[name]) and body[name] >= 1):
            raise ValueError(f"{name} 는 1 이상의 정수여야 합니다: {_short(body[name])}")
    for name in _NUMBERS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{name} 는 수여야 합니다: {_short(value)}")
    if body.get("stream"):
        raise ValueError("stream=true 는 지원하지 않습니다 (응답 전체를 한 번에 받아 저장합니다)")


def content_id(body: dict, metadata: Any = None) -> str:
    """id 가 없는 요청의 id: 내용(본문과 metadata)의 해시. 줄 위치와 무관하다."""
    payload = {"body": body} if metadata is None else {"body": body, "metadata": metadata}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _kind_for(route_kind: str, body: dict) -> str:
    if route_kind != "other":
        return route_kind
    if "messages" in body:
        return "chat"
    return "completions" if "prompt" in body else "other"


def parse_request_line(text: str, line_no: int, *, kind: str = "other", require_ids: bool = False) -> Request:
    """한 줄을 Request 로 바꾼다. 잘못된 줄이면 이유를 담은 ValueError (JSON 오류 포함)."""
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError(f"JSON 객체가 아닙니다: {_short(obj)}")
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
    if rid is not None and (not isinstance(rid, (str, int)) or isinstance(rid, bool) or rid == ""):
        raise ValueError(f"id 는 비어 있지 않은 문자열이나 정수여야 합니다: {_short(rid)}")
    request_kind = _kind_for(kind, body)
    validate_body(body, request_kind)
    if rid is None:
        if require_ids:
            raise ValueError("id 가 없습니다 (--require-ids): custom_id, id 또는 metadata.id 를 주세요")
        rid = content_id(body, metadata)
    return Request(id=rid, line=line_no, body=body, metadata=metadata, kind=request_kind)


def _explicit_id(text: str) -> Any:
    try:
        obj = json.loads(text)
        rid = obj.get("custom_id", obj.get("id")) if isinstance(obj, dict) else None
        return rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
    except ValueError:
        return None


def read_requests(path: str | Path, *, endpoint: str | None = None,
                  require_ids: bool = False) -> tuple[list[Request], list[Malformed]]:
    """요청 파일을 줄마다 따로 읽는다: 잘못된 줄(깨진 JSON, UTF-8 이 아닌 바이트, 틀린 모양, 중복 id)은
    Malformed 로 모으고 나머지는 Request 로 돌려준다. 예외를 던지지 않는다 (파일을 못 여는 경우만 OSError)."""
    kind = endpoint_kind(endpoint)
    requests: list[Request] = []
    malformed: list[Malformed] = []
    seen: dict[str, int] = {}
    raw = Path(path).read_bytes()
    for line_no, chunk in enumerate(raw.splitlines(), start=1):
        if line_no == 1 and chunk.startswith(codecs.BOM_UTF8):
            chunk = chunk[len(codecs.BOM_UTF8):]
        if not chunk.strip():
            continue
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            malformed.append(Malformed(line_no, f"UTF-8 이 아닌 바이트 (줄의 {exc.start}번째 바이트 "
                                                f"{chunk[exc.start:exc.start + 1]!r})"))
            continue
        try:
            request = parse_request_line(text, line_no, kind=kind, require_ids=require_ids)
        except json.JSONDecodeError as exc:
            malformed.append(Malformed(line_no, f"JSON 이 아닙니다: {exc.msg} ({exc.colno}번째 글자)"))
            continue
        except (ValueError, TypeError) as exc:
            malformed.append(Malformed(line_no, str(exc), _explicit_id(text)))
            continue
        key = _id_key(request.id)
        if key in seen:
            derived = isinstance(request.id, str) and request.id.startswith("sha256:") and _explicit_id(text) is None
            why = (f"중복 요청: {seen[key]}번째 줄과 내용이 같습니다 (id 가 없어 내용 해시가 같음; 일부러 여러 번 "
                   "보내려면 줄마다 id 를 주세요)" if derived else
                   f"중복 id {request.id!r} ({seen[key]}번째 줄과 같음)")
            malformed.append(Malformed(line_no, why, None if derived else request.id))
            continue
        seen[key] = line_no
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


def _text_tokens(value: Any, encoding_name: str) -> int:
    """문자열, 토큰 id 목록, 그 목록들 (embeddings/completions 의 input·prompt)."""
    if isinstance(value, str):
        return count_tokens(value, encoding_name)
    if _is_token_list(value):
        return len(value)
    if isinstance(value, list):
        return sum(_text_tokens(v, encoding_name) for v in value)
    if isinstance(value, dict):
        return count_tokens(json.dumps(value, ensure_ascii=False), encoding_name)
    return 0


def estimate_tokens(body: dict, encoding_name: str = "cl100k_base") -> int:
    """요청 하나가 쓸 토큰 수 추정 (입력 + 최대 출력). 분당 토큰 상한에 쓴다."""
    n = body.get("n") or 1
    if isinstance(body.get("messages"), list):  # chat/completions
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
        return prompt + int(n) * int(completion)
    if "input" in body:  # embeddings
        return _text_tokens(body["input"], encoding_name)
    if "prompt" in body:  # completions
        return _text_tokens(body["prompt"], encoding_name) + int(n) * int(body.get("max_tokens") or 16)
    return count_tokens(json.dumps(body, ensure_ascii=False), encoding_name)


# --------------------------------------------------------------------------- 속도 제한


class TokenBucket:
    """초당 rate 만큼 차오르는 양동이. 용량(burst)이 작아서 어느 구간을 재도 상한을 크게 넘지 않는다.

    어느 WINDOW_S(10초) 구간에서도 보낸 양 <= 용량 + rate x 10 이므로, rate 를 설정값보다 (용량 + 1)/10 만큼
    낮춰(최대 설정값의 절반까지) '10초 구간의 양 <= 한도의 10초 몫'이 되게 한다.
    비용이 용량보다 크면 양동이가 가득 찼을 때 보내고 빚(음수)을 진다: 장기 평균은 rate 를 넘지 않는다.
    scale (0, 1] 은 429 를 받았을 때 전체 속도를 줄이는 배율이다 (RateLimiter 가 정한다).
    """

    def __init__(self, per_minute: float, burst_seconds: float, clock: Callable[[], float] = time.monotonic):
        configured = per_minute / 60.0
        self.capacity = max(1.0, configured * burst_seconds)
        self.rate = max(configured / 2, configured - (self.capacity + 1.0) / WINDOW_S)
        self.clock = clock
        self.level = self.capacity
        self.stamp = clock()
        self.scale = 1.0

    @property
    def effective_rate(self) -> float:
        return self.rate * self.scale

    def set_scale(self, scale: float) -> None:
        self._refill()  # 지난 시간은 옛 속도로 채운다
        self.scale = scale

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.effective_rate)
        self.stamp = now

    def wait_time(self, cost: float) -> float:
        self._refill()
        need = min(cost, self.capacity)
        missing = need - self.level
        return 0.0 if missing <= 1e-9 * max(1.0, need) else missing / self.effective_rate  # 부동소수 오차는 0

    def take(self, cost: float) -> None:
        self._refill()
        self.level -= cost


class RateLimiter:
    """분당 요청·토큰 상한 + 429 에 따른 전체 속도 조절(AIMD) + 서버가 알려 준 일시 정지(x-ratelimit-*).

    429 하나마다 허용 속도를 decrease 배(곱)로 줄이고 (floor 아래로는 안 감), 성공 하나마다 설정 속도의
    recovery 만큼 더해 되찾는다 (1.0 을 넘지 않음). 가끔 오는 429 는 속도를 거의 줄이지 않고, 한도를 넘어서
    429 가 잦아지면 그 비율만큼 느려진다. 429 를 받은 요청의 Retry-After 는 그 요청만 기다린다.
    """

    def __init__(self, max_requests_per_minute: float | None, max_tokens_per_minute: float | None,
                 burst_seconds: float = 0.25, *, decrease: float = 0.9, recovery: float = 0.025,
                 floor: float = 0.05):
        self.requests = TokenBucket(max_requests_per_minute, burst_seconds) if max_requests_per_minute else None
        self.tokens = TokenBucket(max_tokens_per_minute, burst_seconds) if max_tokens_per_minute else None
        self.decrease, self.recovery, self.floor = decrease, recovery, floor
        self.fraction = 1.0
        self.min_fraction = 1.0
        self.paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO: 먼저 기다린 요청이 먼저 나간다

    def _apply(self) -> None:
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.set_scale(self.fraction)

    def on_rate_limited(self) -> None:
        self.fraction = max(self.floor, self.fraction * self.decrease)
        self.min_fraction = min(self.min_fraction, self.fraction)
        self._apply()

    def on_success(self) -> None:
        if self.fraction < 1.0:
            self.fraction = min(1.0, self.fraction + self.recovery)
            self._apply()

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
                await asyncio.sleep(min(wait, 1.0))  # 속도가 바뀌면 다시 계산하도록 짧게
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
    failed: int = 0  # 이번 실행에서 실패 기록을 남김 (잘못된 줄은 malformed 로 따로 셈)
    skipped: int = 0  # 이전 실행에서 이미 끝나 건너뜀
    malformed: int = 0
    malformed_lines: list = field(default_factory=list)  # [(줄 번호, 이유)]
    retries: int = 0
    rate_limited: int = 0  # 받은 429 수
    min_rate_fraction: float = 1.0  # 429 때문에 줄였던 허용 속도의 최저 배율
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
            f"429 {self.rate_limited}회 (최저 속도 {self.min_rate_fraction:.0%}), 추정 토큰 {self.tokens_estimated}",
        ]
        if self.failures_by_status:
            lines.append(f"실패 원인: {self.failures_by_status}")
        for line_no, reason in self.malformed_lines[:10]:
            lines.append(f"  잘못된 줄 {line_no}: {reason}")
        if len(self.malformed_lines) > 10:
            lines.append(f"  ... 잘못된 줄 {len(self.malformed_lines) - 10}개 더 (결과 파일의 invalid-line-* 기록)")
        return "\n".join(lines)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """지수 백오프 + 지터: [0.5, 1.0) x min(cap, base x 2^(attempt-1))."""
    return min(cap, base * (2 ** (attempt - 1))) * (0.5 + 0.5 * rng.random())


class ResultsFileLocked(RuntimeError):
    """같은 결과 파일을 다른 실행이 쓰고 있다."""


class _ResultsLock:
    """결과 파일 옆 "<결과>.lock" 에 거는 flock. 파일 기술자마다 따로라서 같은 프로세스의 두 번째 실행도 막는다.

    잠금은 프로세스가 죽으면 운영체제가 풀어 준다 (SIGKILL 뒤에도 남지 않음). .lock 파일 자체는 지우지 않는다
    (지우면 기다리던 쪽이 옛 파일을 잠그는 경쟁이 생긴다).
    """

    def __init__(self, save_path: Path):
        self.save_path = save_path
        self.path = Path(f"{save_path}.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:
            logger.warning("이 운영체제에는 fcntl 이 없어 결과 파일을 잠그지 않습니다: 같은 파일로 두 실행을 돌리지 마세요")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "알 수 없음"
            os.close(fd)
            raise ResultsFileLocked(
                f"결과 파일 {self.save_path} 을 다른 실행이 쓰고 있습니다 ({holder}). 그 실행이 끝나거나 멈춘 뒤 "
                f"다시 실행하세요 (노트북이면 앞 셀이 아직 도는지 확인). / Another run is writing results file "
                f"{self.save_path} ({holder}); wait for it to finish or stop it, then rerun. Lock: {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, thread {threading.current_thread().name}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _parse_record(chunk: bytes) -> dict | None:
    try:
        record = json.loads(chunk)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None
    if not isinstance(record, dict) or record.get("status") not in ("ok", "failed"):
        return None
    rid = record.get("id")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        return None
    return record


def load_finished(save_path: str | Path) -> dict[str, dict]:
    """결과 파일에서 끝난 기록을 읽는다 (잠금을 쥔 채로 부른다).

    온전한 기록은 어디에 있든 모두 지킨다. 빈 줄, 망가진 줄, 강제 종료로 잘린 마지막 줄, 같은 id 의 두 번째
    기록(성공이 있으면 성공을 남김)은 "<결과>.damaged" 로 옮기고 파일을 원자적으로 다시 쓴다.
    """
    path = Path(save_path)
    finished: dict[str, dict] = {}
    if not path.exists():
        return finished
    raw = path.read_bytes()
    chunks = raw.split(b"\n")
    tail = chunks.pop()  # 줄바꿈으로 끝나면 b"", 아니면 쓰다 만 마지막 줄
    lines: dict[str, bytes] = {}
    set_aside: list[bytes] = [tail] if tail.strip() else []
    dirty = bool(tail)
    for chunk in chunks:
        record = _parse_record(chunk)
        if record is None:
            dirty = True
            if chunk.strip():
                set_aside.append(chunk)
            continue
        key = _id_key(record["id"])
        if key in finished:
            dirty = True
            if finished[key]["status"] == "ok" and record["status"] != "ok":
                set_aside.append(chunk)
                continue
            set_aside.append(lines[key])
        finished[key], lines[key] = record, chunk.rstrip(b"\r")
    if dirty:
        if set_aside:
            with open(f"{path}.damaged", "ab") as fh:
                fh.write(b"".join(c + b"\n" for c in set_aside))
        _atomic_write(path, b"".join(c + b"\n" for c in lines.values()))
        logger.warning("%s: 온전한 기록 %d개를 지키고, 빈 줄·망가진 줄·중복 %d개를 빼서 %s.damaged 에 옮겼습니다",
                       path, len(lines), len(set_aside), path)
    return finished


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _drop_failed(save_path: Path, finished: dict[str, dict]) -> None:
    """retry_failed: 실패 기록을 파일에서 빼서(원자적으로 다시 씀) 그 id 들을 다시 처리한다."""
    keep = [r for r in finished.values() if r["status"] == "ok"]
    _atomic_write(save_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep).encode("utf-8"))
    for key in [k for k, r in finished.items() if r["status"] == "failed"]:
        del finished[key]


class _ResultWriter:
    """기록 하나를 한 번의 write 로 줄 단위로 쓰고 바로 flush (강제 종료돼도 온전한 줄만 남도록)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        if self.fh is None:
            raise RuntimeError("결과 파일이 이미 닫혔습니다 (실행이 끝났거나 중단됨)")
        self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def reply_problem(reply: Reply, kind: str) -> str | None:
    """2xx 응답이 성공으로 칠 만한 모양인지. 아니면 이유 (재시도 대상)."""
    data = reply.data
    if not isinstance(data, dict):
        return f"HTTP {reply.status} 인데 본문이 JSON 객체가 아닙니다 (malformed reply): {str(data)[:120]!r}"
    if kind in ("chat", "completions") and not (isinstance(data.get("choices"), list) and data["choices"]):
        return f"HTTP {reply.status} 인데 응답에 choices 목록이 없습니다 (malformed reply): {_short(data)[:120]}"
    if kind == "embeddings" and not isinstance(data.get("data"), list):
        return f"HTTP {reply.status} 인데 응답에 data 목록이 없습니다 (malformed reply): {_short(data)[:120]}"
    return None


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
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
    burst_seconds: float = 0.25,
    token_encoding: str = "cl100k_base",
    retry_failed: bool = False,
    require_ids: bool = False,
    progress: bool = True,
    transport=None,
    seed: int | None = None,
) -> Summary:
    """requests_path 의 요청을 보내고 save_path 에 id 마다 기록 하나를 남긴다. Summary 를 돌려준다.

    결과 파일이 다른 실행에 잠겨 있으면 ResultsFileLocked (RuntimeError). 잘못된 입력 줄은 예외가 아니라
    Summary.malformed_lines 와 실패 기록으로 남는다.
    """
    start = time.monotonic()
    save_path = Path(save_path)
    route = request_url or getattr(transport, "endpoint", None) or endpoint
    requests, malformed = read_requests(requests_path, endpoint=route, require_ids=require_ids)

    if transport is None:
        url = request_url or f"{os.environ.get('OPENAI_BASE_URL', DEFAULT_BASE_URL).rstrip('/')}/{endpoint.strip('/')}"
        api_key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not api_key:
            raise RuntimeError(f"환경 변수 {api_key_env} 가 비어 있습니다 (키는 환경 변수로만 받습니다)")
        transport = AiohttpTransport(url, api_key, timeout, max_concurrency)

    lock = _ResultsLock(save_path)
    lock.acquire()
    writer = None
    bar = None
    tasks: list[asyncio.Task] = []
    try:
        finished = load_finished(save_path)
        if retry_failed and any(r["status"] == "failed" for r in finished.values()):
            _drop_failed(save_path, finished)
        todo = []
        for request in requests:
            if _id_key(request.id) in finished:
                continue
            try:
                request.tokens = estimate_tokens(request.body, token_encoding)
            except Exception as exc:  # noqa: BLE001  (검사를 빠져나간 모양: 이 줄만 잘못된 줄로)
                malformed.append(Malformed(request.line, f"토큰을 셀 수 없습니다: {type(exc).__name__}: {exc}",
                                           request.id))
                continue
            todo.append(request)
        malformed.sort(key=lambda m: m.line)
        for bad in malformed:
            logger.warning("잘못된 줄 %d: %s", bad.line, bad.reason)
        bad_lines = {m.line for m in malformed}
        requests = [r for r in requests if r.line not in bad_lines]
        summary = Summary(total=len(requests), malformed=len(malformed),
                          malformed_lines=[(m.line, m.reason) for m in malformed])
        summary.skipped = len(requests) - len(todo)
        summary.tokens_estimated = sum(r.tokens for r in todo)

        limiter = RateLimiter(max_requests_per_minute, max_tokens_per_minute, burst_seconds)
        in_flight = asyncio.Semaphore(max_concurrency)
        backlog = asyncio.Semaphore(max(4 * max_concurrency, 64))  # 만들어 둘 작업 수 상한 (메모리)
        rng = random.Random(seed)
        writer = _ResultWriter(save_path)
        failures: Counter = Counter()
        bar = _progress_bar(len(requests), summary.skipped, progress)

        for bad in malformed:  # 잘못된 줄마다 실패 기록 하나 (이미 있으면 다시 쓰지 않음)
            rid = f"invalid-line-{bad.line}"
            if _id_key(rid) not in finished:
                writer.write({"id": rid, "line": bad.line, "status": "failed", "http_status": None, "attempts": 0,
                              "error": f"잘못된 입력 줄 {bad.line}: {bad.reason}", "response": None,
                              "metadata": {"invalid_line": bad.line, "request_id": bad.id}})

        stopping = asyncio.Event()

        def record(request: Request, status: str, http_status, attempts: int, error, response,
                   cause: str | None = None) -> None:
            if stopping.is_set() and status != "ok":
                return
            writer.write({"id": request.id, "line": request.line, "status": status, "http_status": http_status,
                          "attempts": attempts, "error": error, "response": response, "metadata": request.metadata})
            if status == "ok":
                summary.succeeded += 1
            else:
                summary.failed += 1
                failures[cause or (str(http_status) if http_status else "network")] += 1
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
                        reply, error = await transport.send(request.body), None
                    except TransportError as exc:
                        reply, error = None, str(exc)
                status = reply.status if reply is not None else None
                quota_wait = rate_limit_pause(reply.headers) if reply is not None else 0.0
                if 0 < quota_wait <= max_retry_wait:  # 남은 한도 0: 모두 reset 까지 (상한 안에서만)
                    limiter.pause(quota_wait)
                cause = None
                if reply is not None and 200 <= status < 300:
                    error = reply_problem(reply, request.kind)
                    if error is None:
                        limiter.on_success()
                        record(request, "ok", status, attempt, None, reply.data)
                        return
                    retryable, cause = True, "malformed_reply"
                elif reply is not None:
                    error = _error_text(reply)
                    retryable = status >= 500 or status in RETRYABLE_STATUS
                else:
                    retryable = True
                server_wait = None
                if reply is not None and not 200 <= status < 300:
                    server_wait = retry_after_seconds(reply.headers)
                    if status == 429:
                        summary.rate_limited += 1
                        limiter.on_rate_limited()  # 전체를 조금 늦추고, 이 요청만 Retry-After 를 기다린다
                        if quota_wait > 0:
                            server_wait = max(server_wait or 0.0, quota_wait)
                response = reply.data if reply is not None else None
                if isinstance(response, str):
                    response = response[:2000]
                if retryable and server_wait is not None and server_wait > max_retry_wait:
                    error = (f"{error} | 서버가 {server_wait:.0f}초 기다리라고 했지만 상한 --max-retry-wait "
                             f"{max_retry_wait:g}초를 넘어 이 요청은 실패로 남깁니다 / server asked to wait "
                             f"{server_wait:.0f}s > max_retry_wait {max_retry_wait:g}s")
                    record(request, "failed", status, attempt, error, response, cause)
                    return
                if not retryable or attempt >= max_attempts:
                    record(request, "failed", status, attempt, error, response, cause)
                    return
                delay = backoff_delay(attempt, backoff_base, backoff_max, rng)
                if server_wait is not None:
                    delay = max(delay, server_wait)
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

        async with transport:
            try:
                for request in todo:
                    if max_tokens_per_minute and request.tokens > max_tokens_per_minute:
                        record(request, "failed", None, 0,
                               f"요청 하나의 추정 토큰 {request.tokens} 이 분당 토큰 상한 {max_tokens_per_minute:g} "
                               "보다 커서 보내지 않았습니다 (보내면 나머지가 몇 분씩 멈춥니다). 요청을 나누거나 "
                               "--max-tokens-per-minute 를 올리세요 / request needs ~"
                               f"{request.tokens} tokens > max_tokens_per_minute {max_tokens_per_minute:g}",
                               None, "oversized")
                        continue
                    await backlog.acquire()
                    tasks.append(asyncio.create_task(guarded(request)))
                await asyncio.gather(*tasks)
            finally:
                # 정상 종료든 중단(취소)이든: 전송을 닫기 전에 남은 작업을 모두 멈추고 끝날 때까지 기다린다.
                # 멈추는 중에 생긴 오류는 요청의 실패가 아니므로 기록하지 않는다 (다시 실행하면 이어서 보낸다).
                stopping.set()
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
    finally:  # 작업이 모두 멈춘 뒤에 파일을 닫고 잠금을 놓는다
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
        lock.release()

    summary.failures_by_status = dict(failures)
    summary.min_rate_fraction = limiter.min_fraction
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
    """동기 버전 (인자는 process_requests_async 와 같음).

    주피터처럼 이벤트 루프가 이미 돌고 있으면 별도 스레드의 이벤트 루프에서 실행한다. 셀을 중단하면
    (KeyboardInterrupt) 그 스레드의 실행을 취소하고 끝날 때까지 기다린 뒤 KeyboardInterrupt 를 다시 던진다:
    중단 뒤에 보내거나 쓰는 스레드가 남지 않고, 잠금이 풀려 같은 셀을 다시 돌리면 이어서 한다.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(process_requests_async(requests_path, save_path, **kwargs))
    return _run_in_worker_thread(lambda: process_requests_async(requests_path, save_path, **kwargs))


def _run_in_worker_thread(make_coro):
    loop = asyncio.new_event_loop()
    box: dict = {}
    ready = threading.Event()

    def runner():
        asyncio.set_event_loop(loop)
        try:
            box["task"] = loop.create_task(make_coro())
            ready.set()
            box["value"] = loop.run_until_complete(box["task"])
        except BaseException as exc:  # noqa: BLE001  (주 스레드로 넘긴다)
            box["error"] = exc
        finally:
            ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    thread = threading.Thread(target=runner, name="api-request-processor", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)  # 짧게 나눠 기다려야 주 스레드가 KeyboardInterrupt 를 바로 받는다
    except BaseException:
        ready.wait()
        task = box.get("task")
        if task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # 이미 끝나 루프가 닫힘
                pass
        interrupts = 0
        while thread.is_alive():
            try:
                thread.join(0.1)
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts >= 2:  # 세 번째 중단: 기다리지 않는다 (잠금이 남아 있으면 재실행이 알려 준다)
                    logger.warning("처리기 스레드가 아직 멈추는 중입니다; 잠금은 그 스레드가 끝날 때 풀립니다")
                    break
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def read_results(save_path: str | Path) -> dict[str, dict]:
    """결과 파일을 {id 키: 기록} 으로 (파일은 건드리지 않음). 키는 json.dumps(id): 정수 1 과 문자열 "1" 구별.

    망가진 줄은 건너뛰고, 같은 id 가 두 번 있으면 성공 기록을 고른다.
    """
    finished: dict[str, dict] = {}
    path = Path(save_path)
    if not path.exists():
        return finished
    for chunk in path.read_bytes().split(b"\n"):
        record = _parse_record(chunk)
        if record is None:
            continue
        key = _id_key(record["id"])
        if key not in finished or finished[key]["status"] != "ok":
            finished[key] = record
    return finished


def results_in_order(requests_path: str | Path, save_path: str | Path, *,
                     endpoint: str | None = None) -> list[dict | None]:
    """요청 파일 순서대로 기록을 돌려준다 (아직 없는 id 는 None, 잘못된 줄은 빠진다)."""
    requests, _ = read_requests(requests_path, endpoint=endpoint)
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
                        help="0 이면 제한 없음 (토큰 수는 tiktoken 으로 추정: 입력 + max_tokens). "
                             "이보다 큰 요청 하나는 보내지 않고 실패로 기록")
    parser.add_argument("--max-concurrency", type=int, default=32)
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="요청 하나의 시간 제한 (초)")
    parser.add_argument("--backoff-base", type=float, default=1.0)
    parser.add_argument("--backoff-max", type=float, default=60.0, help="처리기 자신의 지수 백오프 상한 (초)")
    parser.add_argument("--max-retry-wait", type=float, default=DEFAULT_MAX_RETRY_WAIT,
                        help="서버가 요구한 대기(Retry-After, retry-after-ms, x-ratelimit-reset-*)의 상한 (초). "
                             "더 길면 그 요청은 실패 기록을 남기고 나머지는 계속")
    parser.add_argument("--token-encoding", default="cl100k_base")
    parser.add_argument("--retry-failed", action="store_true", help="실패 기록을 지우고 그 id 를 다시 보냄")
    parser.add_argument("--require-ids", action="store_true",
                        help="id 가 없는 줄을 잘못된 줄로 셈 (없으면 id 는 내용의 sha256 해시)")
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
            backoff_max=args.backoff_max, max_retry_wait=args.max_retry_wait, token_encoding=args.token_encoding,
            retry_failed=args.retry_failed, require_ids=args.require_ids, progress=not args.no_progress,
            seed=args.seed)
    except (RuntimeError, OSError) as exc:
        print(f"오류: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("중단했습니다. 같은 명령으로 다시 실행하면 끝난 id 는 건너뛰고 이어서 합니다.", file=sys.stderr)
        return 130
    print(summary.describe(), file=sys.stderr)
    print(json.dumps({k: v for k, v in asdict(summary).items() if k != "malformed_lines"}, ensure_ascii=False))
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
