"""8.4 OpenAI 호환 서버의 동시성 벤치마크: 스트리밍으로 TTFT, 지연, 토큰/초, p50/p95 를 잰다.

- 같은 모델, 같은 프롬프트, 같은 디코딩(기본 temperature=0, 같은 max_tokens)으로 동시 요청 수만 바꾼다.
- 요청마다 id 를 붙이고 실패도 한 행으로 남긴다 (잃어버리는 요청이 없다: 결과 행 수 == 요청 수).
- 토큰 수는 서버가 돌려준 usage.completion_tokens (stream_options.include_usage) 를 쓰고, 없으면 내용이 있는
  청크 수로 센다 (청크 하나에 토큰이 여러 개 들 수 있어 하한이다).
- 주피터처럼 이미 이벤트 루프가 도는 곳에서도 부를 수 있도록 ``run_benchmark`` 는 별도 스레드에서 asyncio 를 돌린다.
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """선형 보간 백분위수 (numpy.percentile 의 기본과 같다). 값이 없으면 nan."""
    xs = sorted(v for v in values if v is not None and not math.isnan(v))
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


async def stream_one(client, model: str, messages: list[dict], max_tokens: int, temperature: float = 0.0,
                     extra_body: dict | None = None) -> dict:
    """스트리밍 요청 하나: 첫 내용 청크까지의 시간(TTFT), 전체 지연, 토큰 수, 본문."""
    began = time.perf_counter()
    ttft, pieces, chunks, usage = None, [], 0, None
    try:
        stream = await client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, temperature=temperature, stream=True,
            stream_options={"include_usage": True}, extra_body=extra_body)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                if ttft is None:
                    ttft = time.perf_counter() - began
                pieces.append(chunk.choices[0].delta.content)
                chunks += 1
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage.completion_tokens
    except Exception as exc:  # noqa: BLE001 - 실패도 결과 한 행으로 남긴다
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "ttft_s": float("nan"),
                "latency_s": time.perf_counter() - began, "tokens": 0, "text": ""}
    latency = time.perf_counter() - began
    return {"ok": True, "error": "", "ttft_s": latency if ttft is None else ttft, "latency_s": latency,
            "tokens": usage if usage is not None else chunks, "text": "".join(pieces)}


async def run_level(client, model: str, prompts: Sequence[str], concurrency: int, max_tokens: int,
                    temperature: float = 0.0, extra_body: dict | None = None) -> tuple[list[dict], float]:
    """prompts 전부를 동시에 최대 concurrency 개씩 보낸다. 결과는 요청 id 순서."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int, prompt: str) -> dict:
        async with gate:
            row = await stream_one(client, model, [{"role": "user", "content": prompt}], max_tokens,
                                   temperature, extra_body)
        return {"request_id": i, "concurrency": concurrency, **row}

    began = time.perf_counter()
    rows = await asyncio.gather(*(guarded(i, p) for i, p in enumerate(prompts)))
    return sorted(rows, key=lambda r: r["request_id"]), time.perf_counter() - began


def summarize(rows: list[dict], wall_seconds: float) -> dict:
    ok = [r for r in rows if r["ok"]]
    tokens = sum(r["tokens"] for r in ok)
    return {
        "concurrency": rows[0]["concurrency"] if rows else 0,
        "requests": len(rows),
        "errors": len(rows) - len(ok),
        "ttft_p50_s": percentile([r["ttft_s"] for r in ok], 50),
        "ttft_p95_s": percentile([r["ttft_s"] for r in ok], 95),
        "latency_p50_s": percentile([r["latency_s"] for r in ok], 50),
        "latency_p95_s": percentile([r["latency_s"] for r in ok], 95),
        "tokens": tokens,
        "tokens_per_s": tokens / wall_seconds if wall_seconds > 0 else float("nan"),
        "wall_s": wall_seconds,
    }


def run_benchmark(base_url: str, model: str, prompts_for: dict[int, Sequence[str]], max_tokens: int,
                  api_key: str = "EMPTY", temperature: float = 0.0, extra_body: dict | None = None,
                  timeout: float = 120.0) -> tuple[list[dict], list[dict]]:
    """동시성 수준마다 run_level 을 차례로 돌린다. (요약 행들, 요청별 행들) 을 돌려준다.

    prompts_for: {동시 요청 수: 그 수준에서 보낼 프롬프트 목록}.
    """
    from openai import AsyncOpenAI

    async def main():
        client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
        summaries, all_rows = [], []
        try:
            for level, prompts in prompts_for.items():
                rows, wall = await run_level(client, model, prompts, level, max_tokens, temperature, extra_body)
                summaries.append(summarize(rows, wall))
                all_rows += rows
        finally:
            await client.close()
        return summaries, all_rows

    with ThreadPoolExecutor(max_workers=1) as pool:  # 주피터의 이벤트 루프와 분리
        return pool.submit(asyncio.run, main()).result()
