"""The smoke world's OpenAI-compatible server: `transformers serve` on loopback with the chat stand-in."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.world.standins import OPENAI_CHAT_MODELS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies without stopping it (no orphans)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def start(port: int, log_path: Path, timeout: float = 180.0) -> subprocess.Popen:
    """Start the server and wait until it answers a chat request.

    The OpenAI model names are installed in the hub cache as copies of the chat stand-in
    (build.py), so a request for "gpt-4.1-mini" loads the tiny model under that name.
    """
    cli = Path(sys.executable).with_name("transformers")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
         "--log-level", "warning", "--default-seed", "0"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True,
        preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {proc.returncode}:\n{tail(log_path)}")
        if ready(port):
            return proc
        time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"transformers serve not ready after {timeout:.0f}s:\n{tail(log_path)}")


def ready(port: int) -> bool:
    """Readiness = a real one-token chat completion succeeds (the model is loaded, not just the socket)."""
    body = json.dumps({"model": OPENAI_CHAT_MODELS[0], "max_tokens": 1,
                       "messages": [{"role": "user", "content": "ping"}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
