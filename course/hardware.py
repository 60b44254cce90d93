"""하드웨어 이름, 시드, 빠른 모드 기본값, GPU에 맞는 반정밀도 dtype."""

from __future__ import annotations

import os
import platform
import random


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_label() -> str:
    """표·그림 옆에 찍을 하드웨어 이름. 예: "GPU Tesla T4 (cc 7.5)", "CPU AMD EPYC (2 코어, torch 1 스레드)"."""
    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        return f"GPU {torch.cuda.get_device_name()} (cc {major}.{minor})"
    return f"CPU {_cpu_name()} ({os.cpu_count()} 코어, torch {torch.get_num_threads()} 스레드)"


def seed_everything(seed: int) -> None:
    """random, numpy, torch(+CUDA)의 시드를 한 번에 고정합니다."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # CUDA 시드도 함께 정해진다


def fp16_or_bf16():
    """GPU에 맞는 반정밀도: compute capability 8 미만(T4 = 7.5)은 bf16이 하드웨어에 없어 fp16.

    CPU에서는 torch.float32 (CPU의 반정밀도 연산은 느리거나 지원이 고르지 않다).
    """
    import torch

    if not torch.cuda.is_available():
        return torch.float32
    major, _ = torch.cuda.get_device_capability()
    return torch.bfloat16 if major >= 8 else torch.float16


def chapter_times() -> dict:
    """course/times.toml: minutes per chapter (quick/full x CPU/T4), the one source for notebooks, README and stamp."""
    from pathlib import Path

    import tomllib

    return tomllib.loads(Path(__file__).with_name("times.toml").read_text(encoding="utf-8"))


def quick_mode(full_cpu_minutes: float | str | None = None, limit_minutes: float = 30) -> bool:
    """빠른 모드인가. `COURSE_QUICK=1`/`0`이 있으면 그대로, 없으면 GPU가 없고 전체 모드가 CPU에서
    `limit_minutes`분을 넘는 장은 빠른 모드를 기본으로 고르고 그렇다고 알립니다."""
    value = os.environ.get("COURSE_QUICK", "").strip()
    if value in ("0", "1"):
        return value == "1"
    from course.guard import cuda_available

    if isinstance(full_cpu_minutes, str):  # a chapter folder: its full-mode CPU minutes from course/times.toml
        full_cpu_minutes = chapter_times().get(full_cpu_minutes, {}).get("full_cpu")
    if full_cpu_minutes is not None and full_cpu_minutes > limit_minutes and not cuda_available():
        print(f"GPU가 없어 빠른 모드로 실행합니다 (전체 모드는 CPU에서 약 {full_cpu_minutes:.0f}분 걸립니다). "
              "전체 모드로 돌리려면 이 셀 위에서 os.environ['COURSE_QUICK'] = '0' 을 실행하세요.")
        return True
    return False
