"""Colab 설치: requirements.txt 의 고정 버전을 설치하되 Colab 의 torch 는 다시 설치하지 않는다.

    python tools/colab_setup.py                 # CPU 세트 (torch 제외)
    python tools/colab_setup.py --gpu mamba-ssm # requirements-gpu.txt 에서 이름으로 골라 추가 설치
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEEP_FROM_COLAB = {"torch", "torchvision", "torchaudio"}  # Colab 의 CUDA 빌드를 그대로 쓴다
NO_BUILD_ISOLATION = {"mamba-ssm", "causal-conv1d", "flash-attn"}  # 설치된 torch 에 맞춰 빌드해야 하는 것


def requirement_name(line: str) -> str:
    return re.split(r"[\[=<>~! ]", line.strip(), maxsplit=1)[0].lower()


def pinned_lines(path: Path) -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln]


def colab_lines() -> list[str]:
    return [ln for ln in pinned_lines(ROOT / "requirements.txt") if requirement_name(ln) not in KEEP_FROM_COLAB]


def gpu_lines(names: list[str]) -> list[str]:
    wanted = {n.lower() for n in names}
    lines = [ln for ln in pinned_lines(ROOT / "requirements-gpu.txt") if requirement_name(ln) in wanted]
    missing = wanted - {requirement_name(ln) for ln in lines}
    if missing:
        raise SystemExit(f"requirements-gpu.txt 에 없는 패키지: {sorted(missing)}")
    return lines


def pip_install(lines: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
    extra = ["--no-build-isolation"] if any(requirement_name(ln) in NO_BUILD_ISOLATION for ln in lines) else []
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *extra, "-r", fh.name], check=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpu", nargs="*", default=None, help="requirements-gpu.txt 에서 설치할 패키지 이름")
    args = parser.parse_args(argv)
    pip_install(gpu_lines(args.gpu) if args.gpu else colab_lines())


if __name__ == "__main__":
    main()
