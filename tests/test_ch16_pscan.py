"""Unit tests of ch16_mamba/pscan.py: the parallel scan equals the sequential definition."""

from __future__ import annotations

import pytest
import torch

from ch16_mamba.pscan import chunked_scan, parallel_scan, sequential_scan


def naive(a, b):
    """h_t = a_t h_{t-1} + b_t written out with explicit products (independent of both scans)."""
    out = torch.zeros_like(b)
    for t in range(b.shape[0]):
        total = torch.zeros_like(b[0])
        for s in range(t + 1):
            weight = torch.prod(a[s + 1: t + 1], dim=0) if s < t else torch.ones_like(a[0])
            total = total + weight * b[s]
        out[t] = total
    return out


@pytest.mark.parametrize("length", [1, 2, 3, 5, 8, 13])
def test_sequential_scan_matches_closed_form(length):
    torch.manual_seed(length)
    a, b = torch.rand(length, 3), torch.randn(length, 3)
    assert torch.allclose(sequential_scan(a, b, dim=0), naive(a, b), atol=1e-6)


@pytest.mark.parametrize("shape,dim", [((2, 1, 4), 1), ((2, 7, 3, 4), 1), ((64, 5), 0), ((3, 100), 1),
                                       ((1, 4, 33, 2), 2), ((2, 256, 8, 4), 1)])
def test_parallel_equals_sequential(shape, dim):
    torch.manual_seed(0)
    a, b = torch.rand(shape), torch.randn(shape)
    assert (parallel_scan(a, b, dim) - sequential_scan(a, b, dim)).abs().max() < 1e-5


@pytest.mark.parametrize("shape,dim,chunk", [((2, 1, 4), 1, None), ((2, 7, 3, 4), 1, None), ((64, 5), 0, None),
                                             ((3, 100), 1, 7), ((1, 4, 33, 2), 2, 1), ((2, 37, 3), 1, 50)])
def test_chunked_equals_sequential(shape, dim, chunk):
    torch.manual_seed(2)
    a, b = torch.rand(shape), torch.randn(shape)
    out = chunked_scan(a, b, dim, chunk)
    assert out.shape == b.shape
    assert (out - sequential_scan(a, b, dim)).abs().max() < 1e-5


def test_broadcast_decay_and_constant_input():
    a = torch.full((1, 10, 1), 0.5)
    b = torch.ones(2, 10, 3)
    expected = torch.tensor([2 * (1 - 0.5 ** (t + 1)) for t in range(10)])
    for scan in (parallel_scan, chunked_scan):
        out = scan(a, b, dim=1)
        assert out.shape == (2, 10, 3)
        assert torch.allclose(out[0, :, 0], expected)


def test_gradients_match():
    torch.manual_seed(1)
    a0, b0 = torch.rand(2, 19, 3), torch.randn(2, 19, 3)
    grads = []
    for scan in (sequential_scan, parallel_scan, chunked_scan):
        a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
        (scan(a, b, 1) ** 2).sum().backward()
        grads.append((a.grad, b.grad))
    for other in grads[1:]:
        assert torch.allclose(grads[0][0], other[0], atol=1e-5)
        assert torch.allclose(grads[0][1], other[1], atol=1e-5)


def test_inputs_are_not_modified():
    a, b = torch.rand(2, 9), torch.randn(2, 9)
    a_copy, b_copy = a.clone(), b.clone()
    parallel_scan(a, b, 1)
    chunked_scan(a, b, 1, 4)
    assert torch.equal(a, a_copy) and torch.equal(b, b_copy)


def test_notebook_parallel_scan_is_the_helper_code():
    """ch16 shows parallel_scan in the notebook (no inspect.getsource): it must be pscan.py's code."""
    import ast
    from pathlib import Path

    import nbformat

    from ch16_mamba import pscan
    from tests.notebook_hygiene import code_without_magics

    def strip(node):
        body = node.body[1:] if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
            else node.body
        return ast.dump(ast.FunctionDef(**{**{f: getattr(node, f) for f in node._fields}, "body": body}))

    def find(sources):
        found = [n for s in sources for n in ast.parse(s).body if isinstance(n, ast.FunctionDef) and n.name == "parallel_scan"]
        assert len(found) == 1
        return found[0]

    notebook = Path(pscan.__file__).with_name("ch16.ipynb")
    cells = [code_without_magics(c.source) for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    assert strip(find(cells)) == strip(find([Path(pscan.__file__).read_text(encoding="utf-8")]))
