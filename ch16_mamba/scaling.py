"""시퀀스 길이에 따른 시간·최대 메모리 측정 도구 (16장 측정 셀에서 사용).

- ``time_call``: 워밍업 후 여러 번 실행해 중앙값(초)을 돌려준다. GPU 면 동기화한다.
- ``peak_memory_bytes``: 함수 한 번을 실행하는 동안 "추가로" 잡힌 메모리의 최댓값(현재값이 아님).
  CUDA 는 ``torch.cuda.max_memory_allocated``, CPU 는 torch 프로파일러의 할당/해제 기록을
  시간 순으로 누적해 최댓값을 구한다.
- ``fit_exponent``: log-log 직선 y = c * x^k 의 기울기 k (최소제곱).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np
import torch


def _sync(device: str | torch.device | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], repeat: int = 3, warmup: int = 1, device=None) -> float:
    """fn() 의 실행 시간 중앙값(초)."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        _sync(device)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_bytes(fn: Callable[[], object], device=None) -> int:
    """fn() 을 한 번 실행하는 동안의 최대 추가 메모리(바이트). 결과 텐서도 포함된다."""
    device = torch.device(device or "cpu")
    with torch.no_grad():
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            result = fn()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
            del result
            return int(peak)
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            result = fn()
            del result
    # 연산 이벤트의 self 메모리(할당, +) 와 [memory] 이벤트(해제, -) 를 시간 순으로 누적한다.
    changes = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()
                     if e.self_cpu_memory_usage)
    current = peak = 0
    for _, nbytes in changes:
        current += nbytes
        peak = max(peak, current)
    return int(peak)


def fit_exponent(xs, ys) -> float:
    """log y = k log x + c 의 최소제곱 기울기 k."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) < 2 or np.any(xs <= 0) or np.any(ys <= 0):
        raise ValueError("양수인 점이 두 개 이상 필요합니다")
    slope, _ = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(slope)
