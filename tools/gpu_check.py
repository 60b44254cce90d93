"""One command for a GPU machine (issue 13 #4): install the GPU sets, run every `gpu` cell in the smoke world.

    python tools/gpu_check.py --dry-run     # list the cells it would run (notebook, cell index, first line)
    python tools/gpu_check.py               # on a CUDA machine: install sets, `pytest -m gpu`, ~10 minutes

Without CUDA it only lists (as --dry-run) and exits 0. With CUDA it installs every set of requirements-gpu/ into
this environment through course.install_gpu_set (which refuses any change to torch or to an imported package),
except sets marked `# course: own-runtime` (vLLM pins its own torch: they need their own environment, listed as
skipped), then runs `pytest -m gpu` on the notebooks that have gpu cells, bounded by --timeout seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_DIR = ROOT / "requirements-gpu"


def gpu_cells() -> list[tuple[str, int, str]]:
    import nbformat

    rows = []
    for path in sorted(ROOT.glob("ch*/ch*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code" and "gpu" in cell.metadata.get("tags", []):
                lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
                if len(lines) > 1 and lines[0].startswith("if course.requires("):
                    lines = [f"[guard] {lines[1]}"]  # the guard line is the same everywhere: show what it runs
                rows.append((path.relative_to(ROOT).as_posix(), index, lines[0] if lines else ""))
    return rows


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def gpu_sets() -> list[tuple[str, bool]]:
    return [(p.stem, "# course: own-runtime" in p.read_text(encoding="utf-8")) for p in sorted(GPU_DIR.glob("*.txt"))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="only list the cells and sets")
    parser.add_argument("--timeout", type=int, default=600, help="seconds for the whole pytest run")
    parser.add_argument("--skip", action="append", default=[], metavar="SET",
                        help="a GPU set not to install (e.g. ch16-mamba where no prebuilt wheel fits this torch)")
    args = parser.parse_args(argv)
    cells = gpu_cells()
    print(f"gpu cells: {len(cells)} in {len({c[0] for c in cells})} notebooks")
    print("| notebook | cell | first line |\n| --- | ---: | --- |")
    for nb, index, first in cells:
        print(f"| {nb} | {index} | `{first[:90]}` |")
    print("GPU sets: " + ", ".join(f"{n}{' (own runtime: skipped here)' if own else ''}" for n, own in gpu_sets()))
    cuda = has_cuda()
    if args.dry_run or not cuda:
        print("dry run: nothing installed or run" + ("" if cuda else " (no CUDA on this machine)"))
        return 0
    sys.path.insert(0, str(ROOT))
    import course.install as ci

    for name, own in gpu_sets():
        if not own and name not in args.skip:
            ci.install_gpu_set(name)
    notebooks = sorted({nb for nb, _, _ in cells})
    cmd = ["timeout", str(args.timeout), sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:xdist", "-q",
           "-rA", *notebooks]
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=os.environ.copy(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
