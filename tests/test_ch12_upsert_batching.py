"""Unit tests of ch12_vectordb/upsert_batching.py."""

import json

import numpy as np
import pytest

from ch12_vectordb.upsert_batching import (
    PINECONE_MAX_REQUEST_BYTES,
    RecordTooLarge,
    batch_records,
    record_bytes,
    to_records,
)


def make_records(n, dim=384, text_len=50, seed=0):
    rng = np.random.default_rng(seed)
    return to_records([f"doc-{i}" for i in range(n)], rng.standard_normal((n, dim)),
                      [{"text": "헌법" * text_len, "n": i} for i in range(n)])


def request_size(batch, namespace="ko"):
    return len(json.dumps({"vectors": batch, "namespace": namespace}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8"))


def test_every_record_once_in_order_and_under_limits():
    records = make_records(700, dim=384)
    batches = list(batch_records(records, max_bytes=PINECONE_MAX_REQUEST_BYTES, max_count=1000))
    assert len(batches) > 1  # 700 x 384 floats does not fit in 2 MB
    flat = [r["id"] for b in batches for r in b]
    assert flat == [r["id"] for r in records]
    assert all(request_size(b) <= PINECONE_MAX_REQUEST_BYTES for b in batches)


def test_count_limit():
    records = make_records(25, dim=4, text_len=1)
    batches = list(batch_records(records, max_count=10))
    assert [len(b) for b in batches] == [10, 10, 5]


def test_byte_limit_is_tight():
    records = make_records(40, dim=8, text_len=5)
    limit = 1024 + 3 * record_bytes(records[0]) + 5
    batches = list(batch_records(records, max_bytes=limit, max_count=1000))
    assert all(len(b) <= 3 for b in batches) and sum(map(len, batches)) == 40
    assert any(len(b) == 3 for b in batches)


def test_single_oversized_record_raises():
    huge = to_records(["big"], [np.random.default_rng(0).standard_normal(200_000)])
    with pytest.raises(RecordTooLarge):
        list(batch_records(huge))


def test_metadata_limit():
    record = to_records(["x"], [[0.0, 1.0]], [{"text": "가" * 20_000}])  # 60 KB of UTF-8
    with pytest.raises(RecordTooLarge):
        list(batch_records(record))


def test_empty_and_validation():
    assert list(batch_records([])) == []
    with pytest.raises(ValueError):
        list(batch_records([{"values": [1.0]}]))
    with pytest.raises(ValueError):
        list(batch_records(make_records(2, dim=2), max_count=0))


def test_to_records_checks():
    with pytest.raises(ValueError):
        to_records(["a", "a"], [[0.0], [1.0]])
    with pytest.raises(ValueError):
        to_records(["a"], [[0.0], [1.0]])
    rec = to_records(["a"], [np.array([1, 2], dtype=np.float32)])[0]
    assert rec == {"id": "a", "values": [1.0, 2.0]}
    json.dumps(rec)  # plain floats, JSON-serialisable
