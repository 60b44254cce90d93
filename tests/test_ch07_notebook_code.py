"""ch07 shows its lesson code in the notebook (no inspect.getsource): the quantizers and the memory meter there
must be the very code of the tested helpers ch07_quantization/quantizers.py and memory_meter.py."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import torch

from ch07_quantization import memory_meter, quantizers
from tests.notebook_defs import load_definitions
from tests.notebook_hygiene import code_without_magics

CHAPTER = Path(__file__).resolve().parents[1] / "ch07_quantization"
NOTEBOOK = CHAPTER / "ch07.ipynb"
WANTED = {"absmax_quantize", "nf4_quantize", "StorageLedger", "TensorMemoryMeter"}
# The meter is shown in two cells: the storage ledger, then the dispatch mode that feeds it.
METER_CLASSES = {"_track": "StorageLedger", "_release": "StorageLedger",
                 "__init__": "StorageLedger", "__torch_dispatch__": "TensorMemoryMeter"}


def _without_docstring(node: ast.AST) -> str:
    body = node.body[1:] if (node.body and isinstance(node.body[0], ast.Expr)
                             and isinstance(node.body[0].value, ast.Constant)) else node.body
    return ast.dump(type(node)(**{**{f: getattr(node, f) for f in node._fields}, "body": body}))


def _top_level(sources: list[str]) -> dict[str, ast.AST]:
    return {node.name: node for src in sources for node in ast.parse(src).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def _methods(cls: ast.ClassDef) -> dict[str, ast.AST]:
    return {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}


@pytest.fixture(scope="module")
def notebook_nodes():
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    return _top_level([code_without_magics(c.source) for c in cells if c.cell_type == "code"
                       and "gpu" not in c.metadata.get("tags", [])])


@pytest.fixture(scope="module")
def nb():
    return load_definitions(NOTEBOOK, WANTED, {"torch", "quantizers", "memory_meter", "weakref"})


@pytest.mark.parametrize("name", ["absmax_quantize", "nf4_quantize"])
def test_notebook_quantizer_is_the_helper_code(notebook_nodes, name):
    helper = _top_level([Path(quantizers.__file__).read_text(encoding="utf-8")])
    assert _without_docstring(notebook_nodes[name]) == _without_docstring(helper[name])


@pytest.mark.parametrize("method", sorted(METER_CLASSES))
def test_notebook_meter_methods_are_the_helper_code(notebook_nodes, method):
    cls = METER_CLASSES[method]
    helper = _top_level([Path(memory_meter.__file__).read_text(encoding="utf-8")])[cls]
    ours = _methods(notebook_nodes[cls])[method]
    assert _without_docstring(ours) == _without_docstring(_methods(helper)[method])


def test_notebook_meter_is_built_like_the_helper(notebook_nodes):
    bases = [ast.unparse(b) for b in notebook_nodes["TensorMemoryMeter"].bases]
    assert bases == ["StorageLedger", "TorchDispatchMode"]
    assert issubclass(memory_meter.TensorMemoryMeter, memory_meter.StorageLedger)


@pytest.mark.parametrize("bits,group", [(8, None), (4, 64), (8, 32)])
def test_notebook_quantizers_give_the_helper_codes(nb, bits, group):
    torch.manual_seed(bits)
    w = torch.randn(16, 128)
    assert torch.equal(nb["absmax_quantize"](w, bits, group).codes, quantizers.absmax_quantize(w, bits, group).codes)
    assert torch.equal(nb["nf4_quantize"](w, 64).codes, quantizers.nf4_quantize(w, 64).codes)


def test_notebook_meter_counts_like_the_helper(nb):
    def work():
        a = torch.empty(1000)
        b = torch.empty(500)
        del a
        return b.sum()

    with nb["TensorMemoryMeter"]() as meter:
        work()
    assert meter.peak == memory_meter.measure_peak(work).peak_extra_bytes == 6000
