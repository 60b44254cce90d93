"""tools/colab_model.py: its pieces offline; one chapter end to end only in CI's networked phase."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import colab_model as cm

ROOT = Path(__file__).resolve().parents[1]


def test_freeze_parsing_reads_name_version_pairs(tmp_path):
    path = tmp_path / "freeze.txt"
    path.write_text("numpy==2.1.3\nHuggingFace_Hub==1.27.0\n# comment\nsomething @ file:///x\n")
    assert cm.colab_freeze(path) == {"numpy": "2.1.3", "huggingface-hub": "1.27.0"}


@pytest.mark.skipif(not cm.FREEZE.is_file(), reason="no ../shared/colab")
def test_published_freeze_has_what_the_model_relies_on():
    freeze = cm.colab_freeze()
    for name in ("numpy", "pandas", "pillow", "matplotlib", "ipykernel", "ipywidgets", "transformers"):
        assert name in freeze


def test_notebook_modules_skip_local_helpers_stdlib_and_gpu_cells():
    modules = cm.notebook_modules(ROOT / "ch16_mamba")
    assert "transformers" in modules and "torch" in modules
    assert not any(m.split(".")[0] in {"os", "sys", "pscan", "scaling", "course", "mamba_ssm"} for m in modules)


def test_working_tree_copy_holds_the_installer_and_the_chapters(tmp_path):
    clone = cm.working_tree_copy(tmp_path / "clone")
    assert (clone / "course" / "install.py").is_file() and (clone / "course" / "chapters.toml").is_file()
    assert (clone / "requirements.txt").is_file() and not (clone / ".venv").exists()


def test_kernel_script_compiles_and_stub_defines_userdata():
    compile(cm.KERNEL, "<kernel>", "exec")
    namespace = {}
    exec(cm.USERDATA_STUB, namespace)  # noqa: S102 (the stub is our own text)
    with pytest.raises(KeyError):
        namespace["get"]("OPENAI_API_KEY")


@pytest.mark.registry
@pytest.mark.skipif(os.environ.get("COURSE_REGISTRY") != "1", reason="needs the package registry (make colab-model)")
def test_one_chapter_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_NETGUARD")}
    env.update({"COLAB_MODEL_DIR": str(tmp_path), "COURSE_NETGUARD": "0",
                "PYTHONPATH": ""})
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "colab_model.py"), "ch02_transformer"],
                          env=env, capture_output=True, text=True, check=False)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "| ch02_transformer |" in proc.stdout
