"""과정 공용 패키지: 모든 장이 정말로 함께 쓰는 것만 둡니다.

- 비밀 값 읽기 (`get_secret`): 환경 변수 -> Colab 보안 비밀 -> 비워 둘 수 있는 입력창. 출력하거나 저장하지 않습니다.
- 태그 셀의 가드 (`requires`): `gpu` / `needs-key` 셀이 조건이 안 되면 한 줄로 알리고 건너뜁니다.
- 키 없는 LLM (`chat_backend`): OpenAI 키가 없으면 내 컴퓨터에 `transformers serve`를 띄워 대신 씁니다.
- 설치 (`setup`, `install_chapter`, `install_gpu_set`): Colab에서 이 장에 필요한 것만 설치합니다.
- 하드웨어 이름, 시드, 빠른 모드 기본값, GPU에 맞는 반정밀도 dtype.
"""

from course.guard import requires
from course.hardware import fp16_or_bf16, hardware_label, quick_mode, seed_everything
from course.llm import chat_backend, stop_local_llm
from course.secrets import get_secret
from course.setup import install_chapter, install_gpu_set, setup

__all__ = ["chat_backend", "fp16_or_bf16", "get_secret", "hardware_label", "install_chapter",
           "install_gpu_set", "quick_mode", "requires", "seed_everything", "setup", "stop_local_llm"]
