"""pytest plugin of the smoke world (loaded by the root conftest.py).

- sets the smoke-world environment before collection, so every notebook kernel inherits it;
- builds the stand-ins and starts the local OpenAI-compatible server once notebooks are collected;
- turns the `gpu` and `needs-key` cell tags into skips with reasons (`-m gpu` selects GPU cells and the cells before them);
- prints a per-notebook table (cells run / skipped / failed, seconds); any blocked connection fails the run.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.world import server as world_server

SITE_DIR = Path(__file__).parent / "site"
_state: dict = {"original_env": {}, "server": None, "world_needed": False,
               "stats": defaultdict(lambda: {"run": 0, "passed": 0, "skipped": 0, "failed": 0, "seconds": 0.0})}


def _tiktoken_cache() -> str:
    import llama_index.core

    return str(Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache")


def smoke_environment(world_dir: Path, port: int) -> dict[str, str]:
    """Everything a notebook kernel needs to run in the smoke world."""
    return {
        "HF_HOME": str(world_dir),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TOKENIZERS_PARALLELISM": "false",
        # one thread per process: tiny models gain nothing from more, and the kernel, the server and
        # (with xdist) a second worker share two cores; oversubscription made tiny forwards ~10x slower
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "COURSE_QUICK": "1",
        "TIKTOKEN_CACHE_DIR": _tiktoken_cache(),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "OPENAI_API_KEY": "smoke-world-local-key",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join([str(SITE_DIR)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        "COURSE_NETGUARD": "1",
        "COURSE_NETGUARD_LOG": str(world_dir / "netguard.log"),
    }


def pytest_configure(config):
    _state["original_env"] = dict(os.environ)
    if not os.environ.get("COURSE_WORLD_DIR"):  # xdist workers inherit this and share one world (locked)
        os.environ["COURSE_WORLD_DIR"] = tempfile.mkdtemp(prefix="course-world-")
        _state["remove_world"] = True
    world_dir = Path(os.environ["COURSE_WORLD_DIR"]).resolve()
    world_dir.mkdir(parents=True, exist_ok=True)
    _state["world_dir"] = world_dir
    _state["port"] = world_server.free_port()
    os.environ.update(smoke_environment(world_dir, _state["port"]))
    Path(os.environ["COURSE_NETGUARD_LOG"]).unlink(missing_ok=True)  # report this session's attempts only
    load_guard().install()  # the same guard every kernel loads through PYTHONPATH


def load_guard():
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_netguard", SITE_DIR / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell_tags(item) -> list[str]:
    cell = getattr(item, "cell", None)
    return list(cell.get("metadata", {}).get("tags", [])) if cell is not None else []


def key_names(tags: list[str]) -> list[str]:
    return [t.split(":", 1)[1] for t in tags if t.startswith("key:")]


def skip_reason(tags: list[str], cuda: bool, original_env: dict) -> str | None:
    """Why a tagged notebook cell cannot run here (None: it runs)."""
    if "gpu" in tags and not cuda:
        return "gpu 셀: CUDA 가 없어 건너뜀 (needs CUDA)"
    if "needs-key" in tags:
        names = key_names(tags)
        missing = [k for k in names if not original_env.get(k)] if names else ["key:?"]
        if missing:
            return f"needs-key 셀: {', '.join(missing)} 가 없어 건너뜀 (needs a real account)"
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(session, config, items):
    cuda = any("gpu" in _cell_tags(item) for item in items) and _cuda_available()  # torch only if needed
    last_gpu_cell = {}  # notebook -> index of its last gpu cell
    for index, item in enumerate(items):
        if "gpu" in _cell_tags(item):
            last_gpu_cell[item.parent] = index
    for index, item in enumerate(items):
        tags = _cell_tags(item)
        if hasattr(item, "cell"):
            _state["world_needed"] = True
        if item.get_closest_marker("world"):
            _state["world_needed"] = True
        if index <= last_gpu_cell.get(getattr(item, "parent", None), -1):
            item.add_marker(pytest.mark.gpu)  # `-m gpu`: the gpu cells and the cells they build on
        if "needs-key" in tags:
            item.add_marker(pytest.mark.needs_key)
        reason = skip_reason(tags, cuda, _state["original_env"])
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_finish(session):
    if not _state["world_needed"] or session.config.option.collectonly:
        return
    from tests.world.build import ensure_world

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    say = (lambda msg: reporter.write_line(msg)) if reporter else print
    start = time.perf_counter()
    ensure_world(_state["world_dir"], log=say)
    say(f"smoke world ready in {time.perf_counter() - start:.1f}s at {_state['world_dir']}")
    start = time.perf_counter()
    _state["server"] = world_server.start(_state["port"], _server_log())
    say(f"OpenAI-compatible server on 127.0.0.1:{_state['port']} ready in {time.perf_counter() - start:.1f}s")


def _server_log() -> Path:
    return _state["world_dir"] / f"server-{_state['port']}.log"


def pytest_sessionfinish(session, exitstatus):
    if _state["server"] is not None:
        world_server.stop(_state["server"])
        _state["server"] = None
    if blocked_attempts() and not hasattr(session.config, "workerinput"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # zero non-loopback connections, or the run fails


def pytest_unconfigure(config):
    if _state.get("remove_world"):
        import shutil

        shutil.rmtree(_state["world_dir"], ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and hasattr(item, "cell"):
        log = _server_log()
        if log.exists():
            report.sections.append(("smoke-world server log (tail)", world_server.tail(log)))


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if not path.endswith(".ipynb"):
        return
    row = _state["stats"][path]
    if report.when == "call":
        row["run"] += 1
        row["passed" if report.passed else "failed"] += 1
    elif report.when == "setup" and report.skipped:
        row["skipped"] += 1
    elif report.failed:
        row["failed"] += 1
    row["seconds"] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = _state["stats"]
    if stats:
        tr = terminalreporter
        tr.section("notebook time table (smoke world)")
        tr.write_line(f"{'notebook':45s} {'run':>5s} {'passed':>6s} {'skipped':>7s} {'failed':>6s} {'seconds':>8s}")
        total = defaultdict(float)
        for path, row in sorted(stats.items()):
            tr.write_line(f"{path:45s} {row['run']:5d} {row['passed']:6d} {row['skipped']:7d} {row['failed']:6d} "
                          f"{row['seconds']:8.1f}")
            for key, value in row.items():
                total[key] += value
        tr.write_line(f"{'TOTAL':45s} {int(total['run']):5d} {int(total['passed']):6d} {int(total['skipped']):7d} "
                      f"{int(total['failed']):6d} {total['seconds']:8.1f}")
    attempts = blocked_attempts()
    if attempts:
        terminalreporter.section("blocked network attempts (smoke world): the run fails")
        for line in attempts[:50]:
            terminalreporter.write_line(line)


def blocked_attempts() -> list[str]:
    log = Path(os.environ.get("COURSE_NETGUARD_LOG", "/nonexistent"))
    return sorted(set(log.read_text().splitlines())) if log.exists() else []

