"""OpenAI 호환 서버 프로세스: 띄우고, 준비(실제 1 토큰 채팅 응답)를 기다리고, 프로세스 그룹째 멈춥니다.

과정 패키지의 로컬 LLM(course.llm)이 씁니다. 스모크 월드에서도 같은 코드가 대역 채팅 모델로 서버를 띄웁니다.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(path: str | Path, lines: int = 40) -> str:
    path = Path(path)
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _die_with_parent() -> None:
    """Linux: 부모(커널·테스트 프로세스)가 죽으면 서버도 SIGTERM 을 받는다 (고아 프로세스 없음)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def transformers_serve_command(port: int, model: str | None = None, device: str = "cpu",
                               host: str = "127.0.0.1") -> list[str]:
    """`transformers serve` 명령. model을 주면 미리 로드하고 그 이름에 고정합니다 (다른 이름의 요청에는 400)."""
    cli = Path(sys.executable).with_name("transformers")
    return [str(cli) if cli.exists() else "transformers", "serve", "--host", host, "--port", str(port),
            "--device", device, "--log-level", "warning", "--default-seed", "0"] + ([model] if model else [])


def chat_ready(base_url: str, model: str, timeout: float = 30.0) -> bool:
    """준비 = 모델 이름으로 보낸 1토큰 채팅 요청이 200 (소켓이 열린 것만으로는 모델이 아직 로드 중일 수 있음)."""
    body = json.dumps({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]})
    request = urllib.request.Request(f"{base_url}/chat/completions", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError, ValueError):
        return False


def start(command: list[str], base_url: str, model: str, log_path: str | Path,
          timeout: float = 300.0, env: dict | None = None) -> subprocess.Popen:
    """서버를 띄우고 준비될 때까지 기다립니다. 실패하면 멈추고 로그 끝부분과 함께 RuntimeError."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env or dict(os.environ),
                                start_new_session=True, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"서버가 준비 전에 종료됨 (exit {proc.returncode}):\n{tail(log_path)}")
        if chat_ready(base_url, model):
            return proc
        time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"서버가 {timeout:.0f}초 안에 준비되지 않음:\n{tail(log_path)}")


def stop(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM -> 기다림 -> SIGKILL, 프로세스 그룹 전체. 여러 번 불러도 안전합니다."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
