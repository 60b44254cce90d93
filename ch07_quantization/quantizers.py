"""처음부터 만드는 가중치 양자화: absmax int8, 영점(zero-point) int8, 그룹별 4비트, NF4.

    from quantizers import absmax_quantize, dequantize, quantize_linears_
    q = absmax_quantize(weight, bits=8)       # QTensor: 정수 값 + 스케일(+영점)
    w_hat = dequantize(q)                     # 다시 실수로
    error_bound(q)                            # 원소별 최대 오차의 이론 상한
    quantize_linears_(model, "int4", group_size=64)   # 모델의 nn.Linear 를 가중치 전용 양자화 층으로 교체

모든 함수는 "마지막 축을 따라 group_size 개씩" 묶어 스케일을 하나씩 둔다. group_size=None 이면 텐서 전체가
한 그룹(per-tensor)이다. 4비트 값은 바이트 하나에 두 개씩 채워(pack) 저장하므로 메모리가 실제로 절반이 된다.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# QLoRA 논문(Dettmers et al., 2023)의 NF4 코드북: 표준정규분포의 분위수를 [-1, 1] 로 정규화한 16개 값 (0 포함).
NF4_CODEBOOK = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
])
# 이웃한 두 눈금의 중간점 15개: 구간 (경계[i-1], 경계[i]] 에 든 값은 눈금 i 가 가장 가깝다 (중간점 위 = 아래 눈금).
NF4_MIDPOINTS = (NF4_CODEBOOK[:-1] + NF4_CODEBOOK[1:]) / 2


@dataclass
class QTensor:
    """양자화된 텐서: codes(정수 또는 4비트 두 개를 채운 uint8), 그룹별 scale, (영점 방식이면) zero."""
    codes: torch.Tensor
    scale: torch.Tensor  # (그룹 수, 1)
    zero: torch.Tensor | None
    scheme: str  # "absmax" | "zeropoint" | "nf4"
    bits: int
    shape: tuple
    group_size: int | None
    packed: bool

    def nbytes(self) -> int:
        """실제로 저장하는 바이트: 코드 + 스케일 (+ 영점)."""
        total = self.codes.numel() * self.codes.element_size() + self.scale.numel() * self.scale.element_size()
        return total + (0 if self.zero is None else self.zero.numel() * self.zero.element_size())


def split_groups(w: torch.Tensor, group_size: int | None) -> torch.Tensor:
    """w 를 fp32 로 펴서 (그룹 수, group_size) 로 자른다. None 이면 텐서 전체가 한 그룹."""
    flat = w.detach().float().reshape(-1)
    size = flat.numel() if group_size is None else group_size
    if flat.numel() % size:
        raise ValueError(f"원소 수 {flat.numel()} 가 group_size {size} 로 나누어떨어지지 않습니다")
    return flat.reshape(-1, size)


def pack_int4(codes: torch.Tensor) -> torch.Tensor:
    """0..15 정수 두 개를 uint8 하나에 채운다 (앞 값이 아래 4비트)."""
    codes = codes.to(torch.uint8).reshape(-1)
    if codes.numel() % 2:
        codes = torch.cat([codes, codes.new_zeros(1)])
    return codes[0::2] | (codes[1::2] << 4)


def unpack_int4(packed: torch.Tensor, numel: int) -> torch.Tensor:
    out = torch.stack([packed & 0x0F, packed >> 4], dim=1).reshape(-1)
    return out[:numel]


def absmax_quantize(w: torch.Tensor, bits: int = 8, group_size: int | None = None) -> QTensor:
    """대칭 양자화: scale = max|w| / (2^(b-1)-1), q = round(w / scale). 0 은 정확히 0 으로 간다."""
    g = split_groups(w, group_size)
    qmax = 2 ** (bits - 1) - 1
    scale = g.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / qmax
    q = torch.round(g / scale).clamp(-qmax, qmax)
    packed = bits <= 4
    codes = pack_int4(q + qmax) if packed else q.to(torch.int8)  # 4비트는 0..14 로 옮겨 채운다
    return QTensor(codes, scale, None, "absmax", bits, tuple(w.shape), group_size, packed)


def zeropoint_quantize(w: torch.Tensor, bits: int = 8, group_size: int | None = None) -> QTensor:
    """비대칭 양자화: [min, max] 를 [0, 2^b-1] 에 펼친다. scale = (max-min)/(2^b-1), zero = round(-min/scale)."""
    g = split_groups(w, group_size)
    qmax = 2 ** bits - 1
    lo, hi = g.amin(dim=1, keepdim=True), g.amax(dim=1, keepdim=True)
    scale = ((hi - lo) / qmax).clamp(min=1e-12)
    zero = torch.round(-lo / scale)
    q = torch.round(g / scale + zero).clamp(0, qmax)
    packed = bits <= 4
    codes = pack_int4(q) if packed else q.to(torch.uint8)
    return QTensor(codes, scale, zero, "zeropoint", bits, tuple(w.shape), group_size, packed)


def nf4_quantize(w: torch.Tensor, group_size: int = 64) -> QTensor:
    """NF4: 블록별 absmax 로 [-1, 1] 에 맞춘 뒤 가장 가까운 코드북 값의 번호(0..15)를 저장한다.

    "가장 가까운 값" 은 중간점 경계로 찾는다 (bucketize). 정규화는 bitsandbytes 와 같이 역수를 곱하고
    (x * (1/absmax)), 중간점에 정확히 놓인 값은 아래 눈금으로 보낸다: 그래서 코드가 bitsandbytes 와 같다."""
    g = split_groups(w, group_size)
    scale = g.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
    normalized = (g * (1.0 / scale)).clamp(-1, 1)
    idx = torch.bucketize(normalized, NF4_MIDPOINTS)
    return QTensor(pack_int4(idx), scale, None, "nf4", 4, tuple(w.shape), group_size, True)


def nf4_quantize_argmin(w: torch.Tensor, group_size: int = 64) -> QTensor:
    """비교용 (이전 구현): x / absmax 에서 |x - 눈금| 이 가장 작은 번호. 거의 같지만 중간점 근처에서 다를 수 있다."""
    g = split_groups(w, group_size)
    scale = g.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
    idx = (g / scale).unsqueeze(-1).sub(NF4_CODEBOOK).abs().argmin(dim=-1)
    return QTensor(pack_int4(idx), scale, None, "nf4", 4, tuple(w.shape), group_size, True)


def dequantize(q: QTensor) -> torch.Tensor:
    numel = 1
    for d in q.shape:
        numel *= d
    codes = unpack_int4(q.codes, numel).float() if q.packed else q.codes.float()
    codes = codes.reshape(q.scale.shape[0], -1)
    if q.scheme == "nf4":
        values = NF4_CODEBOOK[codes.long()] * q.scale
    elif q.scheme == "absmax":
        offset = 2 ** (q.bits - 1) - 1 if q.packed else 0
        values = (codes - offset) * q.scale
    else:
        values = (codes - q.zero) * q.scale
    return values.reshape(q.shape)


def error_bound(q: QTensor) -> torch.Tensor:
    """원소별 |w - dequantize(q)| 의 이론 상한 (그룹별, shape (그룹 수, 1)).

    absmax·영점: 반올림 오차는 눈금 간격(scale)의 절반. NF4: 이웃한 코드 사이 간격의 절반 중 최댓값 × absmax."""
    if q.scheme == "nf4":
        return NF4_CODEBOOK.diff().max() / 2 * q.scale
    return q.scale / 2


def expected_nbytes(numel: int, bits: int, group_size: int | None, scale_bytes: int = 4, zero: bool = False) -> int:
    """분석 공식: 코드 ceil(numel*bits/8) 바이트 + 그룹마다 스케일(과 영점) 하나."""
    groups = 1 if group_size is None else numel // group_size
    return -(-numel * bits // 8) + groups * scale_bytes * (2 if zero else 1)


QUANTIZERS = {
    "int8": lambda w, g: absmax_quantize(w, 8, g),
    "int8-zp": lambda w, g: zeropoint_quantize(w, 8, g),
    "int4": lambda w, g: absmax_quantize(w, 4, g),
    "int4-zp": lambda w, g: zeropoint_quantize(w, 4, g),
    "nf4": lambda w, g: nf4_quantize(w, g or 64),
}


class QuantLinear(torch.nn.Module):
    """가중치 전용 양자화 Linear: 정수 코드와 스케일을 버퍼로 들고 있다가 forward 때 실수로 복원해 곱한다."""

    def __init__(self, linear: torch.nn.Linear, scheme: str, group_size: int | None):
        super().__init__()
        q = QUANTIZERS[scheme](linear.weight, group_size or linear.in_features)  # None: 행(출력 채널)마다
        self.meta = {k: getattr(q, k) for k in ("scheme", "bits", "shape", "group_size", "packed")}
        self.register_buffer("codes", q.codes)
        self.register_buffer("scale", q.scale)
        self.register_buffer("zero", q.zero)
        self.bias = linear.bias
        self.compute_dtype = linear.weight.dtype
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def weight_hat(self) -> torch.Tensor:
        return dequantize(QTensor(self.codes, self.scale, self.zero, **self.meta)).to(self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_hat().to(x.device), self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, scheme={self.meta['scheme']}{self.meta['bits']}"


def quantize_linears_(model: torch.nn.Module, scheme: str, group_size: int | None = None,
                      skip: tuple[str, ...] = ("lm_head",)) -> int:
    """model 안의 nn.Linear 를 QuantLinear 로 바꾼다 (제자리). 바꾼 층 수를 돌려준다.

    group_size=None 이면 행(출력 채널)마다 스케일 하나 (int8 의 보통 선택).
    lm_head 는 bitsandbytes 의 기본값처럼 원래 정밀도로 둔다."""
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and not any(s in name.split(".") for s in skip)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, QuantLinear(module, scheme, group_size))
    return len(targets)
