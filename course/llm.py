"""키 없이도 배우기: OpenAI 키가 있으면 OpenAI, 없으면 내 컴퓨터의 `transformers serve`(작은 공개 채팅 모델).

    llm = course.chat_backend("gpt-4.1-mini")   # 백엔드를 고르고 환경 변수를 맞춘다 (무엇을 쓰는지 출력)
    client = OpenAI()                           # 노트북 코드는 어느 쪽이든 같다 (OPENAI_BASE_URL/KEY를 읽음)
    client.chat.completions.create(model=llm.model, ...)

로컬 서버는 모델을 미리 로드하고(FORCE_MODEL) 어떤 model 이름의 요청이든 그 모델로 답하므로
`gpt-4.1-mini` 같은 이름을 그대로 써도 됩니다. 한 커널에 서버 하나, 커널이 끝나면 함께 멈춥니다.
이미 `OPENAI_BASE_URL`이 있으면(내 서버, 다른 호환 서버) 그것을 씁니다.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course import server
from course.secrets import LOCAL_PLACEHOLDER, get_secret

LOCAL_MODEL_CPU = "Qwen/Qwen2.5-0.5B-Instruct"
LOCAL_MODEL_GPU = "Qwen/Qwen2.5-1.5B-Instruct"

_local: dict = {"proc": None, "backend": None}


@dataclass
class ChatBackend:
    kind: str        # "openai" | "compatible" | "local"
    model: str       # 요청에 쓸 model 이름 (OpenAI: 요청한 이름, 로컬: 띄운 공개 모델 id)
    base_url: str | None
    served_by: str   # 실제로 답하는 모델/서버 설명

    def client(self, **kwargs):
        from openai import OpenAI

        return OpenAI(**kwargs)  # OPENAI_BASE_URL / OPENAI_API_KEY는 chat_backend가 맞춰 두었다

    def describe(self) -> str:
        return {"openai": f"OpenAI API ({self.model})",
                "compatible": f"OPENAI_BASE_URL의 호환 서버 {self.base_url} ({self.model})",
                "local": f"로컬 transformers serve {self.base_url} ({self.served_by}, 키 없음)",
                }[self.kind]


def event(message: str) -> None:
    """CI가 모으는 사건 기록 (`COURSE_EVENT_LOG`가 있을 때만): 로컬 서버 시작/종료 등."""
    path = os.environ.get("COURSE_EVENT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')}\t{os.getpid()}\t{message}\n")


def chat_backend(model: str = "gpt-4.1-mini", local_model: str | None = None,
                 timeout: float = 600.0) -> ChatBackend:
    """채팅 백엔드를 고르고 (OpenAI -> 이미 설정된 호환 서버 -> 로컬 서버) 무엇을 쓰는지 한 줄 출력합니다."""
    proc = _local["proc"]
    if proc is not None and proc.poll() is not None:
        stop_local_llm()  # 우리 서버가 죽었다: 정리하고 다시 고른다
    base_url = os.environ.get("OPENAI_BASE_URL")
    if _local["backend"] is not None:
        backend = _local["backend"]
    elif base_url:
        os.environ.setdefault("OPENAI_API_KEY", LOCAL_PLACEHOLDER)  # 키가 필요 없는 호환 서버도 있다
        backend = ChatBackend("compatible", model, base_url, base_url)
    elif (key := get_secret("OPENAI_API_KEY")) is not None:
        os.environ["OPENAI_API_KEY"] = key  # 이 프로세스 안에서만 (출력·저장하지 않음)
        backend = ChatBackend("openai", model, None, "OpenAI")
    else:
        backend = _start_local(model, local_model, timeout)
    print("LLM 백엔드:", backend.describe())
    return backend


def _start_local(model: str, local_model: str | None, timeout: float) -> ChatBackend:
    from course.guard import cuda_available

    cuda = cuda_available()
    served = local_model or (LOCAL_MODEL_GPU if cuda else LOCAL_MODEL_CPU)
    port = server.free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log = Path(tempfile.gettempdir()) / f"course-local-llm-{port}.log"
    print(f"OPENAI_API_KEY가 없어 내 컴퓨터에 OpenAI 호환 서버를 띄웁니다: {served} "
          f"({'GPU' if cuda else 'CPU'}, 처음에는 모델 내려받기로 몇 분 걸릴 수 있습니다)")
    started = time.perf_counter()
    command = server.transformers_serve_command(port, served, device="cuda" if cuda else "cpu")
    _local["proc"] = server.start(command, base_url, served, log, timeout=timeout)
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = LOCAL_PLACEHOLDER  # 클라이언트가 요구하는 자리표시 (진짜 키 아님)
    _local["backend"] = ChatBackend("local", served, base_url, served)
    event(f"local LLM server started: {served} at {base_url} in {time.perf_counter() - started:.1f}s")
    return _local["backend"]


def stop_local_llm() -> bool:
    """로컬 서버를 멈추고 환경 변수를 되돌립니다. 멈춘 것이 있으면 True. 여러 번 불러도 안전합니다."""
    proc, backend = _local["proc"], _local["backend"]
    if proc is None:
        return False
    server.stop(proc)
    if backend is not None and os.environ.get("OPENAI_BASE_URL") == backend.base_url:
        os.environ.pop("OPENAI_BASE_URL", None)
        if os.environ.get("OPENAI_API_KEY") == LOCAL_PLACEHOLDER:
            os.environ.pop("OPENAI_API_KEY", None)
    _local.update(proc=None, backend=None)
    event(f"local LLM server stopped: {backend.served_by if backend else '?'}")
    print("로컬 LLM 서버를 멈췄습니다.")
    return True


atexit.register(stop_local_llm)
