"""선형 점화식 h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) 을 푸는 두 가지 스캔.

- ``sequential_scan``: 정의 그대로 한 칸씩 도는 기준 구현 (길이 L 만큼 파이썬 반복).
- ``parallel_scan``: 결합 법칙을 이용한 병렬(연관) 스캔. Hillis-Steele 방식으로
  log2(L) 번의 전체 텐서 연산만 쓴다 (일은 O(L log L), 단계 수는 O(log L)). GPU 처럼 코어가 많을 때 유리.
- ``chunked_scan``: 길이를 √L 크기 청크로 나눠 (1) 모든 청크 안을 동시에 순차 스캔하고 (2) 청크 경계의
  상태만 순차로 이어 붙인 뒤 (3) 한 번에 보정한다. 파이썬 반복은 약 2√L 번, 일은 O(L): 코어가 적은 CPU 용 절충.

두 원소 (a1, b1), (a2, b2) 를 "먼저 1, 다음 2" 로 합치는 연산
    (a1, b1) ∘ (a2, b2) = (a1 * a2, a2 * b1 + b2)
이 결합 법칙을 만족하기 때문에 순서를 바꾸지 않고 묶음만 바꿔서 병렬로 계산할 수 있다.
Mamba 의 선택적 스캔(16장)에서 a_t = exp(Δ_t A), b_t = Δ_t B_t x_t 로 쓴다.
"""

from __future__ import annotations

import math

import torch


def sequential_scan(a: torch.Tensor, b: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """기준 구현: dim 축을 따라 h_t = a_t * h_{t-1} + b_t 를 차례로 계산한다."""
    a, b = torch.broadcast_tensors(a, b)
    a, b = a.movedim(dim, 0), b.movedim(dim, 0)
    h = torch.zeros_like(b[0])
    states = []
    for t in range(b.shape[0]):
        h = a[t] * h + b[t]
        states.append(h)
    return torch.stack(states, dim=0).movedim(0, dim)


def parallel_scan(a: torch.Tensor, b: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Hillis-Steele 병렬 스캔: offset = 1, 2, 4, ... 마다 앞쪽 구간의 결과를 한 번에 합친다.

    단계 k 가 끝나면 위치 t 는 구간 (t - 2^(k+1), t] 를 합친 (A, B) 를 들고 있고,
    마지막에 B 가 곧 h_t 이다 (h_{-1} = 0 이므로).
    """
    a, b = torch.broadcast_tensors(a, b)
    # 시간 축을 맨 앞으로 옮기고 연속 메모리로: 아래의 슬라이스가 통째로 붙은 블록이 되어 빠르다
    a, b = a.movedim(dim, 0).contiguous(), b.movedim(dim, 0).contiguous()
    length = b.shape[0]
    offset = 1
    while offset < length:
        # 앞쪽 원소가 없는 처음 offset 칸은 항등원 (a=1, b=0) 과 합친 것과 같다: 그대로 둔다.
        a_prev, b_prev = a[:-offset], b[:-offset]
        a_cur, b_cur = a[offset:], b[offset:]
        b = torch.cat([b[:offset], a_cur * b_prev + b_cur])
        a = torch.cat([a[:offset], a_cur * a_prev])
        offset *= 2
    return b.movedim(0, dim)


def chunked_scan(a: torch.Tensor, b: torch.Tensor, dim: int = 1, chunk: int | None = None) -> torch.Tensor:
    """청크 스캔: 청크 안(모든 청크 동시) → 청크 경계(순차) → 보정. 결과는 sequential_scan 과 같다."""
    a, b = torch.broadcast_tensors(a, b)
    a, b = a.movedim(dim, 0), b.movedim(dim, 0)
    length, rest = b.shape[0], b.shape[1:]
    chunk = chunk or max(1, math.isqrt(length))
    n_chunks = -(-length // chunk)
    pad = n_chunks * chunk - length  # 끝에 항등원 (a=1, b=0) 을 붙여도 앞의 상태는 그대로
    if pad:
        a = torch.cat([a, a.new_ones(pad, *rest)])
        b = torch.cat([b, b.new_zeros(pad, *rest)])
    a, b = a.reshape(n_chunks, chunk, *rest), b.reshape(n_chunks, chunk, *rest)
    # (1) 각 청크 안의 국소 상태(청크 시작 상태 = 0)와 누적곱을 모든 청크에서 동시에
    h, prod = torch.zeros_like(b[:, 0]), torch.ones_like(a[:, 0])
    local, prods = [], []
    for i in range(chunk):
        h, prod = a[:, i] * h + b[:, i], prod * a[:, i]
        local.append(h)
        prods.append(prod)
    local, prods = torch.stack(local, dim=1), torch.stack(prods, dim=1)
    # (2) 각 청크로 들어가는 상태: 청크 개수만큼만 순차로
    carry, carries = torch.zeros_like(b[0, 0]), []
    for c in range(n_chunks):
        carries.append(carry)
        carry = prods[c, -1] * carry + local[c, -1]
    # (3) 보정: h_t = (청크 안 국소 상태) + (청크 시작부터 t 까지의 누적곱) × (들어온 상태)
    states = local + prods * torch.stack(carries)[:, None]
    return states.reshape(n_chunks * chunk, *rest)[:length].movedim(0, dim)
