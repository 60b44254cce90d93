"""Unit tests of the from-scratch transformer written in ch02_transformer/ch02.ipynb.

The definitions (imports, functions, classes, constant settings) are loaded from the notebook itself, so the
tests check exactly the code the learner reads. Equalities with PyTorch's references are checked at several
shapes, including length 1, unequal query/key lengths and rows whose keys are all padding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tests.notebook_defs import load_definitions

NOTEBOOK = Path(__file__).resolve().parents[1] / "ch02_transformer" / "ch02.ipynb"


@pytest.fixture(scope="module")
def nb():
    return load_definitions(NOTEBOOK)


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("b,h,lq,lk,d", [(1, 1, 1, 1, 8), (2, 4, 5, 7, 16), (3, 2, 9, 2, 4), (1, 3, 1, 6, 8)])
def test_attention_equals_torch_sdpa(nb, b, h, lq, lk, d):
    torch.manual_seed(0)
    q, k, v = torch.randn(b, h, lq, d), torch.randn(b, h, lk, d), torch.randn(b, h, lk, d)
    ours, weights = nb["scaled_dot_product_attention"](q, k, v)
    assert max_diff(ours, F.scaled_dot_product_attention(q, k, v)) < 1e-5
    assert torch.allclose(weights.sum(-1), torch.ones(b, h, lq))


@pytest.mark.parametrize("length", [1, 2, 7, 16])
def test_causal_attention_equals_torch_sdpa(nb, length):
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, length, 8) for _ in range(3))
    ours, weights = nb["scaled_dot_product_attention"](q, k, v, nb["causal_mask"](length))
    assert max_diff(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True)) < 1e-5
    assert weights.triu(diagonal=1).abs().max() == 0


def test_padding_mask_including_all_padding_rows(nb):
    torch.manual_seed(2)
    q, k, v = torch.randn(3, 2, 4, 8), torch.randn(3, 2, 6, 8), torch.randn(3, 2, 6, 8)
    keep = torch.tensor([[True] * 6, [True] * 2 + [False] * 4, [False] * 6])  # last row: every key is padding
    mask = keep[:, None, None, :]
    ours, weights = nb["scaled_dot_product_attention"](q, k, v, mask)
    assert torch.isfinite(ours).all()
    assert max_diff(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)) < 1e-5
    assert weights[1, ..., 2:].abs().max() == 0 and ours[2].abs().max() == 0


def _torch_mha(nb, ours, d_model, heads):
    return nb["copy_into_torch_mha"](ours, d_model, heads)


@pytest.mark.parametrize("b,lq,lk,d_model,heads", [(1, 1, 1, 8, 1), (2, 5, 9, 16, 4), (3, 7, 3, 12, 3), (2, 1, 6, 8, 2)])
def test_multi_head_attention_equals_nn_multihead_attention(nb, b, lq, lk, d_model, heads):
    torch.manual_seed(3)
    ours = nb["MultiHeadAttention"](d_model, heads).eval()
    ref = _torch_mha(nb, ours, d_model, heads)
    x_q, x_kv = torch.randn(b, lq, d_model), torch.randn(b, lk, d_model)
    keep = torch.ones(b, lk, dtype=torch.bool)
    keep[0, lk // 2 + 1:] = False  # some padding in the first row (at least one key stays)
    with torch.no_grad():
        assert max_diff(ours(x_q, x_kv), ref(x_q, x_kv, x_kv)[0]) < 1e-5
        assert max_diff(ours(x_q, x_kv, mask=keep[:, None, None, :]), ref(x_q, x_kv, x_kv, key_padding_mask=~keep)[0]) < 1e-5
        if lq == lk:
            causal = nb["causal_mask"](lq)
            assert max_diff(ours(x_q, mask=causal), ref(x_q, x_q, x_q, attn_mask=~causal)[0]) < 1e-5
        out = ours(x_q, x_kv)
    assert out.shape == (b, lq, d_model)


def test_multi_head_attention_all_padding_row_gives_bias_only(nb):
    torch.manual_seed(4)
    ours = nb["MultiHeadAttention"](8, 2).eval()
    keep = torch.tensor([[True, True, False], [False, False, False]])
    with torch.no_grad():
        out = ours(torch.randn(2, 4, 8), torch.randn(2, 3, 8), mask=keep[:, None, None, :])
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1], ours.out_proj.bias.expand(4, 8))


def test_layer_norm_matches_torch(nb):
    torch.manual_seed(5)
    x = torch.randn(3, 4, 10) * 5 + 2
    assert max_diff(nb["LayerNorm"](10)(x), nn.LayerNorm(10)(x)) < 1e-5


def test_pre_ln_residual_is_added_to_unnormalised_input(nb):
    torch.manual_seed(6)
    layer = nb["EncoderLayer"](16, 4, 32)
    dec = nb["DecoderLayer"](16, 4, 32)
    with torch.no_grad():
        for linear in (layer.attn.out_proj, layer.ffn.net[2], dec.self_attn.out_proj, dec.cross_attn.out_proj, dec.ffn.net[2]):
            linear.weight.zero_()
            linear.bias.zero_()
        x = torch.randn(2, 5, 16) * 3
        assert torch.equal(layer(x), x)
        assert torch.equal(dec(x, torch.randn(2, 7, 16)), x)


@pytest.mark.parametrize("length", [1, 2, 9])
def test_decoder_only_future_tokens_do_not_change_the_past(nb, length):
    torch.manual_seed(7)
    model = nb["DecoderOnly"](50, 16, 2, 32, 2).eval()
    ids = torch.randint(0, 50, (2, length))
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert a.shape == (2, length, 50)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6)
    assert not torch.allclose(a[:, -1], b[:, -1])


@pytest.mark.parametrize("src_len,tgt_len", [(1, 1), (9, 4), (3, 11)])
def test_encoder_decoder_unequal_lengths_and_causality(nb, src_len, tgt_len):
    torch.manual_seed(8)
    model = nb["Transformer"](40, 16, 4, 32, 2).eval()
    src, tgt = torch.randint(0, 40, (2, src_len)), torch.randint(0, 40, (2, tgt_len))
    with torch.no_grad():
        logits = model(src, tgt)
        changed = tgt.clone()
        changed[:, tgt_len // 2:] = (changed[:, tgt_len // 2:] + 1) % 40
        logits_changed = model(src, changed)
    assert logits.shape == (2, tgt_len, 40)
    cut = tgt_len // 2
    assert torch.allclose(logits[:, :cut], logits_changed[:, :cut], atol=1e-6)


def test_source_padding_does_not_change_decoder_output(nb):
    torch.manual_seed(9)
    model = nb["Transformer"](40, 16, 4, 32, 2).eval()
    src, tgt = torch.randint(1, 40, (1, 5)), torch.randint(1, 40, (1, 6))
    padded = F.pad(src, (0, 4), value=0)
    keep = torch.tensor([[True] * 5 + [False] * 4])
    with torch.no_grad():
        alone = model(src, tgt, src_pad=torch.ones(1, 5, dtype=torch.bool))
        with_pad = model(padded, tgt, src_pad=keep)
    assert torch.allclose(alone, with_pad, atol=1e-5)


def test_encoder_only_padding_keys_are_ignored(nb):
    torch.manual_seed(10)
    model = nb["EncoderOnly"](30, 16, 2, 32, 2).eval()
    ids = torch.randint(1, 30, (1, 6))
    keep = torch.tensor([[True] * 4 + [False] * 2])
    other = ids.clone()
    other[0, 4:] = 0
    with torch.no_grad():
        assert torch.allclose(model(ids, keep)[:, :4], model(other, keep)[:, :4], atol=1e-6)


def test_positions(nb):
    pe = nb["sinusoidal_positions"](50, 16)
    assert torch.allclose(pe[0, 0::2], torch.zeros(8)) and torch.allclose(pe[0, 1::2], torch.ones(8))
    assert torch.allclose(pe[3] @ pe[10], pe[20] @ pe[27], atol=1e-4)
    torch.manual_seed(11)
    q, k = torch.randn(1, 16), torch.randn(1, 16)
    rope = nb["apply_rope"]
    score = lambda m, n: (rope(q, torch.tensor([m])) @ rope(k, torch.tensor([n])).T).item()  # noqa: E731
    assert abs(score(5, 2) - score(30, 27)) < 1e-4
    assert abs(score(5, 2) - score(2, 5)) > 1e-6 or torch.allclose(q, k)


def test_multi_head_attention_rejects_heads_that_do_not_divide_d_model(nb):
    with pytest.raises(ValueError, match="n_heads=3"):
        nb["MultiHeadAttention"](10, 3)


def test_n_params_counts_a_module_or_a_list_of_modules(nb):
    a, b = nn.Linear(4, 3), nn.Linear(3, 2)  # 15 and 8 parameters
    assert nb["n_params"](a) == 15
    assert nb["n_params"]([a, b]) == 23
    assert nb["n_params"](nn.ModuleList([a, b])) == 23
