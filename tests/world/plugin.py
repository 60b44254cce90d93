"""pytest plugin of the smoke world (loaded by the root conftest.py).

- sets the smoke-world environment before collection, so every notebook kernel inherits it;
- the learner's world without a GPU or a key: every key and `OPENAI_*` variable is removed, so tagged cells run and
  guard themselves (`course.requires` prints one line and skips), and chapters that talk to "the OpenAI API" start
  their own local `transformers serve` through `course.chat_backend` (on the stand-ins);
- builds the stand-ins once notebooks are collected;
- marks `gpu` / `needs-key` cells (`-m gpu` selects GPU cells and the cells before them);
- prints a per-notebook table (cells run / passed / failed, seconds) and the course events (local LLM server
  started / stopped); any blocked connection fails the run.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

SITE_DIR = Path(__file__).parent / "site"
KEY_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "PINECONE_API_KEY")
_state: dict = {"original_env": {}, "world_needed": False,
               "stats": defaultdict(lambda: {"run": 0, "passed": 0, "skipped": 0, "failed": 0, "seconds": 0.0})}


def _tiktoken_cache() -> str:
    import llama_index.core

    return str(Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache")


def smoke_environment(world_dir: Path) -> dict[str, str]:
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
        "COURSE_NO_PROMPT": "1",  # nbval kernels have no stdin; say so instead of relying on it
        "COURSE_EVENT_LOG": str(world_dir / f"course-events-{os.getpid()}.log"),  # this session only
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
    for name in [n for n in os.environ if n.startswith("OPENAI_") or n in KEY_VARIABLES or n == "MPLBACKEND"]:
        del os.environ[name]  # no keys: the guards and the local LLM fallback are what runs; kernels draw
        # figures inline as in Colab (ipykernel's default backend), so tagged figure cells compare as committed
    os.environ.update(smoke_environment(world_dir))
    for log in ("COURSE_NETGUARD_LOG", "COURSE_EVENT_LOG"):
        Path(os.environ[log]).unlink(missing_ok=True)  # report this session's only
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


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(session, config, items):
    """Mark tagged cells; they are not skipped: each one guards itself (course.requires) as in Colab."""
    last_gpu_cell = {}  # notebook -> index of its last gpu cell
    for index, item in enumerate(items):
        if "gpu" in _cell_tags(item):
            last_gpu_cell[item.parent] = index
    for index, item in enumerate(items):
        tags = _cell_tags(item)
        if hasattr(item, "cell") or item.get_closest_marker("world"):
            _state["world_needed"] = True
        if index <= last_gpu_cell.get(getattr(item, "parent", None), -1):
            item.add_marker(pytest.mark.gpu)  # `-m gpu`: the gpu cells and the cells they build on
        if "needs-key" in tags:
            item.add_marker(pytest.mark.needs_key)


def pytest_collection_finish(session):
    if not _state["world_needed"] or session.config.option.collectonly:
        return
    from tests.world.build import ensure_world

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    say = (lambda msg: reporter.write_line(msg)) if reporter else print
    start = time.perf_counter()
    ensure_world(_state["world_dir"], log=say)
    say(f"smoke world ready in {time.perf_counter() - start:.1f}s at {_state['world_dir']}")


def pytest_sessionfinish(session, exitstatus):
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
        import glob
        import tempfile

        from course.server import tail

        for log in sorted(glob.glob(f"{tempfile.gettempdir()}/course-local-llm-*.log"))[-2:]:
            report.sections.append((f"local LLM server log (tail) {log}", tail(log)))


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
    events = Path(os.environ.get("COURSE_EVENT_LOG", "/nonexistent"))
    if events.exists():
        terminalreporter.section("course events (local LLM server started / stopped)")
        for line in events.read_text(encoding="utf-8").splitlines():
            terminalreporter.write_line(line)
    attempts = blocked_attempts()
    if attempts:
        terminalreporter.section("blocked network attempts (smoke world): the run fails")
        for line in attempts[:50]:
            terminalreporter.write_line(line)


def blocked_attempts() -> list[str]:
    log = Path(os.environ.get("COURSE_NETGUARD_LOG", "/nonexistent"))
    return sorted(set(log.read_text().splitlines())) if log.exists() else []

