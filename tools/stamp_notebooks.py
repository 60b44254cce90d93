"""Stamp every chapter notebook with the Colab badge and the bootstrap cell of the ONE repo URL.

    python tools/stamp_notebooks.py           # rewrite ch*/ch*.ipynb in place
    python tools/stamp_notebooks.py --check   # exit 1 if any notebook is not stamped (used by tests)

The repo URL lives in pyproject.toml ([tool.course] repo_url). Stamping also strips outputs,
drops Colab/widget metadata (outputs stay only in cells tagged `nbval-check-output`, which nbval re-checks),
and sets `accelerator: GPU` on notebooks that have `gpu` cells or whose full mode needs a GPU (course/times.toml).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.nbedit import edit

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_MARKER = "# 0. 코랩 준비"
BADGE_RE = re.compile(r"^.*colab-badge\.svg.*$", re.MULTILINE)


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
    return f'''{BOOTSTRAP_MARKER}: Colab에서는 저장소를 받고 이 장에 필요한 것만 설치합니다 (다른 곳에서는 설치하지 않음).
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = "{repo_url}"
CHAPTER_DIR = "{chapter_dir}"
if "google.colab" in sys.modules:
    root = Path("/content/{repo_name}")
    if not (root / "course").is_dir():
        clone = subprocess.run(
            ["git", "clone", "--depth", "1", REPO_URL, str(root)], capture_output=True, text=True
        )
        if clone.returncode != 0:
            raise RuntimeError(f"저장소를 받지 못했습니다: {{REPO_URL}}\\n{{clone.stderr.strip()}}")
    os.chdir(root / CHAPTER_DIR)
else:  # 로컬: 이 폴더나 그 위에서 과정 패키지(course/)가 있는 저장소 루트를 찾습니다
    root = next(
        p for p in [Path.cwd(), *Path.cwd().parents] if (p / "course" / "__init__.py").is_file()
    )
for path in (str(root / CHAPTER_DIR), str(root)):
    if path not in sys.path:
        sys.path.insert(0, path)

import course

course.setup(CHAPTER_DIR)  # Colab: 빠진 패키지만 설치. 어디서나: 버전과 하드웨어 출력'''


from course.hardware import chapter_times


def full_mode_needs_gpu(chapter: str, limit_minutes: float = 30) -> bool:
    """course/times.toml: a chapter whose full mode takes more than ~30 minutes on CPU (or that asks for it with
    `colab_gpu = true`) opens on a T4 runtime."""
    row = chapter_times().get(chapter, {})
    return bool(row) and (row["full_cpu"] > limit_minutes or row.get("colab_gpu", False))


def time_text(chapter: str) -> str | None:
    """The minutes of a chapter as the header and README show them (one source: course/times.toml)."""
    row = chapter_times().get(chapter)
    if row is None:
        return None
    kind = "일부 측정" if row["basis"].startswith("measured") else "추정"
    return (f"CPU 빠른 {row['quick_cpu']} / 전체 {row['full_cpu']}분 · T4 빠른 {row['quick_t4']} / "
            f"전체 {row['full_t4']}분 ({kind})")


def stamp_time(header: str, chapter: str) -> str:
    """Put the minutes into the header table: a `| 예상 시간 | ... |` row, or the 예상 시간 column."""
    text = time_text(chapter)
    if text is None:
        return header
    lines = header.split("\n")
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells[:1] == ["예상 시간"] and len(cells) == 2:
            lines[i] = f"| 예상 시간 | {text} |"
        elif "예상 시간" in cells and i + 2 < len(lines) and lines[i + 2].startswith("|"):
            values = [c.strip() for c in lines[i + 2].strip().strip("|").split("|")]
            values[cells.index("예상 시간")] = text
            lines[i + 2] = "| " + " | ".join(values) + " |"
    return "\n".join(lines)


def stamp_readme(text: str) -> str:
    """The README chapter table's last column is the chapter's minutes from course/times.toml."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = re.match(r"\| \d+장 \| `(ch\d+_\w+)/` \|", line)
        if match and time_text(match.group(1)):
            cells = line.rstrip().rstrip("|").rstrip().split(" | ")
            lines[i] = " | ".join(cells[:-1] + [time_text(match.group(1))]) + " |"
    return "\n".join(lines)


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
    if notebook.parent.name.startswith(notebook.stem + "_"):  # the chapter's main notebook (times are per chapter)
        header.source = stamp_time(header.source, notebook.parent.name)
    source = bootstrap_source(repo_url, notebook.parent.name)
    if len(nb.cells) > 1 and nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith(BOOTSTRAP_MARKER):
        nb.cells[1].source = source
    else:
        nb.cells.insert(1, nbformat.v4.new_code_cell(source))
    for cell in nb.cells:
        cell.metadata.pop("colab", None)
        cell.metadata.pop("executionInfo", None)
        cell.metadata.pop("outputId", None)
        if cell.cell_type == "code" and "nbval-check-output" not in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    for key in ("colab", "widgets", "gpuClass"):
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    uses_gpu = any("gpu" in c.metadata.get("tags", []) for c in nb.cells)
    if uses_gpu or full_mode_needs_gpu(notebook.parent.name):
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
        if args.check:
            text = path.read_text(encoding="utf-8")
            nb = nbformat.reads(text, as_version=4)
            stamp(nb, path, settings)
            if render(nb) != text:
                stale.append(path)
            continue
        before = path.read_text(encoding="utf-8")
        with edit(path) as nb:  # 다른 사람이 같은 노트북을 고치는 중이어도 잃지 않게 잠금
            stamp(nb, path, settings)
        if path.read_text(encoding="utf-8") != before:
            stale.append(path)
    readme = ROOT / "README.md"
    if not args.notebooks:
        text = readme.read_text(encoding="utf-8")
        if stamp_readme(text) != text:
            stale.append(readme)
            if not args.check:
                readme.write_text(stamp_readme(text), encoding="utf-8")
    for path in stale:
        print(("not stamped: " if args.check else "stamped: ") + str(path))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
