"""Every GPU set resolves with Colab's GPU runtime (issue 13 #2): pip's resolver, nothing installed.

Marked `registry` (needs the package index) and skipped unless COURSE_REGISTRY=1: the isolated test run never
reaches the network; CI runs it in the install phase (`make gpu-sets`).

For each chapter that lists a set in course/chapters.toml `gpu_sets`, the kernel is modelled as Colab's GPU
runtime (../shared/colab/colab-gpu-pip-freeze.txt: Python 3.13, torch 2.11.0+cu128) after the chapter's own
bootstrap (course.install.plan_chapter against that freeze). Step 1 resolves the bootstrap's lines; step 2 resolves
the GPU set with constraints on torch, on what Colab imported at start, on the chapter's distributions (kept or
just installed) and their dependencies: a conflict fails, and so would any change to torch.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from course import install as ci
from tools import colab_model

pytestmark = [pytest.mark.registry, pytest.mark.skipif(
    os.environ.get("COURSE_REGISTRY") != "1",
    reason="needs the package registry: `make gpu-sets` (COURSE_REGISTRY=1) in CI's install phase")]

ROOT = Path(__file__).resolve().parents[1]
FREEZE = ROOT.parent / "shared" / "colab" / "colab-gpu-pip-freeze.txt"
PRELOADED = ["numpy", "pillow", "matplotlib", "ipywidgets",  # imported when Colab's first cell runs
             "ipykernel", "ipython", "pandas", "tornado", "requests"]  # pinned == by google-colab (not on PyPI)
COLAB_TORCH = "2.11.0"
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]  # Colab: glibc 2.35
TARGET = ["--python-version", "3.13", "--implementation", "cp", "--abi", "cp313", "--abi", "abi3", "--abi", "none",
          *[x for p in PLATFORMS for x in ("--platform", p)], "--only-binary=:all:"]
SDIST_ENV = {"MAMBA_SKIP_CUDA_BUILD": "TRUE", "CAUSAL_CONV1D_SKIP_CUDA_BUILD": "TRUE", "BUILD_CUDA_EXT": "0"}


def registry_env() -> dict[str, str]:
    """The environment for pip in this networked phase: without the smoke world's in-kernel network guard."""
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_NETGUARD", "COURSE_NETGUARD_LOG")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and not p.rstrip("/").endswith("world/site"))
    env["COURSE_NETGUARD"] = "0"
    return env


def colab_freeze(path: Path = FREEZE) -> dict[str, str]:
    if not path.is_file():
        pytest.skip(f"Colab's published freeze is not here: {path}")
    return colab_model.colab_freeze(path)


def gpu_sets() -> dict[str, list[str]]:
    """set name -> chapters using it (every file in requirements-gpu/, used or not)."""
    chapters = ci.chapter_config()["chapters"]
    return {p.stem: sorted(c for c, conf in chapters.items() if p.stem in conf.get("gpu_sets", []))
            for p in sorted(ci.GPU_DIR.glob("*.txt"))}


def sdist_requirements(spec: str, workdir: Path) -> list[str]:
    """Requires-Dist of a source-only release (its PKG-INFO), to resolve what it declares for Python 3.13."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "-q", "-d", str(workdir), spec], check=True,
                   env={**registry_env(), **SDIST_ENV}, capture_output=True, text=True)
    name = ci.canon(spec.split("==")[0]).replace("-", "_")
    archive = next(p for p in workdir.iterdir() if ci.canon(p.name).replace("-", "_").startswith(name))
    with tarfile.open(archive) as tar:
        info = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
        text = tar.extractfile(info).read().decode()
    reqs = re.findall(r"^Requires-Dist: (.+)$", text, re.MULTILINE)
    return [r for r in reqs if "extra ==" not in r]


def resolve(lines: list[str], constraints: dict[str, str], options=()) -> tuple[int, dict, str]:
    """pip install --dry-run --ignore-installed --report for Colab's Python/platform. -> (rc, name->version, err)."""
    with tempfile.TemporaryDirectory() as tmp:
        req, con = Path(tmp, "req.txt"), Path(tmp, "con.txt")
        req.write_text("\n".join(lines) + "\n")
        con.write_text("\n".join(f"{n}=={v}" for n, v in sorted(constraints.items())) + "\n")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
               "--no-input", *TARGET, *[o for o in options if o != "--no-build-isolation"], "-r", str(req),
               "-c", str(con)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=registry_env())
    if proc.returncode:
        return proc.returncode, {}, proc.stderr[-4000:]
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    return 0, {ci.canon(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}, ""


def set_lines(name: str, workdir: Path) -> tuple[list[str], list[str], bool]:
    """(lines to resolve, pip options, own runtime?) of requirements-gpu/NAME.txt. A line commented `sdist-only`
    (no wheel on PyPI) is replaced by what its sdist declares."""
    text = (ci.GPU_DIR / f"{name}.txt").read_text(encoding="utf-8")
    lines = []
    for raw in text.splitlines():
        body = raw.split("#", 1)[0].strip()
        if not body or body.startswith("-"):
            continue
        (pin,), _ = ci.parse_lines(body)
        lines += sdist_requirements(pin.spec(), workdir) if "sdist-only" in raw else [pin.spec()]
    return lines, ci.parse_lines(text)[1], ci.OWN_RUNTIME in text


@functools.cache
def _kernel(chapter: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    kernel, lines = _kernel_after_bootstrap(chapter, colab_freeze())
    return tuple(sorted(kernel.items())), tuple(lines)


def kernel_after_bootstrap(chapter: str, freeze: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    if freeze == colab_freeze():  # resolved once per chapter and session
        kernel, lines = _kernel(chapter)
        return dict(kernel), list(lines)
    return _kernel_after_bootstrap(chapter, freeze)


def _kernel_after_bootstrap(chapter: str, freeze: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Versions in the chapter's kernel on Colab GPU after its bootstrap (what the GPU cell must not change: the
    chapter's distributions and their dependencies, torch, what Colab imported), and the bootstrap's own lines."""
    env = ci.Env(installed=dict(freeze), imported=set(PRELOADED), on_colab=True,
                 extras=ci.extra_requirement_names)
    plan = ci.plan_chapter(chapter, env)
    base = {"torch": COLAB_TORCH, **{n: freeze[n] for n in PRELOADED if n in freeze}}
    kept = {n: freeze[n] for n in plan.keep_versions if n in freeze}  # as the installer's first try
    installs = {}
    if plan.install:
        rc, installs, err = resolve(plan.install, {**kept, **base})
        assert rc == 0, f"{chapter}: its bootstrap does not resolve on Colab GPU:\n{err}"
    kernel = {**freeze, **installs}
    closure = ci.requirement_closure(ci.chapter_config()["chapters"][chapter]["packages"]) | set(installs)
    return {**{n: kernel[n] for n in closure if n in kernel and n != "torch"}, **base}, plan.install


def check_set(name: str, chapters: list[str], freeze: dict[str, str], workdir: Path) -> list[str]:
    lines, options, own = set_lines(name, workdir)
    rows = []
    for chapter in chapters or [None]:
        if own or chapter is None:  # its own runtime: fresh Colab, only what Colab imported at start
            constraints = {n: freeze[n] for n in PRELOADED if n in freeze}
            if not own:
                constraints["torch"] = COLAB_TORCH
        else:
            constraints, _ = kernel_after_bootstrap(chapter, freeze)
        rc, installs, err = resolve(lines, constraints, options)
        assert rc == 0, f"GPU set {name} ({chapter or 'own runtime'}) does not resolve:\n{err}"
        torch = installs.get("torch", COLAB_TORCH)
        if not own:
            assert torch.split("+")[0] == COLAB_TORCH, f"{name} would change torch to {torch}"
        # torch resolved from PyPI brings its CUDA 13 runtime wheels; Colab's torch is already installed
        torch_deps = ("nvidia-", "cuda-", "triton")
        new = {n: v for n, v in installs.items() if freeze.get(n) != v and constraints.get(n) != v
               and not (n.startswith(torch_deps) and torch.split("+")[0] == COLAB_TORCH)}
        rows.append(f"{name:16s} {chapter or '(own runtime)':26s} torch {torch:10s} adds/changes: "
                    + ", ".join(f"{n}=={v}" for n, v in sorted(new.items())))
    return rows


@pytest.mark.parametrize("name", sorted(gpu_sets()))
def test_gpu_set_resolves_with_colab_torch_and_the_chapter_kernel(name, tmp_path):
    rows = check_set(name, gpu_sets()[name], colab_freeze(), tmp_path)
    print("\n" + "\n".join(rows))


@pytest.mark.parametrize("planted", ["numpy==2.2.6", "torch==2.14.0", "transformers==5.23.0"])
def test_a_planted_conflicting_pin_fails(planted, tmp_path, monkeypatch):
    """A pin that would move Colab's imported numpy or its torch makes the resolver check fail."""
    monkeypatch.setattr(ci, "GPU_DIR", tmp_path)
    (tmp_path / "planted.txt").write_text(f"{planted}\n")
    with pytest.raises(AssertionError, match="does not resolve|change torch"):
        check_set("planted", ["ch07_quantization"], colab_freeze(), tmp_path)
