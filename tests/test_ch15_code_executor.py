"""ch15_agents/code_executor.py: the process group dies on timeout, output is capped, no secrets in the env.

Each runaway test would hang or leak with autogen-ext's own LocalCommandLineCodeExecutor (see the comparisons
marked `stock`); `asyncio.wait_for(..., HANG_GUARD_S)` only turns such a hang into a failure instead of a stuck
suite (it is not a timing assertion).
"""

from __future__ import annotations

import asyncio
import os
import time
import warnings

import pytest
from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock

from ch15_agents.code_executor import SaferLocalCommandLineCodeExecutor, clean_environment, looks_secret

HANG_GUARD_S = 60

IGNORE_SIGTERM = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open("pid.txt", "w").write(str(os.getpid()))
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(0.01)
"""

FORK_AND_LOOP = """
import os, time
child = os.fork()
if child == 0:
    open("child.txt", "w").write(str(os.getpid()))
    time.sleep(30)
    open("child_survived.txt", "w").write("yes")
    os._exit(0)
print("parent loops", flush=True)
while True:
    time.sleep(0.01)
"""

BACKGROUND_CHILD = """
import os, sys, time
if os.fork() == 0:
    os.close(1); os.close(2)  # a daemon-like child: closes its output and lives on
    open("child.txt", "w").write(str(os.getpid()))
    time.sleep(30)
    os._exit(0)
while not os.path.exists("child.txt"):
    time.sleep(0.01)
print("parent done")
"""

FLOOD = "while True:\n    print('x' * 10_000)"


def make(tmp_path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # autogen's "may execute code on the local machine"
        return SaferLocalCommandLineCodeExecutor(work_dir=tmp_path, **kwargs)


def execute(executor, code, language="python"):
    run = executor.execute_code_blocks([CodeBlock(language=language, code=code)], CancellationToken())
    return asyncio.run(asyncio.wait_for(run, HANG_GUARD_S))


def gone(pid: int, wait_s: float = 5.0) -> bool:
    """The process no longer runs (absent, or a zombie waiting for its reaper). Polls up to wait_s."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_ordinary_code_runs_in_the_work_dir(tmp_path):
    result = execute(make(tmp_path, timeout=10), "import os\nprint(os.getcwd())\nprint(6 * 7)")
    assert result.exit_code == 0
    assert result.output.split() == [str(tmp_path.resolve()), "42"]


def test_failing_code_reports_its_exit_code_and_stderr(tmp_path):
    result = execute(make(tmp_path, timeout=10), "import sys\nprint('out')\nsys.exit('boom')")
    assert result.exit_code == 1 and "boom" in result.output and "out" in result.output


def test_shell_blocks_run_too(tmp_path):
    result = execute(make(tmp_path, timeout=10), "echo hello from sh", language="sh")
    assert result.exit_code == 0 and result.output.strip() == "hello from sh"


def test_code_that_ignores_sigterm_is_killed(tmp_path):
    result = execute(make(tmp_path, timeout=1, kill_grace_s=0.2), IGNORE_SIGTERM)
    print(result)
    assert result.exit_code == 124 and "Timeout" in result.output
    assert "ignoring SIGTERM" in result.output, "output written before the timeout is kept"
    assert gone(int((tmp_path / "pid.txt").read_text()))


def test_forked_children_die_with_the_timeout(tmp_path):
    result = execute(make(tmp_path, timeout=1, kill_grace_s=0.2), FORK_AND_LOOP)
    assert result.exit_code == 124 and "parent loops" in result.output
    assert gone(int((tmp_path / "child.txt").read_text()))
    assert not (tmp_path / "child_survived.txt").exists()


def test_background_children_are_stopped_after_a_normal_exit(tmp_path):
    result = execute(make(tmp_path, timeout=10, kill_grace_s=0.2), BACKGROUND_CHILD)
    assert result.exit_code == 0 and "parent done" in result.output
    assert gone(int((tmp_path / "child.txt").read_text()))


def test_output_flood_is_capped_with_a_note(tmp_path):
    cap = 50_000
    result = execute(make(tmp_path, timeout=30, max_output_bytes=cap, kill_grace_s=0.2), FLOOD)
    body, _, note = result.output.rpartition("\n[output truncated")
    print(len(result.output), note)
    assert result.exit_code == 1 and note and f"more than {cap:,} bytes" in note
    assert len(body.encode()) <= cap and body.startswith("x" * 100)


def test_stderr_counts_towards_the_cap(tmp_path):
    code = "import sys\nwhile True:\n    sys.stderr.write('e' * 5000)"
    result = execute(make(tmp_path, timeout=30, max_output_bytes=20_000, kill_grace_s=0.2), code)
    assert result.exit_code == 1 and "output truncated" in result.output
    assert len(result.output.encode()) < 20_000 + 200


def test_output_under_the_cap_is_complete(tmp_path):
    result = execute(make(tmp_path, timeout=10, max_output_bytes=10_000), "print('y' * 9000)")
    assert result.exit_code == 0 and result.output == "y" * 9000 + "\n"


def test_secrets_do_not_reach_the_code(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.setenv("HF_TOKEN", "hf_not_real")
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "hunter2")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SOME_HARMLESS_SETTING", "1")
    code = ("import os\nprint(os.environ.get('OPENAI_API_KEY'))\n"
            "print(sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k or 'PASS' in k or 'OPENAI' in k))\n"
            "print(os.environ.get('SOME_HARMLESS_SETTING'), os.environ.get('EXTRA'), 'PATH' in os.environ)")
    result = execute(make(tmp_path, timeout=10, extra_env={"EXTRA": "given"}), code)
    assert result.output.splitlines() == ["None", "[]", "None given True"]


def test_clean_environment_rules():
    env = clean_environment({"PATH": "/bin", "HOME": "/h", "LC_ALL": "C.UTF-8", "OPENAI_API_KEY": "x",
                             "GITHUB_TOKEN": "y", "PYTHONPATH": "/site", "TMPDIR": "/t", "RANDOM": "z",
                             "COURSE_QUICK": "1", "COURSE_API_KEY": "k"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C.UTF-8", "PYTHONPATH": "/site", "TMPDIR": "/t",
                   "COURSE_QUICK": "1", "PYTHONUNBUFFERED": "1"}
    assert clean_environment({"OPENAI_API_KEY": "x"}, allow=["OPENAI_API_KEY"]) == {"PYTHONUNBUFFERED": "1"}
    for name in ("OPENAI_API_KEY", "HF_TOKEN", "PINECONE_API_KEY", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD",
                 "OPENAI_BASE_URL", "SESSION_COOKIE"):
        assert looks_secret(name), name
    for name in ("PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR", "MPLBACKEND"):
        assert not looks_secret(name), name


def test_cancellation_stops_the_group(tmp_path):
    executor = make(tmp_path, timeout=30, kill_grace_s=0.2)

    async def run_and_cancel():
        token = CancellationToken()
        task = asyncio.ensure_future(executor.execute_code_blocks([CodeBlock(language="python",
                                                                             code=IGNORE_SIGTERM)], token))
        while not (tmp_path / "pid.txt").exists():
            await asyncio.sleep(0.02)
        token.cancel()
        return await asyncio.wait_for(task, HANG_GUARD_S)

    result = asyncio.run(run_and_cancel())
    assert result.exit_code == 125 and "Cancelled" in result.output
    assert gone(int((tmp_path / "pid.txt").read_text()))


@pytest.mark.parametrize("bad", [0, -5])
def test_bad_settings_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        make(tmp_path, timeout=1, max_output_bytes=bad)


def test_stock_executor_leaks_the_environment(tmp_path, monkeypatch):
    """Why this module exists: the stock executor hands the kernel's secrets to the code."""
    from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        stock = LocalCommandLineCodeExecutor(work_dir=tmp_path, timeout=10)
    result = execute(stock, "import os\nprint(os.environ.get('OPENAI_API_KEY'))")
    assert result.output.strip() == "sk-test-not-real"
    assert os.environ["OPENAI_API_KEY"] == "sk-test-not-real"


def test_a_cut_never_leaves_half_a_character(tmp_path):
    result = execute(make(tmp_path, timeout=30, max_output_bytes=10_001, kill_grace_s=0.2),
                     "while True:\n    print('폭주' * 1000)")
    body = result.output.rpartition("\n[output truncated")[0]
    assert result.exit_code == 1 and body.startswith("폭주") and "\ufffd" not in body
