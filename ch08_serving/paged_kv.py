"""8.3 PagedAttention 의 메모리 관리 아이디어: KV 캐시를 고정 크기 블록으로 나누고 블록 테이블로 찾아간다.

- ``BlockAllocator``: 물리 블록 풀, 요청별 블록 테이블 (논리 블록 번호 -> 물리 블록 번호), 참조 카운트로
  블록 공유(fork, 예: 같은 프롬프트로 여러 답 만들기)와 쓰기 시 복사(copy-on-write).
- ``contiguous_waste`` / ``paged_waste``: 같은 요청 길이에서 연속 할당(최대 길이만큼 미리 예약)과 블록 할당이
  예약했지만 쓰지 않는 KV 슬롯 수를 센다.

실제 KV 텐서는 다루지 않는다. 슬롯(토큰) 수에 ``kv_bytes_per_token`` 을 곱하면 바이트가 된다.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class OutOfBlocks(RuntimeError):
    """빈 물리 블록이 없다 (실제 엔진이라면 요청을 기다리게 하거나 선점한다)."""


@dataclass
class _Seq:
    table: list[int]  # 논리 블록 i -> 물리 블록 번호
    length: int  # 저장된 토큰 수


class BlockAllocator:
    def __init__(self, num_blocks: int, block_size: int):
        if num_blocks < 1 or block_size < 1:
            raise ValueError("num_blocks and block_size must be >= 1")
        self.num_blocks, self.block_size = num_blocks, block_size
        self._free = list(range(num_blocks - 1, -1, -1))  # pop() 이 0 번부터 준다
        self._refs = [0] * num_blocks
        self._seqs: dict[object, _Seq] = {}
        self.copies: list[tuple[int, int]] = []  # copy-on-write 로 복사한 (원본, 사본) 블록

    # ---- 조회
    @property
    def free_blocks(self) -> int:
        return len(self._free)

    @property
    def used_blocks(self) -> int:
        return self.num_blocks - len(self._free)

    def block_table(self, seq_id) -> list[int]:
        return list(self._seqs[seq_id].table)

    def length(self, seq_id) -> int:
        return self._seqs[seq_id].length

    def slot(self, seq_id, position: int) -> tuple[int, int]:
        """토큰 위치 -> (물리 블록, 블록 안 오프셋). 어텐션 커널이 KV 를 읽을 때 하는 계산."""
        seq = self._seqs[seq_id]
        if not 0 <= position < seq.length:
            raise IndexError(f"position {position} outside 0..{seq.length - 1}")
        return seq.table[position // self.block_size], position % self.block_size

    def reserved_slots(self) -> int:
        return self.used_blocks * self.block_size

    def stored_tokens(self) -> int:
        """블록 공유를 고려해, 물리적으로 저장된 서로 다른 토큰 슬롯 수."""
        filled: dict[int, int] = {}
        for seq in self._seqs.values():
            for i, block in enumerate(seq.table):
                n = min(self.block_size, seq.length - i * self.block_size)
                filled[block] = max(filled.get(block, 0), n)
        return sum(filled.values())

    # ---- 변경
    def _take(self) -> int:
        if not self._free:
            raise OutOfBlocks(f"all {self.num_blocks} blocks are in use")
        block = self._free.pop()
        self._refs[block] = 1
        return block

    def _release(self, block: int) -> None:
        self._refs[block] -= 1
        if self._refs[block] == 0:
            self._free.append(block)

    def allocate(self, seq_id, num_tokens: int) -> list[int]:
        """프롬프트 길이만큼 블록을 잡는다 (필요한 만큼만: ceil(num_tokens / block_size))."""
        if seq_id in self._seqs:
            raise KeyError(f"sequence {seq_id!r} already allocated")
        need = math.ceil(num_tokens / self.block_size)
        if need > len(self._free):
            raise OutOfBlocks(f"need {need} blocks, {len(self._free)} free")
        self._seqs[seq_id] = _Seq([self._take() for _ in range(need)], num_tokens)
        return self.block_table(seq_id)

    def append_token(self, seq_id) -> tuple[int, int]:
        """생성된 토큰 하나의 자리를 만든다. 마지막 블록이 차 있으면 새 블록, 공유 중이면 복사 후 쓴다."""
        seq = self._seqs[seq_id]
        offset = seq.length % self.block_size
        if offset == 0:
            seq.table.append(self._take())
        elif self._refs[seq.table[-1]] > 1:  # 공유 블록에 쓰기 전에 복사 (copy-on-write)
            old = seq.table[-1]
            new = self._take()
            self._release(old)
            seq.table[-1] = new
            self.copies.append((old, new))
        seq.length += 1
        return seq.table[-1], offset

    def fork(self, parent_id, child_id) -> list[int]:
        """부모의 블록을 복사하지 않고 공유한다 (참조 카운트만 올린다)."""
        if child_id in self._seqs:
            raise KeyError(f"sequence {child_id!r} already allocated")
        parent = self._seqs[parent_id]
        for block in parent.table:
            self._refs[block] += 1
        self._seqs[child_id] = _Seq(list(parent.table), parent.length)
        return self.block_table(child_id)

    def free(self, seq_id) -> None:
        for block in self._seqs.pop(seq_id).table:
            self._release(block)


def contiguous_waste(lengths: list[int], reserve: int | list[int]) -> dict:
    """연속 할당: 요청마다 나올 수 있는 최대 길이(reserve: 공통 값 하나 또는 요청별 목록)를 한 덩어리로 미리 잡는다."""
    reserves = [reserve] * len(lengths) if isinstance(reserve, int) else list(reserve)
    if len(reserves) != len(lengths):
        raise ValueError("one reservation per sequence")
    if any(n > r for n, r in zip(lengths, reserves)):
        raise ValueError("a sequence is longer than the reservation")
    reserved = sum(reserves)
    used = sum(lengths)
    return {"reserved": reserved, "used": used, "wasted": reserved - used,
            "waste_pct": 100 * (reserved - used) / reserved if reserved else 0.0}


def paged_waste(lengths: list[int], block_size: int) -> dict:
    """블록 할당기로 실제로 길이만큼 토큰을 넣어 보고 예약/사용 슬롯을 센다 (낭비는 요청마다 마지막 블록뿐)."""
    total_blocks = sum(math.ceil(n / block_size) for n in lengths) or 1
    alloc = BlockAllocator(total_blocks, block_size)
    for i, n in enumerate(lengths):
        alloc.allocate(i, 1 if n else 0)
        for _ in range(n - 1):
            alloc.append_token(i)
    reserved, used = alloc.reserved_slots(), alloc.stored_tokens()
    return {"reserved": reserved, "used": used, "wasted": reserved - used,
            "waste_pct": 100 * (reserved - used) / reserved if reserved else 0.0}
