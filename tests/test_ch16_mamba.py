"""Unit tests of the from-scratch Mamba written in ch16_mamba/ch16.ipynb.

The definitions are loaded from the notebook (imports, defs, classes, constant settings of its CPU cells);
the chapter folder is put on sys.path first, as in the notebook, so `from pscan import ...` resolves.
References: transformers' MambaMixer / MambaForCausalLM on CPU (the pure-PyTorch slow path).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import MambaConfig, MambaForCausalLM
from transformers.models.mamba.modeling_mamba import MambaMixer

from tests.notebook_defs import load_definitions

CHAPTER = Path(__file__).resolve().parents[1] / "ch16_mamba"
NOTEBOOK = CHAPTER / "ch16.ipynb"


@pytest.fixture(scope="module")
def nb():
    return load_definitions(NOTEBOOK)


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("shape", [(1, 1, 4, 2), (2, 1, 8, 4), (2, 3, 5, 3), (3, 37, 8, 4), (1, 130, 16, 16)])
def test_parallel_selective_scan_equals_sequential(nb, shape):
    inputs = nb["random_scan_inputs"](*shape, seed=sum(shape))
    par, seq = nb["selective_scan_parallel"](*inputs), nb["selective_scan_sequential"](*inputs)
    assert par.shape == seq.shape == shape[:3]
    assert max_diff(par, seq) < 1e-4


@pytest.mark.parametrize("shape,block", [((1, 1, 4, 2), 64), ((2, 37, 8, 4), 1), ((2, 37, 8, 4), 5),
                                         ((3, 130, 16, 16), 64), ((1, 64, 8, 4), 64), ((1, 65, 8, 4), 64)])
def test_blocked_selective_scan_equals_sequential(nb, shape, block):
    inputs = nb["random_scan_inputs"](*shape, seed=sum(shape) + block)
    blocked = nb["selective_scan_blocked"](*inputs, block=block)
    assert blocked.shape == shape[:3]
    assert max_diff(blocked, nb["selective_scan_sequential"](*inputs)) < 1e-4


def test_blocked_selective_scan_gradients_match_sequential(nb):
    inputs = nb["random_scan_inputs"](2, 40, 6, 4, seed=11)
    grads = []
    for fn in (nb["selective_scan_sequential"], lambda *x: nb["selective_scan_blocked"](*x, block=16)):
        leaves = [t.clone().requires_grad_() for t in inputs]
        (fn(*leaves) ** 2).sum().backward()
        grads.append([t.grad for t in leaves])
    for g_seq, g_blk in zip(*grads):
        assert torch.allclose(g_seq, g_blk, atol=1e-4, rtol=1e-4)


def test_block_default_scan_is_blocked_and_names_are_checked(nb):
    block = nb["MambaBlock"](16, 4, 2, 4)
    assert block.scan == "blocked"
    block.scan = "fast"
    with pytest.raises(KeyError):
        block(torch.randn(1, 3, 16))


def test_selective_scan_matches_transformers_slow_path_function(nb):
    from transformers.models.mamba.modeling_mamba import mamba_selective_scan

    u, delta, A, B, C, D = nb["random_scan_inputs"](2, 23, 6, 4, seed=5)
    # transformers' layout: (b, d, L) and (b, N, L); its B/C arguments are transposed back inside
    ref = mamba_selective_scan(u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2), C.transpose(1, 2), D=D)
    assert max_diff(nb["selective_scan_sequential"](u, delta, A, B, C, D), ref.transpose(1, 2)) < 1e-5


def test_selective_scan_is_causal(nb):
    u, delta, A, B, C, D = nb["random_scan_inputs"](2, 20, 6, 4, seed=7)
    out = nb["selective_scan_parallel"](u, delta, A, B, C, D)
    u2 = u.clone()
    u2[:, 12:] += 5.0
    out2 = nb["selective_scan_parallel"](u2, delta, A, B, C, D)
    assert torch.allclose(out[:, :12], out2[:, :12]) and not torch.allclose(out[:, 12:], out2[:, 12:])


def _tiny_config(**overrides):
    base = dict(hidden_size=32, state_size=8, expand=2, conv_kernel=4, num_hidden_layers=2, vocab_size=97)
    return MambaConfig(**{**base, **overrides})


@pytest.mark.parametrize("batch,length", [(1, 1), (2, 3), (2, 17), (3, 64), (2, 130)])
@pytest.mark.parametrize("scan", ["blocked", "parallel", "sequential"])
def test_block_equals_transformers_mixer(nb, batch, length, scan):
    torch.manual_seed(batch * 100 + length)
    config = _tiny_config()
    hf = MambaMixer(config, layer_idx=0).eval()
    ours = nb["MambaBlock"](32, 8, 2, 4, dt_rank=config.time_step_rank, scan=scan).eval()
    ours.load_state_dict(hf.state_dict())
    x = torch.randn(batch, length, 32)
    with torch.no_grad():
        assert max_diff(ours(x), hf(x)) < 1e-5


@pytest.mark.parametrize("overrides", [{}, {"state_size": 4, "conv_kernel": 2}, {"hidden_size": 48, "expand": 1}])
def test_language_model_equals_transformers(nb, overrides):
    torch.manual_seed(1)
    hf = MambaForCausalLM(_tiny_config(**overrides)).eval()
    ours = nb["mamba_lm_from_hf"](hf)
    ids = torch.randint(0, 97, (2, 21))
    with torch.no_grad():
        assert max_diff(ours(ids), hf(ids, use_cache=False).logits) < 1e-4
        assert max_diff(ours(ids[:, :1]), hf(ids[:, :1], use_cache=False).logits) < 1e-4
    assert ours.lm_head.weight is ours.embeddings.weight


def test_language_model_is_causal(nb):
    torch.manual_seed(2)
    model = nb["MambaLM"](50, 16, 2, d_state=4).eval()
    ids = torch.randint(0, 50, (2, 15))
    changed = ids.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % 50
    with torch.no_grad():
        assert torch.allclose(model(ids)[:, :9], model(changed)[:, :9], atol=1e-6)


def test_greedy_generate_matches_transformers_generate(nb):
    torch.manual_seed(3)
    hf = MambaForCausalLM(_tiny_config(bos_token_id=0, eos_token_id=None, pad_token_id=0)).eval()
    ours = nb["mamba_lm_from_hf"](hf)
    ids = torch.randint(1, 97, (1, 5))
    expected = hf.generate(ids, max_new_tokens=6, do_sample=False, min_new_tokens=6)
    assert torch.equal(nb["greedy_generate"](ours, ids, 6), expected)


def test_zoh_discretisation_is_exact_for_constant_input(nb):
    a, b, delta = torch.tensor([-0.3, -2.0]), torch.tensor([1.0, 0.5]), 0.2
    a_bar, b_bar = nb["discretize_zoh"](a, b, delta)
    h = torch.zeros(2)
    for step in range(1, 6):
        h = a_bar * h + b_bar
        exact = (torch.exp(a * step * delta) - 1) / a * b  # solution of h' = a h + b, h(0) = 0
        assert torch.allclose(h, exact, atol=1e-6)


def test_block_parameters_have_the_transformers_mixer_names_and_shapes(nb):
    config = _tiny_config()
    hf = MambaMixer(config, layer_idx=0)
    ours = nb["MambaBlock"](32, 8, 2, 4, dt_rank=config.time_step_rank)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in hf.state_dict().items()}
    assert torch.allclose(-torch.exp(ours.A_log[0]), -torch.arange(1, 9, dtype=torch.float32))


def test_block_offers_the_three_scans(nb):
    assert sorted(nb["MambaBlock"].SCANS) == ["blocked", "parallel", "sequential"]
