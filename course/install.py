"""Colab 설치: Colab 이 가진 것은 그대로 두고, 장이 import 하는데 Colab 에 없는 것만 고정 버전으로 설치합니다.

    course.install_chapter("ch02_transformer")   # 부트스트랩 셀 (Colab 에서만 설치, 로컬은 점검만)
    course.install_gpu_set("ch07-quant")         # gpu 셀: requirements-gpu/ch07-quant.txt

규칙 (issue 11 #4, issue 13 #1-#2):
- 장의 세트는 course/chapters.toml, 버전은 하나뿐인 requirements.txt 에서 읽습니다.
- Colab 에 이미 있는 배포판은 Colab 의 버전을 씁니다. 예외는 chapters.toml 의 [colab.upgrades] 한 곳.
- torch/torchvision/torchaudio 와 시험·저작 도구 (jupyterlab, nbval, pytest, ruff ...) 는 설치하지 않습니다.
- 설치 전에 `pip install --dry-run --report -` 로, 커널이 이미 import 한 배포판과 torch 를 고정한 채 풀어 봅니다.
  바꿔야만 풀리면 장 설치는 설치 뒤 "런타임 > 세션 다시 시작" 을 한 번 요청하고 (다시 시작한 뒤 같은 셀은
  아무것도 하지 않음), GPU 세트는 거절합니다 (자기 런타임 세트 `# course: own-runtime` 만 예외).
- pip 의 출력은 셀에 그대로 보이고, 끝에 무엇을 설치했는지 표로 보여 줍니다.

이 모듈은 torch 없이 import 됩니다 (표준 라이브러리만 씀).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
GPU_DIR = ROOT / "requirements-gpu"
CHAPTERS_TOML = Path(__file__).with_name("chapters.toml")
OWN_RUNTIME = "# course: own-runtime"  # GPU 세트 파일 안의 이 줄: torch 를 바꾸는 자기 런타임 세트 (vLLM)
RESTART_MARK_DIR = Path(tempfile.gettempdir()) / "course-install"
NOISE = ("Requirement already satisfied", "Looking in indexes", "Looking in links", "WARNING: Location ")
LINE_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(==\s*([^\s;#]+))?")


class InstallError(RuntimeError):
    """설치를 거절했거나 pip 가 실패했습니다 (메시지는 한국어)."""


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str            # canonical
    extras: str          # "[serving]" or ""
    version: str | None  # "5.23.0" or None
    line: str

    def spec(self, version: str | None = None) -> str:
        version = version or self.version
        return f"{self.name}{self.extras}=={version}" if version else f"{self.name}{self.extras}"


def parse_lines(text: str) -> tuple[list[Pin], list[str]]:
    """requirements 형식의 글 -> (고정 줄, pip 옵션 줄 `--...`)."""
    pins, options = [], []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        m = LINE_RE.match(line)
        if not m:
            raise InstallError(f"읽을 수 없는 요구 사항 줄입니다: {raw!r}")
        pins.append(Pin(canon(m.group(1)), m.group(2) or "", m.group(4), line))
    return pins, options


def requirement_pins(path: Path = REQUIREMENTS) -> dict[str, Pin]:
    return {p.name: p for p in parse_lines(path.read_text(encoding="utf-8"))[0]}


def chapter_config(path: Path = CHAPTERS_TOML) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def chapter_name(chapter_dir: str | os.PathLike) -> str:
    """"ch02_transformer", "/content/repo/ch02_transformer" 또는 "." (장 폴더 안) -> "ch02_transformer"."""
    name = Path(chapter_dir).resolve().name if str(chapter_dir) in (".", "") else Path(chapter_dir).name
    if name not in chapter_config()["chapters"]:
        raise InstallError(f"chapters.toml 에 없는 장입니다: {name!r} (있는 장: {sorted(chapter_config()['chapters'])})")
    return name


# ---------------------------------------------------------------- the running environment

@functools.cache
def _distribution_files(dist: str) -> tuple[str, ...]:
    try:
        return tuple(str(f).replace("\\", "/") for f in md.distribution(dist).files or [])
    except md.PackageNotFoundError:
        return ()


def _distribution_files_under(dist: str, prefix: str) -> bool:
    return any(f.startswith(prefix) for f in _distribution_files(dist))


def module_distributions(module: str, top_level: dict[str, list[str]] | None = None) -> set[str]:
    """import 이름 (점 포함 가능) -> 그것을 주는 배포판 (canonical). 이름공간 패키지는 하위 경로로 가립니다."""
    top_level = md.packages_distributions() if top_level is None else top_level
    parts = module.split(".")
    candidates = {canon(d) for d in top_level.get(parts[0], [])}
    if len(candidates) > 1 and len(parts) > 1:
        prefix = "/".join(parts[:2])
        narrowed = {d for d in candidates if _distribution_files_under(d, prefix + "/")
                    or _distribution_files_under(d, prefix + ".py")}
        if narrowed:
            return narrowed
    return candidates


def imported_distributions(modules=None) -> set[str]:
    """지금 커널이 메모리에 올린 모듈 (sys.modules) 을 배포판 이름으로 (표준 라이브러리 제외)."""
    modules = sys.modules if modules is None else modules
    top_level = md.packages_distributions()
    found: set[str] = set()
    seen_top: set[str] = set()
    for name in list(modules):
        top = name.split(".", 1)[0]
        if top in sys.stdlib_module_names or top not in top_level:
            continue
        if len(top_level[top]) == 1:
            if top not in seen_top:
                seen_top.add(top)
                found.add(canon(top_level[top][0]))
        elif name.count(".") <= 1:
            found |= module_distributions(name, top_level) if "." in name else set()
    return found


def installed_distributions() -> dict[str, str]:
    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(canon(name), dist.version)
    return out


def extra_requirement_names(dist: str, extra: str) -> list[str]:
    """설치된 배포판의 추가 기능 (extra) 이 요구하는 배포판 이름."""
    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        return []
    names = []
    for req in requires:
        if re.search(r"""extra\s*==\s*['"]""" + re.escape(extra) + """['"]""", req):
            m = LINE_RE.match(req)
            if m:
                names.append(canon(m.group(1)))
    return names


def requirement_closure(names, pins: dict[str, Pin] | None = None) -> set[str]:
    """이 요구 사항 이름들과 그 의존성 (requirements.txt 의 extra 포함, 재귀) 의 배포판 이름 (설치된 메타데이터로)."""
    pins = requirement_pins() if pins is None else pins
    todo = [(canon(n), pins[canon(n)].extras if canon(n) in pins else "") for n in names]
    seen: set[tuple[str, str]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        wanted = set(re.findall(r"[A-Za-z0-9_.-]+", extras))
        for req in requires:
            extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", req)
            m = re.match(r"([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?", req)
            if m and (extra is None or extra.group(1) in wanted):
                todo.append((canon(m.group(1)), m.group(2) or ""))
    return {name for name, _ in seen}


def exact_pins_of(dist: str) -> set[str]:
    """배포판이 == 로 고정한 의존성 (Colab 의 google-colab 은 ipykernel, ipython, pandas, tornado, requests)."""
    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        return set()
    return {canon(m.group(1)) for r in requires if "extra ==" not in r
            for m in [re.match(r"([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?\s*\(?\s*==", r)] if m}


@dataclass
class Env:
    """설치 계획에 필요한 환경의 사실 (시험에서는 가짜로 만듭니다)."""
    installed: dict[str, str]
    imported: set[str]
    on_colab: bool
    extras: Callable[[str, str], list[str]] = lambda dist, extra: []
    pid: int = 0
    pinned: set[str] = field(default_factory=set)  # google-colab 이 == 로 고정한 배포판 (ipykernel, pandas ...)

    @classmethod
    def current(cls) -> Env:
        return cls(installed_distributions(), imported_distributions(), "google.colab" in sys.modules,
                   extra_requirement_names, os.getpid(), exact_pins_of("google-colab"))


# ---------------------------------------------------------------- the plan (pure: unit-tested)

@dataclass
class Plan:
    what: str                                   # "ch02_transformer" 또는 "gpu:ch07-quant"
    install: list[str] = field(default_factory=list)          # pip 에 줄 요구 사항
    kept: dict[str, tuple[str, str]] = field(default_factory=dict)  # 이름 -> (Colab 버전, 우리 고정)
    upgrades: dict[str, str] = field(default_factory=dict)    # 요구 사항 -> 이유
    skipped: list[str] = field(default_factory=list)           # 설치하지 않는 도구 / torch 가족
    options: list[str] = field(default_factory=list)           # pip 옵션 (GPU 세트 파일의 `--...`)
    missing_keep: list[str] = field(default_factory=list)      # 있어야 하는데 없는 torch 가족
    own_runtime: bool = False
    keep_versions: list[str] = field(default_factory=list)     # Colab 버전을 그대로 쓰는 장의 배포판


def _satisfied(pin: Pin, version: str | None, env: Env, any_version: bool = False) -> bool:
    if version is None or (not any_version and pin.version and version != pin.version):
        return False
    for extra in re.findall(r"[A-Za-z0-9_.-]+", pin.extras):
        if any(name not in env.installed for name in env.extras(pin.name, extra)):
            return False
    return True


def plan_chapter(chapter: str, env: Env, config: dict | None = None, pins: dict[str, Pin] | None = None) -> Plan:
    config = chapter_config() if config is None else config
    pins = requirement_pins() if pins is None else pins
    colab = config.get("colab", {})
    keep = {canon(n) for n in colab.get("keep", [])}
    never = {canon(n) for n in colab.get("never", [])}
    upgrades = {canon(n): u for n, u in colab.get("upgrades", {}).items() if chapter in u.get("chapters", [])}
    plan = Plan(chapter)
    for raw in config["chapters"][chapter]["packages"]:
        name = canon(raw)
        if name not in pins:
            raise InstallError(f"{chapter}: {raw} 은 requirements.txt 에 고정되어 있지 않습니다.")
        pin, have = pins[name], env.installed.get(name)
        if name in keep:
            plan.skipped.append(name)
            if have is None:
                plan.missing_keep.append(name)
            continue
        if env.on_colab and name in never:
            plan.skipped.append(name)
            continue
        if not env.on_colab or have is None or name in upgrades:
            if name in upgrades and env.on_colab and upgrades[name].get("version"):
                pin = Pin(pin.name, pin.extras, upgrades[name]["version"], pin.line)
            if not _satisfied(pin, have, env):
                plan.install.append(pin.spec())
                if have is not None and name in upgrades:
                    plan.upgrades[pin.spec()] = upgrades[name].get("reason", "")
            continue
        plan.keep_versions.append(name)
        if have != pin.version:
            plan.kept[name] = (have, pin.version or "")
        if not _satisfied(pin, have, env, any_version=True):  # Colab 의 버전 + 추가 기능 (transformers[serving])
            plan.install.append(pin.spec(have))
    return plan


def plan_gpu_set(name: str, env: Env, text: str | None = None) -> Plan:
    path = GPU_DIR / f"{name}.txt"
    if text is None:
        if not path.is_file():
            have = sorted(p.stem for p in GPU_DIR.glob("*.txt"))
            raise InstallError(f"GPU 세트 {name!r} 가 없습니다: {path} (있는 세트: {have})")
        text = path.read_text(encoding="utf-8")
    pins, options = parse_lines(text)
    plan = Plan(f"gpu:{name}", options=options, own_runtime=OWN_RUNTIME in text)
    for pin in pins:
        if pin.version is None:
            raise InstallError(f"GPU 세트 {name}: {pin.line!r} 는 == 로 고정되어야 합니다.")
        if not _satisfied(pin, env.installed.get(pin.name), env):
            plan.install.append(pin.spec())
    return plan


def protected_versions(env: Env, plan: Plan, config: dict | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(torch 가족, 커널이 import 한 배포판) 의 지금 버전: 설치가 바꾸면 안 되는 것."""
    config = chapter_config() if config is None else config
    keep = {canon(n) for n in config.get("colab", {}).get("keep", [])}
    torch_family = {n: v for n, v in env.installed.items() if n in keep}
    imported = {n: env.installed[n] for n in sorted(env.imported | env.pinned)
                if n in env.installed and n not in keep}
    return torch_family, imported


@dataclass
class Resolution:
    ok: bool
    installs: dict[str, str] = field(default_factory=dict)  # 이름 -> 설치될 버전
    error: str = ""


@dataclass
class Decision:
    action: str                                   # "noop" | "install" | "install_restart" | "refuse"
    constraints: dict[str, str] = field(default_factory=dict)
    changes: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # 이름 -> (지금, 설치 후)
    changed_imported: dict[str, tuple[str, str]] = field(default_factory=dict)
    message: str = ""
    error: str = ""


def decide(plan: Plan, env: Env, resolve: Callable[[list[str], dict[str, str], list[str]], Resolution],
           *, allow_restart: bool, config: dict | None = None) -> Decision:
    """드라이런 결과로 설치 여부를 정합니다. resolve(줄, 제약, 옵션) 는 pip 드라이런 (시험에서는 가짜).

    제약을 단계별로 풀어 가며 처음 풀리는 단계를 씁니다: (torch + import 한 것 + Colab 버전을 쓰는 장의 배포판)
    -> (torch + import 한 것) -> (torch) -> 자기 런타임 세트만 (없음). import 한 것이 바뀌는 단계면 다시 시작을
    요청하거나 (allow_restart) 거절하고, torch 는 자기 런타임 세트가 아니면 절대 바꾸지 않습니다."""
    if plan.missing_keep:
        return Decision("refuse", message=f"{', '.join(plan.missing_keep)} 가 설치되어 있지 않습니다. Colab 은 "
                        "torch 를 싣고 옵니다: 런타임 유형을 확인하고 새 런타임에서 다시 실행하세요.")
    if not plan.install:
        return Decision("noop")
    torch_family, imported = protected_versions(env, plan, config)
    loaded = {**imported, **{n: v for n, v in torch_family.items() if n in env.imported}}
    kept = {n: env.installed[n] for n in plan.keep_versions if n in env.installed and n not in imported}
    tiers = [{**torch_family, **imported, **kept}, {**torch_family, **imported}, dict(torch_family)]
    if plan.own_runtime:
        allow_restart = True
        tiers.append({})
    res, used, errors = None, {}, []
    for constraints in tiers:
        if res is not None and constraints == used:
            continue
        res, used = resolve(plan.install, constraints, plan.options), constraints
        if res.ok:
            break
        errors.append(res.error)
    if not res.ok:
        what = "torch 를 바꾸지 않고는" if torch_family and not plan.own_runtime else "어떻게 해도"
        return Decision("refuse", message=f"{plan.what}: {what} pip 가 설치 조합을 풀지 못했습니다. 설치하지 "
                        "않았습니다 (아무것도 바뀌지 않음). 아래 pip 오류를 이슈로 알려 주세요.",
                        error=errors[-1] if errors else "")
    changes = _changes(res, env)
    changed = {n: (loaded[n], new) for n, (old, new) in changes.items() if n in loaded and old != new}
    if not changed:
        return Decision("install", used, changes)
    listing = ", ".join(f"{n} {a} → {b}" for n, (a, b) in sorted(changed.items()))
    if not allow_restart:
        return Decision("refuse", used, changes, changed, error=errors[0] if errors else "", message=(
            f"{plan.what}: 이 설치는 커널이 이미 불러온 패키지를 바꿉니다 ({listing}). 실행 중인 커널 아래에서 "
            "바꾸면 import 가 깨지므로 설치하지 않았습니다. 새 런타임의 첫 셀에서 실행하세요."))
    return Decision("install_restart", used, changes, changed, message=(
        f"{plan.what}: 커널이 이미 불러온 패키지가 바뀌었습니다 ({listing}). 메뉴에서 \"런타임 > 세션 다시 시작\" 을 "
        "한 번 누르고 이 셀부터 다시 실행하세요. 다시 시작한 뒤에는 이 셀이 아무것도 설치하지 않습니다."))


def _changes(res: Resolution, env: Env) -> dict[str, tuple[str | None, str]]:
    return {n: (env.installed.get(n), v) for n, v in sorted(res.installs.items()) if env.installed.get(n) != v}


# ---------------------------------------------------------------- pip (real)

def _write(lines: list[str], suffix: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return fh.name


def pip_args(lines: list[str], constraints: dict[str, str], options: list[str]) -> list[str]:
    args = ["-r", _write(lines, ".txt")]
    if constraints:
        args += ["-c", _write([f"{n}=={v}" for n, v in sorted(constraints.items())], ".txt")]
    for opt in options:
        args += opt.split()
    return args


def pip_resolve(lines: list[str], constraints: dict[str, str], options: list[str],
                python: str = sys.executable) -> Resolution:
    cmd = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", "--no-input",
           "--disable-pip-version-check", *pip_args(lines, constraints, options)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return Resolution(False, error=(proc.stderr or proc.stdout).strip())
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    return Resolution(True, {canon(item["metadata"]["name"]): item["metadata"]["version"]
                             for item in report.get("install", [])})


def pip_install(lines: list[str], constraints: dict[str, str], options: list[str],
                python: str = sys.executable, echo: Callable[[str], None] = print) -> int:
    """pip 를 실행하고 출력을 한 줄씩 셀에 보여 줍니다 (Colab 은 하위 프로세스 출력을 셀에 안 보여 줌)."""
    cmd = [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
           *pip_args(lines, constraints, options)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    quiet = 0
    for line in proc.stdout:
        if line.startswith(NOISE):  # pip 이 "이미 있음" 을 줄마다 알립니다: 세어서 한 줄로
            quiet += 1
            continue
        echo(line.rstrip("\n"))
    if quiet:
        echo(f"(이미 설치되어 있어 그대로 둔 요구 사항 {quiet}줄 생략)")
    return proc.wait()


# ---------------------------------------------------------------- restart marker

def _mark_path(what: str) -> Path:
    return RESTART_MARK_DIR / (re.sub(r"[^A-Za-z0-9_.-]", "_", what) + ".json")


def pending_restart(what: str, pid: int) -> dict | None:
    """이 커널 (pid) 에서 설치 뒤 아직 다시 시작하지 않았으면 그때 바뀐 것; 다시 시작했으면 표시를 지웁니다."""
    path = _mark_path(what)
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if mark.get("pid") == pid:
        return mark
    path.unlink(missing_ok=True)
    return None


def mark_restart(what: str, pid: int, changed: dict) -> None:
    RESTART_MARK_DIR.mkdir(parents=True, exist_ok=True)
    _mark_path(what).write_text(json.dumps({"pid": pid, "changed": changed}), encoding="utf-8")


# ---------------------------------------------------------------- the two entry points

def _show_plan(plan: Plan, echo) -> None:
    for name, (have, pinned) in sorted(plan.kept.items()):
        echo(f"  Colab 버전 유지: {name} {have} (저장소 고정 {pinned})")
    for line, reason in plan.upgrades.items():
        echo(f"  올림: {line} — {reason}")


def _run(plan: Plan, env: Env, *, allow_restart: bool, resolve=pip_resolve, install=pip_install,
         echo: Callable[[str], None] = print) -> Decision:
    start = time.perf_counter()
    pending = pending_restart(plan.what, env.pid)
    if pending:
        echo(f"{plan.what}: 설치는 끝났지만 세션을 아직 다시 시작하지 않았습니다. \"런타임 > 세션 다시 시작\" 을 "
             "한 번 누르고 이 셀부터 다시 실행하세요.")
        return Decision("install_restart", changed_imported=pending.get("changed", {}))
    decision = decide(plan, env, resolve, allow_restart=allow_restart)
    if decision.action == "noop":
        kept = f" (Colab 버전 유지 {len(plan.kept)}개)" if plan.kept else ""
        echo(f"{plan.what}: 필요한 패키지가 모두 있습니다{kept}. 설치할 것 없음 ({time.perf_counter() - start:.1f}초).")
        return decision
    if decision.action == "refuse":
        echo(decision.message)
        if decision.error:
            echo(decision.error[-3000:])
        raise InstallError(decision.message)
    echo(f"{plan.what}: {len(plan.install)}개 요구 사항 설치 (pip 출력이 아래에 이어집니다)")
    _show_plan(plan, echo)
    rc = install(plan.install, decision.constraints, plan.options)
    importlib.invalidate_caches()
    if rc != 0:
        message = f"{plan.what}: pip 설치가 실패했습니다 (종료 코드 {rc}). 위의 pip 오류를 확인하세요."
        echo(message)
        raise InstallError(message)
    echo(f"{plan.what}: 설치 끝 ({time.perf_counter() - start:.0f}초). 바뀐 배포판:")
    for name, (old, new) in decision.changes.items():
        echo(f"  {name:32s} {old or '(없음)':>14s} → {new}")
    if decision.action == "install_restart":
        mark_restart(plan.what, env.pid, decision.changed_imported)
        echo(decision.message)
    return decision


def install_chapter(chapter_dir: str | os.PathLike, *, env: Env | None = None, **kw) -> Decision:
    """장의 부트스트랩: Colab 에서는 빠진 것만 설치, 그 밖 (로컬·CI) 에서는 빠진 것을 알려 주기만 합니다."""
    env = Env.current() if env is None else env
    chapter = chapter_name(chapter_dir)
    plan = plan_chapter(chapter, env)
    if not env.on_colab:
        if plan.install:
            print(f"{chapter}: 이 환경에 없는 고정 버전 {len(plan.install)}개: {', '.join(plan.install)}\n"
                  "  로컬에서는 `make venv` (requirements.txt 전체) 로 맞추세요. 여기서는 설치하지 않습니다.")
        return Decision("noop")
    return _run(plan, env, allow_restart=True, **kw)


def install_gpu_set(name: str, *, env: Env | None = None, **kw) -> Decision:
    """requirements-gpu/NAME.txt 를 설치합니다. torch 나 커널이 import 한 패키지를 바꿔야 하면 거절합니다."""
    env = Env.current() if env is None else env
    return _run(plan_gpu_set(name, env), env, allow_restart=False, **kw)
