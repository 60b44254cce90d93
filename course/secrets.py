"""비밀 값(API 키, 토큰) 읽기: 환경 변수 -> Colab 보안 비밀 -> 입력창 순서. 없으면 None (정상적인 답).

값은 출력하지도, 파일에 쓰지도 않습니다. 입력창은 대화형 커널에서만 한 번 묻고(비워 두면 "없음"),
같은 커널에서는 그 답을 기억합니다. `COURSE_NO_PROMPT=1`이면 묻지 않습니다 (CI).
"""

from __future__ import annotations

import getpass
import os
import sys

# course.llm이 로컬 서버용으로 넣는 자리표시 값: 진짜 키가 아니므로 "없음"으로 본다
LOCAL_PLACEHOLDER = "course-local-server-no-key"

_answers: dict[str, str | None] = {}


def _clean(value) -> str | None:
    value = (value or "").strip() if isinstance(value, str) else None
    return value if value and value != LOCAL_PLACEHOLDER else None


def colab_secret(name: str) -> str | None:
    """Colab 보안 비밀(왼쪽 열쇠 아이콘). Colab이 아니거나, 없거나, 노트북 접근이 꺼져 있으면 None."""
    if "google.colab" not in sys.modules:
        return None
    try:
        from google.colab import userdata

        return _clean(userdata.get(name))
    except Exception:  # noqa: BLE001  SecretNotFoundError, NotebookAccessError, TimeoutException ...
        return None


def can_prompt() -> bool:
    """입력창을 띄울 수 있나: 대화형 커널(stdin 허용) 또는 터미널."""
    if os.environ.get("COURSE_NO_PROMPT") == "1":
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        return bool(getattr(kernel, "_allow_stdin", False))
    return sys.stdin is not None and sys.stdin.isatty()


def get_secret(name: str, prompt: bool = True) -> str | None:
    """`name`의 값, 없으면 None. 출력하지 않습니다."""
    value = _clean(os.environ.get(name)) or colab_secret(name)
    if value:
        return value
    if name in _answers:
        return _answers[name]
    if not (prompt and can_prompt()):
        return None
    try:
        value = _clean(getpass.getpass(f"{name} (없으면 그냥 Enter): "))
    except (EOFError, KeyboardInterrupt, OSError, RuntimeError, Exception):  # noqa: BLE001  StdinNotImplementedError
        value = None
    _answers[name] = value
    return value


def forget_answers() -> None:
    """입력창 답을 잊습니다 (다시 물어보게)."""
    _answers.clear()
