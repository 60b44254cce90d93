"""course/install.py: the install plan (which lines, which refused, restart logic) in a fake environment,
and the chapter sets against what the notebooks really import. No network, no real install."""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
from pathlib import Path

import nbformat
import pytest

from course import install as ci
from course.install import Env, InstallError, Resolution

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "chapters": {"chx": {"packages": ["torch", "numpy", "transformers", "koreanize-matplotlib", "pytest",
                                      "datasets"]}},
    "colab": {"keep": ["torch"], "never": ["pytest"],
              "upgrades": {"datasets": {"chapters": ["chx"], "reason": "needs new datasets"}}},
}
PINS = {p.name: p for p in ci.parse_lines(
    "torch==2.13.0\nnumpy==2.4.6\ntransformers[serving]==5.23.0\nkoreanize-matplotlib==0.1.1\n"
    "pytest==9.2.0\ndatasets==5.2.0\n")[0]}
COLAB = {"torch": "2.11.0+cu128", "numpy": "2.1.3", "transformers": "5.15.0", "datasets": "4.0.0",
         "pytest": "8.4.2", "fastapi": "0.1"}


def colab_env(**kw) -> Env:
    extras = {("transformers", "serving"): ["fastapi", "uvicorn"]}
    base = {"installed": dict(COLAB), "imported": {"numpy"}, "on_colab": True,
            "extras": lambda d, e: extras.get((d, e), []), "pid": 42}
    base.update(kw)
    return Env(**base)


def plan(env=None):
    return ci.plan_chapter("chx", env or colab_env(), CONFIG, PINS)


# ---------------------------------------------------------------- the plan

def test_parse_lines_reads_pins_extras_and_options():
    pins, options = ci.parse_lines("# c\nFoo_Bar[x,y]==1.0 ; python_version>'3'\n--no-build-isolation\nbaz==2\n")
    assert [(p.name, p.extras, p.version) for p in pins] == [("foo-bar", "[x,y]", "1.0"), ("baz", "", "2")]
    assert options == ["--no-build-isolation"]
    with pytest.raises(InstallError):
        ci.parse_lines("=== nonsense")


def test_colab_plan_keeps_colab_versions_installs_only_missing_and_listed_upgrades():
    p = plan()
    # koreanize is missing -> pinned; transformers kept at Colab's version but its [serving] extra is missing
    # (uvicorn) -> the Colab version with the extra; datasets is a listed upgrade; torch and pytest never.
    assert p.install == ["transformers[serving]==5.15.0", "koreanize-matplotlib==0.1.1", "datasets==5.2.0"]
    assert p.kept == {"numpy": ("2.1.3", "2.4.6"), "transformers": ("5.15.0", "5.23.0")}
    assert p.upgrades == {"datasets==5.2.0": "needs new datasets"}
    assert set(p.skipped) == {"torch", "pytest"}
    assert not any(line.startswith(("torch", "pytest")) for line in p.install)


def test_plan_is_empty_once_everything_is_there():
    installed = {**COLAB, "uvicorn": "1", "koreanize-matplotlib": "0.1.1", "datasets": "5.2.0"}
    assert plan(colab_env(installed=installed)).install == []


def test_off_colab_plan_wants_the_exact_pins_and_no_kept_versions():
    p = plan(colab_env(on_colab=False))
    assert "numpy==2.4.6" in p.install and "transformers[serving]==5.23.0" in p.install
    assert "pytest==9.2.0" in p.install and p.kept == {}


def test_missing_torch_is_refused_not_installed():
    installed = {k: v for k, v in COLAB.items() if k != "torch"}
    p = plan(colab_env(installed=installed))
    assert p.missing_keep == ["torch"]
    d = ci.decide(p, colab_env(installed=installed), lambda *a: pytest.fail("pip must not run"),
                  allow_restart=True, config=CONFIG)
    assert d.action == "refuse" and "torch" in d.message


def test_unknown_chapter_package_is_a_clear_error():
    bad = {"chapters": {"chx": {"packages": ["not-pinned"]}}, "colab": {}}
    with pytest.raises(InstallError, match="requirements.txt"):
        ci.plan_chapter("chx", colab_env(), bad, PINS)


def test_gpu_set_plan_needs_exact_pins_and_reads_options(tmp_path):
    p = ci.plan_gpu_set("x", colab_env(), "# c\n--no-build-isolation\nmamba-ssm==2.3.1\nnumpy==2.1.3\n")
    assert p.install == ["mamba-ssm==2.3.1"] and p.options == ["--no-build-isolation"] and not p.own_runtime
    assert ci.plan_gpu_set("v", colab_env(), f"{ci.OWN_RUNTIME}\nvllm==1\n").own_runtime
    with pytest.raises(InstallError, match="=="):
        ci.plan_gpu_set("x", colab_env(), "mamba-ssm>=2\n")
    with pytest.raises(InstallError, match="없습니다"):
        ci.install_gpu_set("no-such-set", env=colab_env())


# ---------------------------------------------------------------- decide: refuse / install / restart

class FakePip:
    """resolve(lines, constraints, options): succeeds unless a constraint pins a name to a version != wanted."""

    def __init__(self, wants: dict[str, str]):
        self.wants, self.calls = wants, []

    def __call__(self, lines, constraints, options):
        self.calls.append(dict(constraints))
        clash = [n for n, v in constraints.items() if n in self.wants and self.wants[n] != v]
        if clash:
            return Resolution(False, error=f"ResolutionImpossible: {clash}")
        return Resolution(True, dict(self.wants))


def test_decide_installs_when_constrained_resolution_changes_nothing_protected():
    pip = FakePip({"koreanize-matplotlib": "0.1.1"})
    d = ci.decide(plan(), colab_env(), pip, allow_restart=True, config=CONFIG)
    assert d.action == "install"
    # torch, every imported dist, and the chapter's distributions kept at Colab's version
    assert pip.calls == [{"torch": "2.11.0+cu128", "numpy": "2.1.3", "transformers": "5.15.0"}]
    assert d.changes == {"koreanize-matplotlib": (None, "0.1.1")}


def test_decide_lets_a_kept_unimported_package_move_only_when_it_must():
    pip = FakePip({"transformers": "5.23.0"})
    d = ci.decide(plan(), colab_env(), pip, allow_restart=True, config=CONFIG)
    assert d.action == "install" and d.changes == {"transformers": ("5.15.0", "5.23.0")}
    assert pip.calls[-1] == {"torch": "2.11.0+cu128", "numpy": "2.1.3"}


def test_decide_asks_for_one_restart_when_an_imported_package_must_change():
    pip = FakePip({"numpy": "2.4.6", "koreanize-matplotlib": "0.1.1"})
    d = ci.decide(plan(), colab_env(), pip, allow_restart=True, config=CONFIG)
    assert d.action == "install_restart" and d.changed_imported == {"numpy": ("2.1.3", "2.4.6")}
    assert pip.calls[-1] == {"torch": "2.11.0+cu128"}  # the last try still keeps torch pinned
    assert "세션 다시 시작" in d.message


def test_gpu_set_refuses_a_change_to_an_imported_package():
    pip = FakePip({"numpy": "2.2.6"})
    p = ci.plan_gpu_set("q", colab_env(), "gptqmodel==7.0.0\n")
    d = ci.decide(p, colab_env(), pip, allow_restart=False, config=CONFIG)
    assert d.action == "refuse" and "numpy 2.1.3 → 2.2.6" in d.message


def test_what_google_colab_pins_is_protected_like_an_import():
    pip = FakePip({"pandas": "3.1.1"})
    env = colab_env(installed={**COLAB, "pandas": "2.2.3"}, pinned={"pandas"})
    d = ci.decide(ci.plan_gpu_set("x", env, "foo==1\n"), env, pip, allow_restart=False, config=CONFIG)
    assert d.action == "refuse" and "pandas 2.2.3 → 3.1.1" in d.message


def test_exact_pins_of_reads_requires_dist(monkeypatch):
    monkeypatch.setattr(ci.md, "requires", lambda d: ["pandas==2.2.3", "requests (==2.32.4)", "six>=1",
                                                      "pytest==8; extra == 'test'"])
    assert ci.exact_pins_of("google-colab") == {"pandas", "requests"}


def test_a_change_to_torch_is_always_refused():
    pip = FakePip({"torch": "2.14.0"})
    for allow in (True, False):
        d = ci.decide(plan(), colab_env(), pip, allow_restart=allow, config=CONFIG)
        assert d.action == "refuse" and "torch" in d.message and "ResolutionImpossible" in d.error


def test_own_runtime_set_may_change_torch_and_asks_for_restart():
    pip = FakePip({"torch": "2.14.0", "vllm": "1"})
    p = ci.plan_gpu_set("vllm", colab_env(), f"{ci.OWN_RUNTIME}\nvllm==1\n")
    d = ci.decide(p, colab_env(imported={"torch", "numpy"}), pip, allow_restart=False, config=CONFIG)
    assert d.action == "install_restart" and pip.calls[-1] == {}  # torch moves only in the last, free try
    assert d.changed_imported == {"torch": ("2.11.0+cu128", "2.14.0")}


def test_run_streams_installs_marks_restart_and_the_rerun_is_a_noop(tmp_path, monkeypatch):
    monkeypatch.setattr(ci, "RESTART_MARK_DIR", tmp_path)
    monkeypatch.setattr(ci, "chapter_config", lambda path=None: CONFIG)
    out, installed_lines = [], []

    def fake_install(lines, constraints, options):
        installed_lines.extend(lines)
        out.append("Successfully installed numpy-2.4.6")
        return 0

    p = plan()
    pip = FakePip({"numpy": "2.4.6"})
    d = ci._run(p, colab_env(), allow_restart=True, resolve=pip, install=fake_install, echo=out.append)
    assert d.action == "install_restart" and installed_lines == p.install
    assert any("세션 다시 시작" in line for line in out)
    # same kernel (same pid): pip is not run again, the restart request is repeated
    d2 = ci._run(p, colab_env(), allow_restart=True, resolve=lambda *a: pytest.fail("no pip"),
                 install=lambda *a: pytest.fail("no pip"), echo=out.append)
    assert d2.action == "install_restart"
    # after the restart (new pid) with everything installed: a no-op that runs no pip at all
    done = {**COLAB, "uvicorn": "1", "koreanize-matplotlib": "0.1.1", "datasets": "5.2.0", "numpy": "2.4.6"}
    env = colab_env(installed=done, pid=43)
    d3 = ci._run(plan(env), env, allow_restart=True, resolve=lambda *a: pytest.fail("no pip"),
                 install=lambda *a: pytest.fail("no pip"), echo=out.append)
    assert d3.action == "noop" and not list(tmp_path.iterdir())


def test_run_reports_a_pip_failure_as_a_korean_error(monkeypatch):
    monkeypatch.setattr(ci, "chapter_config", lambda path=None: CONFIG)
    out = []
    with pytest.raises(InstallError, match="실패"):
        ci._run(plan(), colab_env(pid=7), allow_restart=True, resolve=FakePip({}),
                install=lambda *a: 1, echo=out.append)
    with pytest.raises(InstallError, match="torch"):
        ci._run(plan(), colab_env(pid=7), allow_restart=True, resolve=FakePip({"torch": "9"}),
                install=lambda *a: pytest.fail("refused: no install"), echo=out.append)
    assert any("ResolutionImpossible" in line for line in out)  # pip's own error is shown


def test_install_chapter_off_colab_installs_nothing(capsys):
    env = Env(installed={}, imported=set(), on_colab=False)
    d = ci.install_chapter("ch02_transformer", env=env, resolve=lambda *a: pytest.fail("no pip"))
    assert d.action == "noop" and "make venv" in capsys.readouterr().out
    with pytest.raises(InstallError, match="chapters.toml"):
        ci.install_chapter("ch99_nothing", env=env)


def test_install_is_importable_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import course.install as m; "
            "assert callable(m.install_chapter) and callable(m.install_gpu_set)")
    import subprocess
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_pip_resolve_parses_a_report(monkeypatch):
    class P:
        returncode, stderr = 0, ""
        stdout = '{"install": [{"metadata": {"name": "Koreanize_Matplotlib", "version": "0.1.1"}}]}'
    monkeypatch.setattr(ci.subprocess, "run", lambda *a, **k: P())
    assert ci.pip_resolve(["koreanize-matplotlib==0.1.1"], {"numpy": "2.1.3"}, []).installs == {
        "koreanize-matplotlib": "0.1.1"}


# ---------------------------------------------------------------- the real chapter sets

def _imports(source: str) -> set[str]:
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%"))))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
    return found


def chapter_imports(chapter: Path, tagged: bool) -> set[str]:
    """Modules that the chapter notebook (untagged cells, or only `gpu` cells) and its helpers import."""
    sources = []
    for nb_path in chapter.glob("*.ipynb"):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if cell.cell_type == "code" and ("gpu" in cell.metadata.get("tags", [])) == tagged:
                sources.append(cell.source)
    if not tagged:
        sources += [p.read_text(encoding="utf-8") for p in chapter.glob("*.py")]
    local = {p.stem for p in chapter.glob("*.py")} | {p.name for p in ROOT.iterdir() if p.is_dir()}
    mods = set().union(*map(_imports, sources)) if sources else set()
    return {m for m in mods if m.split(".")[0] not in sys.stdlib_module_names | local | {"google"}}


closure = ci.requirement_closure


CHAPTERS = sorted(p for p in ROOT.glob("ch*_*") if (p / f"{p.name.split('_')[0]}.ipynb").is_file())


def test_every_chapter_folder_has_a_set():
    assert {p.name for p in CHAPTERS} == set(ci.chapter_config()["chapters"])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_set_covers_what_the_chapter_imports(chapter):
    config = ci.chapter_config()["chapters"][chapter.name]
    pins = ci.requirement_pins()
    assert set(map(ci.canon, config["packages"])) <= set(pins), "chapter sets name requirements.txt lines"
    have = closure(config["packages"])
    top = md.packages_distributions()
    missing = {}
    for module in sorted(chapter_imports(chapter, tagged=False)):
        dists = ci.module_distributions(module, top)
        if not dists:
            missing[module] = "no installed distribution"
        elif not dists & have:
            missing[module] = sorted(dists)
    assert not missing, f"{chapter.name}: imported but not in its chapter set: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_gpu_cells_import_only_from_their_chapter_and_gpu_sets(chapter):
    config = ci.chapter_config()["chapters"][chapter.name]
    sets = config.get("gpu_sets", [])
    gpu_names = set()
    for name in sets:
        path = ci.GPU_DIR / f"{name}.txt"
        if path.is_file():
            gpu_names |= {p.name for p in ci.parse_lines(path.read_text(encoding="utf-8"))[0]}
    have = closure(config["packages"]) | gpu_names
    top = md.packages_distributions()
    missing = []
    for module in sorted(chapter_imports(chapter, tagged=True)):
        dists = ci.module_distributions(module, top)
        guess = ci.canon(module.split(".")[0])  # not installed here (GPU only): the distribution's usual name
        if not (dists & have or guess in gpu_names or guess.replace("-", "") in {n.replace("-", "") for n in gpu_names}):
            missing.append(module)
    assert not missing, f"{chapter.name}: gpu cells import {missing}, in no set of {['packages', *sets]}"


def test_no_chapter_set_names_an_authoring_tool():
    never = set(ci.chapter_config()["colab"]["never"])
    for name, chapter in ci.chapter_config()["chapters"].items():
        assert not never & set(chapter["packages"]), name


def test_every_chapter_gpu_set_exists_and_is_pinned():
    for chapter, conf in ci.chapter_config()["chapters"].items():
        for name in conf.get("gpu_sets", []):
            path = ci.GPU_DIR / f"{name}.txt"
            assert path.is_file(), f"{chapter}: requirements-gpu/{name}.txt is missing"
            pins, _ = ci.parse_lines(path.read_text(encoding="utf-8"))
            assert pins and all(p.version for p in pins), f"{name}: every line pinned with =="
