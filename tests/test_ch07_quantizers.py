"""ch07_quantization/quantizers.py: 처음부터 만든 양자화기의 왕복 오차, 크기 공식, 채우기(pack)."""

import pytest
import torch

from ch07_quantization.quantizers import (
    NF4_CODEBOOK,
    NF4_MIDPOINTS,
    QUANTIZERS,
    QuantLinear,
    absmax_quantize,
    dequantize,
    error_bound,
    expected_nbytes,
    nf4_quantize,
    pack_int4,
    quantize_linears_,
    unpack_int4,
    zeropoint_quantize,
)


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.randn(48, 128) * 0.02 + torch.randn(48, 1) * 0.01  # 행마다 치우침이 있는 가중치


@pytest.mark.parametrize("scheme", sorted(QUANTIZERS))
@pytest.mark.parametrize("group_size", [None, 32, 128])
def test_roundtrip_error_within_bound_and_size_matches_formula(weight, scheme, group_size):
    q = QUANTIZERS[scheme](weight, group_size)
    err = (weight - dequantize(q)).abs().reshape(q.scale.shape[0], -1)
    assert dequantize(q).shape == weight.shape
    assert (err <= error_bound(q) + 1e-7).all()
    assert q.nbytes() == expected_nbytes(weight.numel(), q.bits, q.group_size, zero=q.zero is not None)


def test_pack_unpack_int4_roundtrip_odd_length():
    codes = torch.randint(0, 16, (33,))
    packed = pack_int4(codes)
    assert packed.dtype == torch.uint8 and packed.numel() == 17
    assert torch.equal(unpack_int4(packed, 33).long(), codes)


def test_absmax_keeps_zero_and_extremes_exact():
    w = torch.tensor([[-2.0, 0.0, 1.0, 2.0]])
    q = absmax_quantize(w, bits=8)
    w_hat = dequantize(q)
    assert w_hat[0, 1] == 0 and torch.allclose(w_hat[0, [0, 3]], w[0, [0, 3]])
    assert q.codes.dtype == torch.int8 and q.codes.abs().max() == 127


def test_zeropoint_uses_full_range_for_skewed_values():
    w = torch.linspace(0.5, 1.5, 256).reshape(1, -1)  # 모두 양수: absmax 는 눈금 절반을 버린다
    zp, am = zeropoint_quantize(w, bits=4), absmax_quantize(w, bits=4)
    assert (w - dequantize(zp)).abs().max() < (w - dequantize(am)).abs().max()


def test_groups_reduce_error_with_outlier():
    torch.manual_seed(1)
    w = torch.randn(8, 64) * 0.02
    w[0, 0] = 1.0  # 이상치 하나가 텐서 전체 스케일을 키운다
    per_tensor = (w - dequantize(absmax_quantize(w, 4, None))).pow(2).mean()
    grouped = (w - dequantize(absmax_quantize(w, 4, 64))).pow(2).mean()
    assert grouped < per_tensor


def test_nf4_codes_are_codebook_values():
    w = torch.randn(4, 64)
    q = nf4_quantize(w, 64)
    normed = dequantize(q).reshape(-1, 64) / q.scale
    assert torch.isin(normed.round(decimals=5), NF4_CODEBOOK.round(decimals=5)).all()
    assert NF4_CODEBOOK.numel() == 16 and NF4_CODEBOOK[7] == 0


def test_bad_group_size_raises():
    with pytest.raises(ValueError):
        absmax_quantize(torch.randn(10), 8, 3)


def test_quantize_linears_replaces_and_stays_close():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32))
    x = torch.randn(5, 64)
    ref = model(x)
    assert quantize_linears_(model, "int8", group_size=64) == 2
    assert all(isinstance(model[i], QuantLinear) for i in (0, 2))
    assert not any(p.dtype == torch.float32 and p.dim() == 2 for p in model.parameters())  # 가중치 행렬이 사라졌다
    assert torch.allclose(model(x), ref, atol=0.02)
    assert model[0].codes.dtype == torch.int8


def _bnb_nf4_roundtrip(w: torch.Tensor, block: int = 64) -> torch.Tensor:
    bnbf = pytest.importorskip("bitsandbytes.functional")
    packed, state = bnbf.quantize_4bit(w, blocksize=block, quant_type="nf4")
    return bnbf.dequantize_4bit(packed, state)


def _midpoint_ties(blocks: int = 8) -> torch.Tensor:
    """absmax 1 인 블록에 중간점을 정확히 넣는다: x * (1/1) = x 라서 정규화 뒤에도 정확히 동점."""
    block = torch.cat([torch.ones(1), NF4_MIDPOINTS.repeat(5)])[:64]
    return block.repeat(blocks, 1)


@pytest.mark.parametrize("case", ["random", "scaled", "ties"])
def test_nf4_matches_bitsandbytes_exactly(case):
    torch.manual_seed(3)
    w = {"random": torch.randn(512, 512), "scaled": torch.randn(256, 256) * 1e-3 + 0.01,
         "ties": _midpoint_ties()}[case]
    assert torch.equal(dequantize(nf4_quantize(w, 64)), _bnb_nf4_roundtrip(w))


def test_nf4_ties_go_to_the_lower_code():
    w = _midpoint_ties(1)
    idx = unpack_int4(nf4_quantize(w, 64).codes, 64).long()
    values = w.reshape(-1)
    at_mid = torch.isin(values, NF4_MIDPOINTS)
    lower = torch.bucketize(values[at_mid], NF4_MIDPOINTS)  # 경계 i 위의 값 -> 번호 i (아래 눈금)
    assert at_mid.sum() > 10 and torch.equal(idx[at_mid], lower)
    assert (NF4_CODEBOOK[idx[at_mid]] < values[at_mid]).all()


def test_nf4_picks_a_nearest_codebook_value():
    torch.manual_seed(4)
    w = torch.randn(64, 64)
    q = nf4_quantize(w, 64)
    normalized = (w.reshape(-1, 64) * (1.0 / q.scale)).reshape(-1)
    chosen = NF4_CODEBOOK[unpack_int4(q.codes, w.numel()).long()]
    nearest = (normalized[:, None] - NF4_CODEBOOK).abs().min(dim=1).values
    assert ((normalized - chosen).abs() <= nearest + 1e-6).all()



def test_bench_nf4_script_reports_zero_differing_codes(capsys):
    """tools/bench_nf4.py (tiny size: a smoke run, not a benchmark) prints its table; the course rule differs in 0 codes."""
    pytest.importorskip("bitsandbytes")
    from tools import bench_nf4

    bench_nf4.main(["--sizes", "128", "--repeat", "1"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("128x128")]
    assert len(row) == 1 and row[0].split(" | ")[7] == "0"
