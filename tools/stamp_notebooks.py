"""Stamp every chapter notebook with the Colab badge and the bootstrap cell of the ONE repo URL.

    python tools/stamp_notebooks.py           # rewrite ch*/ch*.ipynb in place
    python tools/stamp_notebooks.py --check   # exit 1 if any notebook is not stamped (used by tests)

The repo URL lives in pyproject.toml ([tool.course] repo_url). Stamping also strips outputs,
drops Colab/widget metadata, and sets `accelerator: GPU` on notebooks that have `gpu` cells.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_MARKER = "# 0. 코랩 준비"
BADGE_RE = re.compile(r"^.*colab-badge\.svg.*$", re.M)


def course_settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["course"]


def colab_url(repo_url: str, branch: str, notebook: Path) -> str:
    github_path = repo_url.removeprefix("https://github.com/")
    try:
        rel = notebook.resolve().relative_to(ROOT).as_posix()
    except ValueError:  # a notebook outside the course (tests): chapter folder / file name
        rel = f"{notebook.parent.name}/{notebook.name}"
    return f"https://colab.research.google.com/github/{github_path}/blob/{branch}/{rel}"


def badge_line(repo_url: str, branch: str, notebook: Path) -> str:
    return (f'<a href="{colab_url(repo_url, branch, notebook)}" target="_parent">'
            '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>')


def bootstrap_source(repo_url: str, chapter_dir: str) -> str:
    repo_name = repo_url.rstrip("/").rsplit("/", 1)[-1]
    return f'''{BOOTSTRAP_MARKER}: Colab 에서만 저장소를 받고 빠진 패키지를 설치합니다 (로컬·CI 에서는 아무것도 하지 않음).
import os
import subprocess
import sys

REPO_URL = "{repo_url}"
CHAPTER_DIR = "{chapter_dir}"
if "google.colab" in sys.modules:
    course_dir = "/content/{repo_name}"
    if not os.path.isdir(course_dir):
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, course_dir], check=True)
    subprocess.run([sys.executable, f"{{course_dir}}/tools/colab_setup.py"], check=True)
    os.chdir(f"{{course_dir}}/{{CHAPTER_DIR}}")
    sys.path.insert(0, os.getcwd())

import torch
import transformers

print(f"python {{sys.version.split()[0]}} | torch {{torch.__version__}} | transformers {{transformers.__version__}}")'''


def stamp(nb, notebook: Path, settings: dict) -> None:
    repo_url, branch = settings["repo_url"], settings.get("branch", "main")
    header = nb.cells[0]
    if header.cell_type != "markdown" or not header.source.startswith("# "):
        raise ValueError(f"{notebook}: the first cell must be the markdown header '# N장. 제목'")
    badge = badge_line(repo_url, branch, notebook)
    if BADGE_RE.search(header.source):
        header.source = BADGE_RE.sub(lambda _: badge, header.source, count=1)
    else:
        title, _, rest = header.source.partition("\n")
        header.source = f"{title}\n\n{badge}\n{rest}"
    source = bootstrap_source(repo_url, notebook.parent.name)
    if len(nb.cells) > 1 and nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith(BOOTSTRAP_MARKER):
        nb.cells[1].source = source
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(source))
    for cell in nb.cells:
        cell.metadata.pop("colab", None)
        cell.metadata.pop("executionInfo", None)
        cell.metadata.pop("outputId", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for key in ("colab", "widgets", "gpuClass"):
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    uses_gpu = any("gpu" in c.metadata.get("tags", []) for c in nb.cells)
    if uses_gpu:
        nb.metadata["accelerator"] = "GPU"
    else:
        nb.metadata.pop("accelerator", None)


def chapter_notebooks() -> list[Path]:
    return sorted(ROOT.glob("ch*/ch*.ipynb"))


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    settings = course_settings()
    stale = []
    for path in args.notebooks or chapter_notebooks():
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        stamp(nb, path, settings)
        nbformat.validate(nb)
        if render(nb) != text:
            stale.append(path)
            if not args.check:
                path.write_text(render(nb), encoding="utf-8")
    for path in stale:
        print(("not stamped: " if args.check else "stamped: ") + str(path))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
