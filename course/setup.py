"""부트스트랩 셀이 부르는 준비: Colab에서는 이 장에 필요한 것만 설치하고, 어디서나 버전과 하드웨어를 출력합니다."""

from __future__ import annotations

import sys


def install_chapter(chapter_dir: str):
    from course import install

    return install.install_chapter(chapter_dir)


def install_gpu_set(name: str):
    from course import install

    return install.install_gpu_set(name)


def setup(chapter_dir: str) -> None:
    """Colab: 장 세트 설치 (course.install). 그다음 버전·하드웨어 한 줄."""
    if "google.colab" in sys.modules:
        install_chapter(chapter_dir)
    import torch
    import transformers

    from course.hardware import hardware_label

    print(f"python {sys.version.split()[0]} | torch {torch.__version__} | transformers {transformers.__version__}"
          f" | {hardware_label()}")
