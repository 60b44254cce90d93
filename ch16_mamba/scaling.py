"""시퀀스 길이에 따른 시간·최대 메모리 측정 도구 (16장 측정 셀과 tools/bench_scan.py 에서 사용).

- ``time_call``: 워밍업 후 repeat 번 실행한 시간의 **최솟값**(초). CPU 는 ``time.process_time`` (프로세스 CPU 시간)을
  torch 스레드 ``threads`` 개(기본 1)로 잰다: 다른 작업이 함께 도는 기계에서도 덜 흔들리고, 코어 수와 무관한
  "일의 양"을 본다. GPU 는 동기화한 벽시계 시간.
- ``peak_memory_bytes``: 함수 한 번을 실행하는 동안 "추가로" 잡힌 텐서 메모리의 최댓값(결과 포함).
  CUDA 는 ``torch.cuda.max_memory_allocated``, CPU 는 7장의 ``memory_meter`` 와 같은 측정기
  (``TorchDispatchMode`` 로 살아 있는 텐서 저장소 바이트를 센다; CUDA 의 ``memory_allocated`` 와 같은 양).
  torch 프로파일러의 메모리 기록은 쓰지 않는다 (할당기 기준보다 적게 읽히고, 실행마다 경고를 찍는다).
- ``fit_exponent``: log-log 직선 y = c * x^k 의 기울기 k (최소제곱).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

MEMORY_METER_PATH = Path(__file__).resolve().parents[1] / "ch07_quantization" / "memory_meter.py"


def _memory_meter():
    """7장의 memory_meter.py 를 파일 경로로 읽는다 (장 폴더를 오가도 같은 측정기 하나만 쓰도록)."""
    name = "ch07_memory_meter"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MEMORY_METER_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclass 가 자기 모듈을 찾을 수 있게
        spec.loader.exec_module(module)
    return sys.modules[name]


def _sync(device: str | torch.device | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], repeat: int = 3, warmup: int = 1, device=None, threads: int = 1) -> float:
    """fn() 의 실행 시간 최솟값(초). CPU: torch 스레드 threads 개의 process_time, GPU: 동기화한 벽시계."""
    cuda = device is not None and torch.device(device).type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    saved = torch.get_num_threads()
    if not cuda:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            for _ in range(warmup):
                fn()
            _sync(device)
            best = float("inf")
            for _ in range(repeat):
                start = clock()
                fn()
                _sync(device)
                best = min(best, clock() - start)
    finally:
        torch.set_num_threads(saved)
    return best


def peak_memory_bytes(fn: Callable[[], object], device=None) -> int:
    """fn() 을 한 번 실행하는 동안의 최대 추가 텐서 메모리(바이트). 결과 텐서도 포함된다."""
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
        return int(_memory_meter().measure_peak(fn, device="cpu").peak_extra_bytes)


def fit_exponent(xs, ys) -> float:
    """log y = k log x + c 의 최소제곱 기울기 k."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) < 2 or np.any(xs <= 0) or np.any(ys <= 0):
        raise ValueError("양수인 점이 두 개 이상 필요합니다")
    slope, _ = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(slope)
