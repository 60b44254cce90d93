"""Hygiene of every chapter notebook and of the repository, plus proofs that each check can fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests import notebook_hygiene as hygiene
from tools import stamp_notebooks

ROOT = hygiene.ROOT
NOTEBOOKS = stamp_notebooks.chapter_notebooks()
CHAPTERS = ["ch02_transformer", "ch03_huggingface", "ch05_prompting", "ch06_eval", "ch07_quantization",
            "ch08_serving", "ch09_rag", "ch10_embeddings", "ch11_embedding_training", "ch12_vectordb",
            "ch14_multimodal", "ch15_agents", "ch16_mamba"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean(path):
    assert hygiene.problems(path) == []


def test_notebooks_are_stamped_with_the_one_repo_url():
    assert stamp_notebooks.main(["--check"]) == 0


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


def test_repository_names_are_ascii_without_spaces():
    bad = [f for f in tracked_files() if not f.isascii() or " " in f]
    assert bad == []


def test_no_secrets_in_repository():
    hits = []
    for name in tracked_files():
        path = ROOT / name
        if path.suffix in {".jpg", ".png", ".jpeg", ".gif"} or path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        hits += [f"{name}: {what}" for what, pat in hygiene.SECRET_PATTERNS.items() if pat.search(text)]
    assert hits == []


def test_readme_has_a_row_and_a_matching_badge_per_chapter():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    settings = stamp_notebooks.course_settings()
    for chapter in CHAPTERS:
        assert f"`{chapter}/`" in readme, chapter
    for notebook in NOTEBOOKS:
        assert stamp_notebooks.colab_url(settings["repo_url"], settings.get("branch", "main"), notebook) in readme
    for url in re.findall(r"colab\.research\.google\.com/github/([^/]+/[^/]+)/", readme):
        assert settings["repo_url"].endswith(url)


def test_times_are_one_fact_in_readme_and_headers():
    """course/times.toml is the one source: every README row and main-notebook header shows its minutes."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        text = stamp_notebooks.time_text(chapter)
        row = next(ln for ln in readme.splitlines() if f"`{chapter}/`" in ln)
        assert row.rstrip().endswith(f"{text} |"), chapter
        header = nbformat.read(next((ROOT / chapter).glob("ch[0-9][0-9].ipynb")), as_version=4).cells[0].source
        assert text in header, chapter


def test_requirements_are_all_pinned():
    sets = [ROOT / "requirements.txt", *sorted((ROOT / "requirements-gpu").glob("*.txt"))]
    for path in sets:
        lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(("-c ", "-r ", "--"))]
        assert lines and all("==" in ln for ln in lines), path.name


# ---------------------------------------------------------------- the checks can fail

def make_notebook(tmp_path: Path, code_cells: list, chapter: str = "ch99_demo") -> Path:
    folder = tmp_path / chapter
    folder.mkdir()
    path = folder / "ch99.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99장. 시험\n\n설명")]
    nb.cells += [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in code_cells]
    nb.cells.append(nbformat.v4.new_markdown_cell("## 정리\n- 끝"))
    nbformat.write(nb, path)
    return path


GOOD = [("import os\nQUICK = os.environ.get('COURSE_QUICK') == '1'", []), ("assert 1 + 1 == 2", [])]


def test_planted_defects_are_each_found(tmp_path):
    cases = {
        "GPU-only API without the gpu tag": [("import torch\nx = torch.zeros(1).cuda()", [])],
        "looks like a secret": [("key = 'sk-" + "a1B2" * 10 + "'", [])],
        "does not compile": [("def broken(:\n    pass", [])],
        "cell 3: does not compile": [("def f():\n    nonlocal x", [])],
        "key-only service without the needs-key tag": [("from pinecone import Pinecone\npc = Pinecone()", [])],
        "without a key:ENV_NAME tag": [("if course.requires():\n    x = 1", ["needs-key"])],
        "is not in tests/world/standins.py": [("m = 'some-org/unknown-model'", [])],
        "OpenAI model 'gpt-3.5-turbo'": [("name = 'gpt-3.5-turbo'", [])],
        "island rule": [("if course.requires(gpu=True):\n    big = 1", ["gpu"]), ("print(big)", [])],
        "does not start with its guard": [("x = 1", ["gpu"])],
        "has no gpu/needs-key tag": [("if course.requires(gpu=True):\n    x = 1", [])],
        "which installs or pops names": [("if course.requires(gpu=True):\n    course.install_gpu_set('x')",
                                          ["gpu"]), ("y = 2", [])],
        "reads secrets itself": [("import getpass\nkey = getpass.getpass()", [])],
        "None if QUICK": [("QUICK = True\nROWS = None if QUICK else 5", [])],
        "its own hardware label": [("import platform\nprint(platform.processor())", [])],
        "before course.chat_backend": [("from openai import OpenAI\nclient = OpenAI()", [])],
    }
    for expected, cells in cases.items():
        folder = tmp_path / re.sub(r"\W+", "_", expected)
        folder.mkdir()
        found = hygiene.problems(make_notebook(folder, GOOD + cells))
        assert any(expected in p for p in found), (expected, found)


def test_committed_output_is_found(tmp_path):
    path = make_notebook(tmp_path, GOOD)
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old output\n")]
    nb.cells[1].execution_count = 3
    nbformat.write(nb, path)
    assert any("has outputs" in p for p in hygiene.problems(path))


def test_checked_outputs_only_where_nbval_rechecks_them(tmp_path):
    path = make_notebook(tmp_path, GOOD + [("print('same everywhere')", ["nbval-check-output"])])
    nb = nbformat.read(path, as_version=4)
    assert any("no committed output to re-check" in p for p in hygiene.problems(path))
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="same everywhere\n")]
    nb.cells[3].execution_count = 1
    nbformat.write(nb, path)
    assert not any("output" in p for p in hygiene.problems(path))


def test_top_level_await_compiles_as_in_a_kernel(tmp_path):
    path = make_notebook(tmp_path, GOOD + [("import asyncio\nawait asyncio.sleep(0)", [])])
    assert not any("compile" in p for p in hygiene.problems(path))


def test_gpu_cell_with_cpu_fallback_is_allowed(tmp_path):
    path = make_notebook(tmp_path, GOOD + [("model = 'cpu'", []),
                                           ("if course.requires(gpu=True):\n    model = 'gpu'", ["gpu"]),
                                           ("print(model)", [])])
    assert not any("island" in p for p in hygiene.problems(path))


def test_a_failing_cell_fails_the_notebook_run(tmp_path):
    """The suite runs notebooks with nbval: a raising cell must fail the run."""
    path = make_notebook(tmp_path, [("x = 1", []), ("raise RuntimeError('deliberately broken')", [])])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
                          "-p", "no:cacheprovider", str(path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout[-2000:]
    assert "deliberately broken" in run.stdout


def test_hub_id_detection_ignores_paths_and_mime_types():
    source = "a = 'klue/roberta-base'\nb = '../assets/klue_like/ynat.jsonl'\nc = 'text/plain'\nd = 'outputs/run1'\ne = '0/0'"
    assert hygiene.hub_ids_in(source) == {"klue/roberta-base"}


def test_make_lab_starts_as_root_and_as_a_user(tmp_path):
    """JupyterLab refuses to start as root without --allow-root; a normal user must not get it."""
    fake_id = tmp_path / "id"
    for uid, wanted in (("0", True), ("1000", False)):
        fake_id.write_text(f"#!/bin/sh\necho {uid}\n")
        fake_id.chmod(0o755)
        env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
        dry = subprocess.run(["make", "-n", "-W", "requirements.txt", "lab"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        line = [ln for ln in dry.stdout.splitlines() if "jupyter lab" in ln][-1]
        assert ("--allow-root" in line) == wanted, (uid, line)


def test_nbval_rechecks_committed_outputs(tmp_path):
    """Cells tagged nbval-check-output are compared with their committed output under --nbval-lax, through the
    course's sanitizer (tests/nbval_sanitize.cfg): text and integers must match, float digits and padding may not."""
    source = "import torch\nprint('같은 출력', 3, torch.tensor([0.1234, -0.5]))"
    path = make_notebook(tmp_path, [(source, ["nbval-check-output"])])
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    sanitizer = ROOT / "tests" / "nbval_sanitize.cfg"
    results = []
    for committed in ("같은 출력 3 tensor([ 0.1234, -0.5000])\n",  # as printed
                      "같은 출력 3 tensor([0.1235, 0.5000])\n",  # other float digits and padding: masked
                      "다른 출력 3 tensor([ 0.1234, -0.5000])\n",  # other text
                      "같은 출력 4 tensor([ 0.1234, -0.5000])\n"):  # another integer
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=committed)]
        nb.cells[1].execution_count = 1
        nbformat.write(nb, path)
        run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
                              f"--nbval-sanitize-with={sanitizer}", "-p", "no:cacheprovider", str(path)],
                             cwd=tmp_path, env=env, capture_output=True, text=True)
        results.append(run.returncode)
    assert results == [0, 0, 1, 1], results
