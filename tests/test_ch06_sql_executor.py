"""sql_executor: 읽기 전용·시간 제한 실행, 순서를 따지는 비교, 그리고 과정 데이터의 정답 SQL 검증."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ch06_eval.sql_executor import (
    build_database,
    build_databases,
    execute_sql,
    execution_match,
    extract_sql,
    has_order_by,
    results_match,
    schema_text,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "text2sql"


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    return build_databases(ASSETS / "databases", tmp_path_factory.mktemp("db"))


@pytest.fixture
def tiny_db(tmp_path):
    sql = tmp_path / "t.sql"
    sql.write_text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL);"
                   "INSERT INTO t VALUES (1, 'a', 3.0), (2, 'b', 1.5), (3, 'c', 2.25);", encoding="utf-8")
    return build_database(sql, tmp_path / "t.db")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (ASSETS / name).read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- 과정 데이터


def test_dataset_shape():
    train, test = load("train.jsonl"), load("test.jsonl")
    assert len(train) + len(test) >= 120
    assert len({r["db_id"] for r in train + test}) >= 3
    ids = [r["id"] for r in train + test]
    assert len(ids) == len(set(ids)), "train/test 가 겹치지 않음"
    assert {r["db_id"] for r in test} == {r["db_id"] for r in train}
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in r["question"]) for r in train + test), "한국어 질문"


def test_every_gold_sql_executes(dbs):
    for record in load("train.jsonl") + load("test.jsonl"):
        result = execute_sql(dbs[record["db_id"]], record["query"])
        assert result.ok, (record["id"], result.error)
        assert result.rows, f"{record['id']}: 빈 결과 (비교가 너무 쉬워짐)"


def test_noisy_examples_do_not_execute(dbs):
    noisy = load("noisy_train.jsonl")
    assert noisy
    for record in noisy:
        assert not execute_sql(dbs[record["db_id"]], record["query"]).ok, record["id"]


def test_build_is_idempotent(tmp_path):
    first = build_database(ASSETS / "databases" / "shop.sql", tmp_path / "shop.db")
    rows = execute_sql(first, "SELECT COUNT(*) FROM orders").rows
    build_database(ASSETS / "databases" / "shop.sql", tmp_path / "shop.db")
    assert execute_sql(first, "SELECT COUNT(*) FROM orders").rows == rows, "다시 만들어도 행이 늘지 않음"


def test_schema_text_lists_tables(dbs):
    text = schema_text(dbs["library"])
    assert text.count("CREATE TABLE") == 3 and "loans" in text


# ---------------------------------------------------------------- 안전


@pytest.mark.parametrize("sql", [
    "DROP TABLE t",
    "DELETE FROM t",
    "INSERT INTO t VALUES (9, 'x', 0)",
    "UPDATE t SET score = 0",
    "CREATE TABLE u (x)",
    "ALTER TABLE t ADD COLUMN z",
    "PRAGMA query_only = OFF",
    "ATTACH DATABASE 'other.db' AS other",
    "SELECT 1; DROP TABLE t",
    "VACUUM",
    "SELECT load_extension('x')",
])
def test_writes_and_drops_cannot_change_the_database(tiny_db, sql):
    before = digest(tiny_db)
    result = execute_sql(tiny_db, sql)
    assert not result.ok and result.error
    assert digest(tiny_db) == before
    assert execute_sql(tiny_db, "SELECT COUNT(*) FROM t").rows == [(3,)]
    assert not (tiny_db.parent / "other.db").exists()


def test_runaway_recursive_query_is_stopped(tiny_db):
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
    result = execute_sql(tiny_db, endless, timeout_s=0.5)
    assert not result.ok and result.timed_out and "시간 제한" in result.error
    assert result.elapsed_s < 30, "마감 뒤 곧 멈춘다 (느슨한 상한)"


def test_endless_row_stream_is_cut_by_row_limit(tiny_db):
    endless_rows = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    result = execute_sql(tiny_db, endless_rows, timeout_s=60, max_rows=1000)
    assert not result.ok and "1000" in result.error


def test_missing_database_is_not_created(tmp_path):
    result = execute_sql(tmp_path / "nope.db", "SELECT 1")
    assert not result.ok and not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize("sql", ["", "   ", "SELEC 1", "SELECT nope FROM t"])
def test_bad_sql_is_an_error_not_an_exception(tiny_db, sql):
    assert not execute_sql(tiny_db, sql).ok


# ---------------------------------------------------------------- 비교


def test_order_matters_only_with_top_level_order_by(tiny_db):
    gold_ordered = "SELECT name FROM t ORDER BY score DESC"
    pred_reversed = "SELECT name FROM t ORDER BY score ASC"
    assert not execution_match(tiny_db, gold_ordered, pred_reversed).match, "같은 행, 다른 순서 -> 불일치"
    assert execution_match(tiny_db, gold_ordered, "SELECT name FROM t ORDER BY -score").match
    gold_unordered = "SELECT name FROM t"
    assert execution_match(tiny_db, gold_unordered, pred_reversed).match, "ORDER BY 없으면 순서 무시"


def test_multiset_comparison_counts_duplicates(tiny_db):
    assert not execution_match(tiny_db, "SELECT 1 FROM t", "SELECT DISTINCT 1 FROM t").match
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], ordered=False)
    assert results_match([(1,), (2,), (1,)], [(1,), (1,), (2,)], ordered=False)


def test_values_compare_numerically_and_ignore_column_names(tiny_db):
    assert execution_match(tiny_db, "SELECT COUNT(*) FROM t", "SELECT SUM(1.0) AS n FROM t").match
    assert results_match([(0.1 + 0.2,)], [(0.3,)], ordered=True)
    assert not execution_match(tiny_db, "SELECT name, score FROM t", "SELECT score, name FROM t").match


def test_match_reasons(tiny_db):
    assert execution_match(tiny_db, "SELECT id FROM t", "SELECT id FROM t").reason == "match"
    assert execution_match(tiny_db, "SELECT id FROM t", "SELECT id FROM t WHERE id > 1").reason == "mismatch"
    assert execution_match(tiny_db, "SELECT id FROM t", "DROP TABLE t").reason == "pred_error"
    assert execution_match(tiny_db, "SELECT nope FROM t", "SELECT id FROM t").reason == "gold_error"
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
    assert execution_match(tiny_db, "SELECT id FROM t", endless, timeout_s=0.3).reason == "timeout"


@pytest.mark.parametrize("sql, expected", [
    ("SELECT a FROM t ORDER BY a", True),
    ("select a from t order   by a desc limit 3", True),
    ("SELECT a FROM (SELECT a FROM t ORDER BY a) LIMIT 2", False),
    ("SELECT 'order by' FROM t", False),
    ("SELECT a FROM t -- ORDER BY a", False),
    ("SELECT a FROM t WHERE a IN (SELECT a FROM u ORDER BY a LIMIT 1)", False),
])
def test_has_order_by(sql, expected):
    assert has_order_by(sql) is expected


@pytest.mark.parametrize("text, sql", [
    ("```sql\nSELECT 1;\n```", "SELECT 1"),
    ("답: SQL: SELECT name FROM t; 설명...", "SELECT name FROM t"),
    ("SELECT a FROM b; DROP TABLE b", "SELECT a FROM b"),
    ("아무 말", "아무 말"),
    ("", ""),
])
def test_extract_sql(text, sql):
    assert extract_sql(text) == sql
