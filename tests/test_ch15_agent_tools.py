"""Unit tests for ch15_agents/ch15.ipynb: the typed tool and the safety claims about the code executor.

The tool function and the approval rule are loaded from the notebook itself (not duplicated).
The executor tests check what the notebook teaches: code runs with the work dir as its cwd,
and the timeout stops a runaway program with exit code 124.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest

from tests.notebook_defs import load_definitions

NOTEBOOK = Path(__file__).resolve().parents[1] / "ch15_agents" / "ch15.ipynb"
LIGHT_MODULES = {"typing", "autogen_agentchat"}


@pytest.fixture(scope="module")
def nb():
    return load_definitions(NOTEBOOK, {"loan_interest", "approve", "BLOCKED"}, LIGHT_MODULES)


@pytest.mark.parametrize("principal, rate, months, interest", [
    (10_000_000, 4.5, 12, 450_000), (1_200_000, 5.0, 6, 30_000), (5_000_000, 3.0, 0, 0), (0, 9.9, 24, 0),
    (1_000_000, 3.3, 1, 2_750)])
def test_loan_interest_values(nb, principal, rate, months, interest):
    assert nb["loan_interest"](principal, rate, months) == interest


@pytest.mark.parametrize("args", [(-1, 4.5, 12), (1000, -0.1, 12), (1000, 4.5, -1)])
def test_loan_interest_rejects_negative_inputs(nb, args):
    with pytest.raises(ValueError):
        nb["loan_interest"](*args)


def test_tool_schema_is_typed_and_validates_arguments(nb):
    from autogen_core import CancellationToken
    from autogen_core.tools import FunctionTool
    from pydantic import ValidationError

    tool = FunctionTool(nb["loan_interest"], description="interest")
    props = tool.schema["parameters"]["properties"]
    assert [props[k]["type"] for k in ("principal_won", "annual_rate_pct", "months")] == ["integer", "number", "integer"]
    assert set(tool.schema["parameters"]["required"]) == {"principal_won", "annual_rate_pct", "months"}
    assert "대출 원금" in props["principal_won"]["description"]  # the Annotated text reaches the model
    args = {"principal_won": 10_000_000, "annual_rate_pct": 4.5, "months": 12}
    assert asyncio.run(tool.run_json(args, CancellationToken())) == 450_000
    with pytest.raises(ValidationError):
        asyncio.run(tool.run_json({**args, "months": "열두 달"}, CancellationToken()))


def test_approval_rule(nb):
    from autogen_agentchat.agents import ApprovalRequest

    assert nb["approve"](ApprovalRequest(code="print(1)", context=[])).approved
    for code in ["import shutil\nshutil.rmtree('x')", "import os\nos.system('ls')", "import subprocess"]:
        response = nb["approve"](ApprovalRequest(code=code, context=[]))
        assert not response.approved and response.reason


def _execute(tmp_path: Path, code: str, timeout: int):
    from autogen_core import CancellationToken
    from autogen_core.code_executor import CodeBlock
    from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        executor = LocalCommandLineCodeExecutor(work_dir=tmp_path / "work", timeout=timeout)
    block = CodeBlock(language="python", code=code)
    return asyncio.run(executor.execute_code_blocks([block], CancellationToken()))


def test_executor_runs_in_its_work_dir(tmp_path):
    result = _execute(tmp_path, "import os\nprint(os.getcwd())\nopen('out.txt', 'w').write('ok')", timeout=30)
    assert result.exit_code == 0
    assert Path(result.output.strip()).resolve() == (tmp_path / "work").resolve()
    assert (tmp_path / "work" / "out.txt").read_text() == "ok"


def test_executor_timeout_stops_a_runaway_program(tmp_path):
    result = _execute(tmp_path, "while True:\n    pass", timeout=1)
    assert result.exit_code == 124 and "Timeout" in result.output
