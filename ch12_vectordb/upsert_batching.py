"""벡터 DB 업서트(upsert)를 요청 크기 제한 안에서 나눠 보내는 보조 모듈.

Pinecone의 업서트 요청 한 번은 최대 2 MB, 최대 1,000개 레코드이고, 레코드 하나의 메타데이터는 40 KB까지입니다
(https://docs.pinecone.io/reference/api/database-limits). 한 번에 다 보내면 큰 데이터에서 요청이 거절됩니다.

    for batch in batch_records(records, max_bytes=2_000_000, max_count=200):
        index.upsert(vectors=batch, namespace="ko")

- 요청 크기는 레코드를 JSON으로 직렬화한 바이트 수로 어림합니다 (REST 요청 본문과 같은 방식, 여유분 포함).
- 혼자서도 제한을 넘는 레코드는 조용히 버리지 않고 `RecordTooLarge` 예외를 냅니다.
- 입력 순서를 지키고, 모든 레코드를 정확히 한 번씩 내보냅니다.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

PINECONE_MAX_REQUEST_BYTES = 2 * 1024 * 1024
PINECONE_MAX_BATCH_COUNT = 1000
PINECONE_MAX_METADATA_BYTES = 40 * 1024
REQUEST_OVERHEAD_BYTES = 1024  # {"vectors": [...], "namespace": "..."} 같은 감싸는 부분의 여유분


class RecordTooLarge(ValueError):
    """A single record cannot fit in one request (or its metadata is over the per-record limit)."""


def record_bytes(record: dict) -> int:
    """Size of one record as JSON (UTF-8), plus one byte for the separating comma."""
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1


def metadata_bytes(record: dict) -> int:
    metadata = record.get("metadata") or {}
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def batch_records(records: Iterable[dict], max_bytes: int = PINECONE_MAX_REQUEST_BYTES,
                  max_count: int = PINECONE_MAX_BATCH_COUNT,
                  max_metadata_bytes: int = PINECONE_MAX_METADATA_BYTES,
                  overhead_bytes: int = REQUEST_OVERHEAD_BYTES) -> Iterator[list[dict]]:
    """Yield lists of records, each under `max_bytes` (JSON estimate + overhead) and `max_count` records."""
    if max_count < 1 or max_bytes <= overhead_bytes:
        raise ValueError("max_count must be >= 1 and max_bytes larger than the overhead")
    batch: list[dict] = []
    size = overhead_bytes
    for record in records:
        if "id" not in record:
            raise ValueError("every record needs an 'id'")
        if metadata_bytes(record) > max_metadata_bytes:
            raise RecordTooLarge(f"record {record['id']!r}: metadata {metadata_bytes(record)} B > "
                                 f"{max_metadata_bytes} B")
        n = record_bytes(record)
        if overhead_bytes + n > max_bytes:
            raise RecordTooLarge(f"record {record['id']!r}: {n} B does not fit in one {max_bytes} B request")
        if batch and (size + n > max_bytes or len(batch) >= max_count):
            yield batch
            batch, size = [], overhead_bytes
        batch.append(record)
        size += n
    if batch:
        yield batch


def to_records(ids: Iterable[str], vectors, metadatas: Iterable[dict] | None = None) -> list[dict]:
    """Pinecone-style records {"id", "values", "metadata"} from parallel lists (vectors as lists of floats)."""
    ids = list(ids)
    metadatas = list(metadatas) if metadatas is not None else [None] * len(ids)
    vectors = [list(map(float, v)) for v in vectors]
    if not (len(ids) == len(vectors) == len(metadatas)):
        raise ValueError("ids, vectors and metadatas must have the same length")
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique (an upsert with a repeated id silently overwrites)")
    return [{"id": i, "values": v, **({"metadata": m} if m else {})} for i, v, m in zip(ids, vectors, metadatas)]
