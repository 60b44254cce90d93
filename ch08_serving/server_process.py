"""8.4 OpenAI 호환 서버를 프로세스로 띄우고, 준비될 때까지 기다리고, 깨끗하게 멈추는 도구.

- 같은 함수로 CPU 의 ``transformers serve`` 와 GPU 의 다른 서빙 엔진 CLI 를 다룬다 (명령만 다르다).
- 준비(readiness) = 프로세스가 살아 있고, ``/health`` 가 200 이고, 모델 이름으로 1 토큰 채팅 요청이 성공한다.
  소켓이 열린 것만으로는 모델이 아직 로드 중일 수 있다.
- 멈춤 = 프로세스 그룹에 SIGTERM, 유예 시간 뒤 SIGKILL, 그리고 포트가 다시 비었는지 확인.
- 설정을 바꾸려면 서버를 멈추고 새 인자로 다시 띄운다 (실행 중인 엔진 내부를 고치지 않는다).
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
from dataclasses import dataclass, field
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """운영체제가 골라 준 빈 포트 번호."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """아무도 듣고 있지 않으면 True (연결이 거절되면 비어 있는 것)."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) != 0


def tail(path: str | Path, lines: int = 30) -> str:
    path = Path(path)
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def transformers_serve_command(port: int, host: str = "127.0.0.1", model: str | None = None,
                               device: str = "cpu", extra: list[str] | None = None) -> list[str]:
    """`transformers serve` 명령 (가상환경의 실행 파일을 쓴다). model 을 주면 그 모델을 미리 로드한다."""
    cli = Path(sys.executable).with_name("transformers")
    cmd = [str(cli) if cli.exists() else "transformers", "serve", "--host", host, "--port", str(port),
           "--device", device]
    return cmd + (extra or []) + ([model] if model else [])


def llama_cpp_server_command(port: int, model_path: str | Path, alias: str, host: str = "127.0.0.1",
                             n_ctx: int = 2048, extra: list[str] | None = None) -> list[str]:
    """llama-cpp-python 의 OpenAI 호환 서버 명령. alias 는 요청의 `model` 로 쓸 이름 (준비 확인도 이 이름으로)."""
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx)] + (extra or [])


def _get(url: str, timeout: float) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


def chat_once(base_url: str, model: str, api_key: str = "EMPTY", timeout: float = 60.0) -> bool:
    """모델 이름으로 1 토큰 채팅 요청을 보내 200 이 오면 True."""
    body = json.dumps({"model": model, "max_tokens": 1, "temperature": 0,
                       "messages": [{"role": "user", "content": "ping"}]}).encode()
    request = urllib.request.Request(f"{base_url}/chat/completions", data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status == 200


@dataclass
class ServerProcess:
    command: list[str]
    port: int
    model: str
    host: str = "127.0.0.1"
    log_path: Path | None = None
    env: dict | None = None
    health_path: str = "/health"  # 살아 있음을 알리는 GET 경로 (llama-cpp-python 서버는 "/v1/models")
    proc: subprocess.Popen | None = field(default=None, repr=False)
    startup_seconds: float = float("nan")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 300.0, poll: float = 0.5) -> "ServerProcess":
        if self.running:
            return self
        if not port_is_free(self.port, self.host):
            raise RuntimeError(f"port {self.port} is already in use")
        self.log_path = Path(self.log_path or Path(os.getcwd()) / f"server_{self.port}.log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")
        began = time.perf_counter()
        try:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env if self.env is not None else dict(os.environ),
                                         start_new_session=True)  # 자식까지 한 번에 멈추려고 새 프로세스 그룹
        finally:
            log.close()  # 자식이 자기 사본을 들고 있다
        try:
            self.wait_ready(timeout, poll)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began
        return self

    def ready(self) -> bool:
        root = self.base_url.removesuffix("/v1")
        try:
            return _get(f"{root}{self.health_path}", timeout=5) == 200 and chat_once(self.base_url, self.model)
        except (OSError, urllib.error.HTTPError, ValueError):
            return False

    def wait_ready(self, timeout: float = 300.0, poll: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(f"server exited with {code} before it was ready:\n{tail(self.log_path)}")
            if self.ready():
                return
            time.sleep(poll)
        raise TimeoutError(f"server not ready after {timeout:.0f}s:\n{tail(self.log_path)}")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM -> 기다림 -> SIGKILL. 여러 번 불러도 안전하다."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while not port_is_free(self.port, self.host) and time.monotonic() < deadline:
            time.sleep(0.2)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
