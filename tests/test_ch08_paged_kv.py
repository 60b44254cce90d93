"""ch08_serving/paged_kv.py: 블록 테이블 할당기와 메모리 낭비 계산."""

from __future__ import annotations

import math

import pytest

from ch08_serving.paged_kv import BlockAllocator, OutOfBlocks, contiguous_waste, paged_waste


def test_allocate_takes_only_needed_blocks_and_maps_slots():
    alloc = BlockAllocator(num_blocks=10, block_size=4)
    table = alloc.allocate("a", 6)
    assert len(table) == 2 and alloc.free_blocks == 8
    assert alloc.slot("a", 0) == (table[0], 0)
    assert alloc.slot("a", 5) == (table[1], 1)
    with pytest.raises(IndexError):
        alloc.slot("a", 6)


def test_append_opens_a_new_block_only_when_full():
    alloc = BlockAllocator(10, 4)
    alloc.allocate("a", 3)
    block, offset = alloc.append_token("a")
    assert offset == 3 and len(alloc.block_table("a")) == 1
    block2, offset2 = alloc.append_token("a")
    assert offset2 == 0 and block2 != block and len(alloc.block_table("a")) == 2
    assert alloc.length("a") == 5


def test_blocks_need_not_be_contiguous_and_are_reused_after_free():
    alloc = BlockAllocator(6, 2)
    alloc.allocate("a", 2)
    alloc.allocate("b", 2)
    alloc.append_token("a")  # a 의 두 번째 블록은 b 뒤에 온다
    table = alloc.block_table("a")
    assert table[1] != table[0] + 1
    alloc.free("b")
    assert alloc.free_blocks == 4
    alloc.allocate("c", 2)
    assert alloc.used_blocks == 3
    assert len(set(alloc.block_table("a")) | set(alloc.block_table("c"))) == 3


def test_out_of_blocks_and_duplicate_ids():
    alloc = BlockAllocator(2, 4)
    alloc.allocate("a", 8)
    with pytest.raises(OutOfBlocks):
        alloc.append_token("a")
    with pytest.raises(OutOfBlocks):
        alloc.allocate("b", 1)
    with pytest.raises(KeyError):
        alloc.allocate("a", 1)
    with pytest.raises(ValueError):
        BlockAllocator(0, 4)


def test_fork_shares_blocks_and_copy_on_write():
    alloc = BlockAllocator(10, 4)
    alloc.allocate("p", 6)  # 블록 2개, 마지막 블록은 반만 참
    child = alloc.fork("p", "c")
    assert child == alloc.block_table("p") and alloc.used_blocks == 2
    assert alloc.stored_tokens() == 6  # 공유 블록은 한 번만 센다
    block, offset = alloc.append_token("c")  # 공유된 마지막 블록에 쓰기 -> 복사
    assert offset == 2 and block not in alloc.block_table("p")
    assert alloc.block_table("c")[0] == alloc.block_table("p")[0]  # 첫 블록은 계속 공유
    assert alloc.copies == [(alloc.block_table("p")[1], block)]
    alloc.free("p")
    assert alloc.used_blocks == 2  # 자식이 아직 첫 블록을 쓴다
    alloc.free("c")
    assert alloc.free_blocks == 10


@pytest.mark.parametrize("block_size", [1, 4, 16])
def test_paged_waste_is_below_one_block_per_sequence(block_size):
    lengths = [1, 5, 17, 33, 64, 2]
    paged = paged_waste(lengths, block_size)
    assert paged["used"] == sum(lengths)
    assert paged["reserved"] == sum(math.ceil(n / block_size) for n in lengths) * block_size
    assert 0 <= paged["wasted"] < block_size * len(lengths)
    contiguous = contiguous_waste(lengths, reserve=128)
    assert contiguous["reserved"] == 128 * len(lengths)
    assert contiguous["wasted"] == 128 * len(lengths) - sum(lengths)
    assert paged["wasted"] <= contiguous["wasted"]
    if block_size == 1:
        assert paged["wasted"] == 0


def test_contiguous_per_request_reservations():
    got = contiguous_waste([3, 10], reserve=[5, 10])
    assert got["reserved"] == 15 and got["wasted"] == 2
    with pytest.raises(ValueError):
        contiguous_waste([10], reserve=5)
    with pytest.raises(ValueError):
        contiguous_waste([3, 4], reserve=[5])
