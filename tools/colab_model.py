"""A model of Colab in CI (issue 11 #4): each chapter's install, run the way Colab runs it.

    python tools/colab_model.py                    # every chapter (needs the package registry)
    python tools/colab_model.py ch02_transformer   # some chapters
    COLAB_MODEL_DIR=/tmp/colab-model python tools/colab_model.py --keep

The model (how faithful, and where not):
- Colab's package set from ../shared/colab/colab-cpu-pip-freeze.txt: every distribution in the dependency closure
  of our chapter sets that Colab ships, plus the kernel and widget stack, is installed at Colab's version, with
  the whole freeze as constraints so their dependencies come at Colab's versions too.
- Python 3.11 (`python3.11 -m venv`), not Colab's 3.13: the import checks need an interpreter here with a CPU torch.
  pip resolves for this interpreter; the resolver checks for Python 3.13 are tests/test_gpu_sets.py.
  A Colab version without a wheel for 3.11 is dropped from the constraints (listed in the output).
- torch: the local CPU wheel (torch==2.13.0) stands in for Colab's 2.11.0 and is constrained so pip never changes
  it; torchvision/torchaudio are left out (PyPI's builds do not import beside the CPU torch).
- A stub `google.colab` (with `userdata`, and a google-colab dist-info with its exact pins of ipykernel, ipython,
  pandas, tornado, requests), numpy, PIL, matplotlib, ipywidgets and the kernel stack (IPython, ipykernel, tornado,
  requests) imported before the bootstrap, as Colab's kernel does; each chapter gets its own copy of the environment (each badge opens its own VM).
- Each chapter: `course.install_chapter` from a local copy of the working tree, in one process (the kernel),
  then the same call again (rerun), then the chapter's imports in that same process. Asserts: nothing the kernel
  had imported changed on disk (or a restart was requested, once: then a new process must be a no-op and import
  everything), `pip check` shows no new line. Prints the install seconds per chapter, first run and rerun.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course import install as ci

FREEZE = ROOT.parent / "shared" / "colab" / "colab-cpu-pip-freeze.txt"
PRELOADED = ["numpy", "PIL", "matplotlib", "ipywidgets"]  # imported when Colab's first cell runs
GOOGLE_COLAB_PINS = ["ipykernel", "ipython", "pandas", "tornado", "requests"]  # its exact pins (README)
KERNEL_STACK = ["ipykernel", "ipython", "ipywidgets", "jupyter-client", "tornado", "matplotlib-inline",
                "requests"]
# Colab versions that do not install beside the rest for Python 3.11 here (tifffile 2026.8.16 needs a newer
# Python; setuptools 75.2.0 conflicts with a build requirement): left to pip, listed in the output.
KNOWN_UNINSTALLABLE = {"tifffile", "setuptools"}
TORCH = "torch==2.13.0"  # the CPU wheel on this machine's disk, standing in for Colab's torch 2.11.0
COLAB_STUB = '''"""Stub of Colab's google.colab for the Colab model (tools/colab_model.py)."""
from . import userdata  # noqa: F401
'''
USERDATA_STUB = '''class SecretNotFoundError(KeyError):
    pass


def get(name):
    raise SecretNotFoundError(name)
'''


def log(msg: str) -> None:
    print(msg, flush=True)


def colab_freeze(path: Path = FREEZE) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if m:
            out[ci.canon(m.group(1))] = m.group(2)
    return out


def pip(python: Path, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    cmd = [str(python), "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    return subprocess.run(cmd, check=check, text=True, capture_output=capture)


def chapter_sets() -> dict[str, list[str]]:
    return {name: conf["packages"] for name, conf in ci.chapter_config()["chapters"].items()}


def base_environment(base: Path, freeze: dict[str, str]) -> tuple[Path, list[str]]:
    """The venv with Colab's versions of what matters; returns (python, constraints dropped for lack of a wheel)."""
    python = base / "bin" / "python"
    closure = set()
    for packages in chapter_sets().values():
        closure |= ci.requirement_closure(packages)
    wanted = sorted((closure | {ci.canon(n) for n in KERNEL_STACK} | {"pillow"}) & set(freeze) - {"torch"})
    key = hashlib.sha256(json.dumps([TORCH, wanted, sorted(freeze.items())]).encode()).hexdigest()
    ready = base / ".colab-model-ready"
    if ready.is_file() and json.loads(ready.read_text()).get("key") == key:  # same inputs: reuse (--keep)
        return python, json.loads(ready.read_text())["dropped"]
    shutil.rmtree(base, ignore_errors=True)
    subprocess.run(["python3.11", "-m", "venv", str(base)], check=True)
    skip = {"torch", "torchvision", "torchaudio", "torchcodec", "google-colab"}
    dropped = sorted(KNOWN_UNINSTALLABLE & set(freeze))  # found by the loop below; listed to save two resolves
    constraints = {n: v for n, v in freeze.items() if n not in skip | KNOWN_UNINSTALLABLE}
    con = base / "colab-constraints.txt"
    for _attempt in range(8):
        con.write_text("\n".join([TORCH] + [f"{n}=={v}" for n, v in sorted(constraints.items())]) + "\n")
        proc = pip(python, "install", TORCH, *[f"{n}=={freeze[n]}" for n in wanted if n in constraints],
                   "-c", str(con), check=False, capture=True)
        if proc.returncode == 0:
            break
        text = proc.stdout + proc.stderr
        bad = set(re.findall(r"(?:the requirement|Cannot install|, |and) ([A-Za-z0-9._-]+)==", text))
        bad = {ci.canon(b) for b in bad} & set(constraints)
        if not bad:
            sys.exit("Colab model: could not install Colab's set:\n"
                     + "\n".join(ln for ln in text.splitlines() if "is ignored" not in ln)[-4000:])
        dropped += sorted(bad)
        log(f"Colab model: no installable Colab version here for {sorted(bad)}: left to pip")
        for name in bad:
            constraints.pop(name)
    else:
        sys.exit("Colab model: too many Colab versions without a wheel here")
    ready.write_text(json.dumps({"key": key, "dropped": dropped}))
    return python, dropped


def install_stubs(python: Path, freeze: dict[str, str]) -> None:
    """The stub google.colab package and its dist-info (idempotent)."""
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, text=True, capture_output=True).stdout.strip())
    (site / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (site / "google" / "colab" / "__init__.py").write_text(COLAB_STUB)
    (site / "google" / "colab" / "userdata.py").write_text(USERDATA_STUB)
    write_google_colab_metadata(site, freeze)


def write_google_colab_metadata(site: Path, freeze: dict[str, str]) -> None:
    """google-colab is not on PyPI; on Colab it pins ipykernel, ipython, pandas, tornado, requests exactly.
    A dist-info with those pins makes pip check and the installer see them as on Colab."""
    info = site / "google_colab-1.0.0.dist-info"
    info.mkdir(exist_ok=True)
    requires = "".join(f"Requires-Dist: {n}=={freeze[n]}\n" for n in GOOGLE_COLAB_PINS if n in freeze)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: google-colab\nVersion: 1.0.0\n{requires}")
    (info / "INSTALLER").write_text("colab-model\n")
    (info / "top_level.txt").write_text("google\n")
    (info / "RECORD").write_text("google/colab/__init__.py,,\ngoogle/colab/userdata.py,,\n")


def working_tree_copy(dest: Path) -> Path:
    """A local clone of the working tree (tracked and untracked, not ignored files), as the bootstrap's clone."""
    shutil.rmtree(dest, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def notebook_modules(chapter_dir: Path) -> list[str]:
    """Top-level modules the chapter's untagged cells and helpers import (what must import after the install)."""
    import nbformat

    sources = [p.read_text(encoding="utf-8") for p in chapter_dir.glob("*.py")]
    for nb_path in chapter_dir.glob("*.ipynb"):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if cell.cell_type == "code" and not set(cell.metadata.get("tags", [])) & {"gpu"}:
                sources.append("\n".join(ln for ln in cell.source.splitlines()
                                         if not ln.lstrip().startswith(("!", "%"))))
    local = {p.stem for p in chapter_dir.glob("*.py")} | {p.name for p in ROOT.iterdir() if p.is_dir()}
    mods = set()
    for src in sources:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                mods |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module)
    return sorted(m for m in mods if m.split(".")[0] not in sys.stdlib_module_names | local | {"google"})


KERNEL = r'''
import json, os, sys, time
import numpy, PIL, matplotlib, ipywidgets  # Colab's kernel has these in memory before the first cell
import IPython, ipykernel, tornado, requests  # and its kernel stack (google.colab imports requests)
import google.colab
clone, chapter, modules, phase = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
sys.path.insert(0, clone)
os.chdir(os.path.join(clone, chapter))
import importlib.metadata as md
from course import install as ci
before = {d: md.version(d) for d in ci.imported_distributions()}
out = {"phase": phase, "imported_before": before}
t0 = time.perf_counter()
first = ci.install_chapter(chapter)
out["first_s"] = time.perf_counter() - t0
out["first_action"] = first.action
out["changes"] = {k: list(v) for k, v in first.changes.items()}
t0 = time.perf_counter()
again = ci.install_chapter(chapter)
out["rerun_s"] = time.perf_counter() - t0
out["rerun_action"] = again.action
md_now = {d: md.version(d) for d in before}
out["changed_imported"] = {d: [before[d], v] for d, v in md_now.items() if v != before[d]}
failed = {}
if first.action != "install_restart":
    import importlib
    sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # count every failure, report them all
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
out["import_failures"] = failed
print("COLAB-MODEL-RESULT " + json.dumps(out))
'''


def run_kernel(python: Path, clone: Path, chapter: str, modules: list[str], phase: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update({"MPLBACKEND": "Agg", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    proc = subprocess.run([str(python), "-c", KERNEL, str(clone), chapter, json.dumps(modules), phase],
                          text=True, capture_output=True, env=env, check=False)
    sys.stdout.write(f"-- {chapter} ({phase}) --\n" + "".join(
        f"    | {ln}\n" for ln in proc.stdout.splitlines() if not ln.startswith("COLAB-MODEL-RESULT")))
    sys.stdout.flush()
    result = next((json.loads(ln.split(" ", 1)[1]) for ln in proc.stdout.splitlines()
                   if ln.startswith("COLAB-MODEL-RESULT")), None)
    if result is None:
        return {"error": f"kernel exited {proc.returncode}: {proc.stderr[-3000:]}"}
    return result


def pip_check(python: Path) -> set[str]:
    proc = pip(python, "check", check=False, capture=True)
    return {ln.strip() for ln in proc.stdout.splitlines() if ln.strip() and "No broken" not in ln}


def model_chapter(base: Path, work: Path, clone: Path, chapter: str, baseline: set[str]) -> dict:
    venv = work / f"venv-{chapter}"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run(["cp", "-al", str(base), str(venv)], check=True)  # its own VM; hard links, pip replaces files
    python = venv / "bin" / "python"
    modules = notebook_modules(ROOT / chapter)
    log(f"== {chapter}: Colab kernel, install_chapter, rerun, {len(modules)} imports")
    result = run_kernel(python, clone, chapter, modules, "kernel")
    problems = []
    if "error" in result:
        problems.append(result["error"])
        return {"chapter": chapter, "problems": problems}
    if result["first_action"] == "install_restart":
        restart = run_kernel(python, clone, chapter, modules, "after restart")
        if restart.get("first_action") != "noop":
            problems.append(f"after the restart the install was not a no-op: {restart.get('first_action')}")
        result["import_failures"] = restart.get("import_failures", {})
        result["restart_noop_s"] = restart.get("first_s")
    elif result["changed_imported"]:
        problems.append(f"changed what the kernel had imported, without asking for a restart: "
                        f"{result['changed_imported']}")
    if result["rerun_action"] not in ("noop", "install_restart"):
        problems.append(f"the rerun was not a no-op: {result['rerun_action']}")
    if result["import_failures"]:
        problems.append(f"imports failed after the install: {result['import_failures']}")
    new_conflicts = pip_check(python) - baseline
    if new_conflicts:
        problems.append(f"pip check, new lines: {sorted(new_conflicts)}")
    shutil.rmtree(venv, ignore_errors=True)
    log(f"== {chapter}: {'ok' if not problems else 'FAIL'} | {result['first_action']} | first run "
        f"{result['first_s']:.1f} s | rerun {result['rerun_s']:.2f} s" + "".join(f"\n   FAIL {p}" for p in problems))
    return {"chapter": chapter, "first_s": result["first_s"], "rerun_s": result["rerun_s"],
            "action": result["first_action"], "installed": len(result["changes"]), "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--keep", action="store_true", help="keep the base environment for the next run")
    parser.add_argument("--jobs", type=int, default=2, help="chapters modelled at once (default 2)")
    args = parser.parse_args(argv)
    work = Path(os.environ.get("COLAB_MODEL_DIR", "/tmp/colab-model"))
    work.mkdir(parents=True, exist_ok=True)
    chapters = args.chapters or sorted(chapter_sets())
    start = time.perf_counter()
    freeze = colab_freeze()
    python, dropped = base_environment(work / "base", freeze)
    install_stubs(python, freeze)
    base_s = time.perf_counter() - start
    log(f"Colab model base environment ready in {base_s:.0f} s (Python 3.11 stand-in; "
        f"Colab versions without a wheel here, left to pip: {dropped or 'none'})")
    baseline = pip_check(python)
    clone = working_tree_copy(work / "clone")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:  # each chapter: its own processes and venv
        rows = list(pool.map(lambda ch: model_chapter(work / "base", work, clone, ch, baseline), chapters))
    log("\n| chapter | action | distributions changed | first run (s) | rerun (s) | result |")
    log("| --- | --- | ---: | ---: | ---: | --- |")
    for r in rows:
        status = "ok" if not r["problems"] else "FAIL"
        log(f"| {r['chapter']} | {r.get('action', '-')} | {r.get('installed', '-')} | "
            f"{r.get('first_s', float('nan')):.1f} | {r.get('rerun_s', float('nan')):.2f} | {status} |")
    for r in rows:
        for p in r["problems"]:
            log(f"FAIL {r['chapter']}: {p}")
    log(f"\nColab model: {len(rows)} chapters in {time.perf_counter() - start:.0f} s "
        f"(base environment {base_s:.0f} s)")
    if not args.keep:
        shutil.rmtree(work / "base", ignore_errors=True)
    shutil.rmtree(clone, ignore_errors=True)
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
