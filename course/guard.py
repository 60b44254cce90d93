"""태그 셀(`gpu`, `needs-key`)의 가드: 조건이 안 되면 한 줄로 알리고 False를 돌려줍니다.

    if course.requires(gpu=True):
        ...                      # CUDA가 있을 때만

셀 태그는 CI가 읽는 원본이고, 이 가드는 학습자가 셀 안에서 보는 표시입니다 (위생 테스트가 둘이 맞는지 검사).
"""

from __future__ import annotations

from course.secrets import get_secret

HOW_TO_GET = {
    "OPENAI_API_KEY": "https://platform.openai.com/api-keys에서 만들 수 있습니다 (유료)",
    "HF_TOKEN": "https://huggingface.co/settings/tokens에서 write 권한 토큰을 만들 수 있습니다 (무료)",
    "PINECONE_API_KEY": "https://app.pinecone.io의 API Keys에서 만들 수 있습니다 (무료 플랜)",
}
WHERE_TO_PUT = "Colab 보안 비밀(왼쪽 열쇠 아이콘)이나 환경 변수에 넣고 다시 실행하세요"
GPU_HINT = "Colab에서는 [런타임 > 런타임 유형 변경 > T4 GPU]를 고른 뒤 다시 실행하세요"


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def missing(gpu: bool = False, key: str | None = None, keys: tuple[str, ...] = ()) -> list[str]:
    """빠진 조건의 한국어 설명들 (빈 목록이면 실행할 수 있음). 출력하지 않습니다."""
    reasons = []
    if gpu and not cuda_available():
        reasons.append(f"CUDA GPU가 필요합니다. {GPU_HINT}")
    for name in ((key,) if key else ()) + tuple(keys):
        if get_secret(name) is None:
            how = HOW_TO_GET.get(name, "")
            reasons.append(f"{name} 이(가) 필요합니다{': ' + how if how else ''}. {WHERE_TO_PUT}")
    return reasons


def requires(gpu: bool = False, key: str | None = None, keys: tuple[str, ...] = ()) -> bool:
    """조건이 되면 True. 아니면 "⏭ 건너뜀: ..." 한 줄을 출력하고 False."""
    reasons = missing(gpu=gpu, key=key, keys=keys)
    if reasons:
        print("⏭ 이 셀을 건너뜁니다: " + " / ".join(reasons))
        return False
    return True
