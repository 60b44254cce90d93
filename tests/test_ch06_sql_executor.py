"""sql_executor: 읽기 전용·시간 제한 실행, 순서를 따지는 비교, 그리고 과정 데이터의 정답 SQL 검증."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
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


# ---------------------------------------------------------------- 무거운 식 하나, 이상한 입력, 스키마 조회

HEAVY_PROBE = """
import resource, sys
from ch06_eval.sql_executor import execute_sql
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = execute_sql(sys.argv[1], sys.argv[2], timeout_s=2)
grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(result.ok, round(grown_mb), repr(result.error))
"""


@pytest.mark.parametrize("sql", ["SELECT hex(randomblob(490000000))", "SELECT randomblob(999999999)",
                                 "SELECT length(zeroblob(2000000000))",
                                 "SELECT length(replace(hex(zeroblob(40000000)), '0', '0000000000'))"])
def test_single_heavy_expression_is_refused_without_using_the_memory(tiny_db, sql):
    run = subprocess.run([sys.executable, "-c", HEAVY_PROBE, str(tiny_db), sql], capture_output=True, text=True,
                         timeout=120, check=False, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr  # no exception escaped
    ok, grown_mb, error = run.stdout.split(" ", 2)
    print(sql, "->", ok, grown_mb, "MB", error)
    assert ok == "False" and "제한" in error
    assert int(grown_mb) < 100, "the value is refused before it is built (peak RSS grew less than 100 MB)"


def test_memory_cap_holds_when_the_length_limit_is_raised(tiny_db):
    result = execute_sql(tiny_db, "SELECT length(randomblob(200000000))", max_value_bytes=500_000_000,
                         max_memory_bytes=32_000_000)
    print(result)
    assert not result.ok and "메모리" in result.error
    assert execute_sql(tiny_db, "SELECT length(randomblob(1000))").rows == [(1000,)], "still usable afterwards"


def test_total_result_size_is_capped(tiny_db):
    many_blobs = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) "
                  "SELECT randomblob(100000) FROM c")
    result = execute_sql(tiny_db, many_blobs)
    assert not result.ok and "바이트" in result.error and len(result.rows) == 0


@pytest.mark.parametrize("sql", [None, 123, b"SELECT 1", ["SELECT 1"], "SELECT 1\x00; DROP TABLE t",
                                 "SELECT " + "1 + " * 200_000 + "1", "SELECT '\ud800'"])
def test_never_raises_on_odd_input(tiny_db, sql):
    before = digest(tiny_db)
    result = execute_sql(tiny_db, sql)
    assert not result.ok and isinstance(result.error, str) and result.error
    assert digest(tiny_db) == before


def test_never_raises_on_odd_paths(tmp_path):
    for path in [None, 42, tmp_path, tmp_path / "bad\x00name.db"]:
        result = execute_sql(path, "SELECT 1")
        assert not result.ok and result.error, path


@pytest.mark.parametrize("sql, expected", [
    ("SELECT name, type FROM pragma_table_info('t') ORDER BY cid", [("id", "INTEGER"), ("name", "TEXT"),
                                                                    ("score", "REAL")]),
    ("PRAGMA table_info(t)", None),
    ("SELECT COUNT(*) FROM pragma_index_list('t')", [(0,)]),
    ("SELECT name FROM pragma_table_list WHERE schema = 'main' AND name = 't'", [("t",)]),
    ("SELECT COUNT(*) FROM pragma_foreign_key_list('t')", [(0,)]),
    ("SELECT name FROM sqlite_master WHERE type = 'table'", [("t",)]),
])
def test_read_only_introspection_is_allowed(tiny_db, sql, expected):
    result = execute_sql(tiny_db, sql)
    assert result.ok, result.error
    if expected is not None:
        assert result.rows == expected
    else:
        assert [r[1] for r in result.rows] == ["id", "name", "score"]


@pytest.mark.parametrize("sql", ["PRAGMA writable_schema = ON", "PRAGMA journal_mode = DELETE",
                                 "SELECT * FROM pragma_database_list", "PRAGMA query_only = 0",
                                 "SELECT * FROM pragma_table_info('t'); DROP TABLE t",
                                 "PRAGMA table_info(t) ; PRAGMA query_only = 0"])
def test_other_pragmas_stay_refused(tiny_db, sql):
    before = digest(tiny_db)
    result = execute_sql(tiny_db, sql)
    assert not result.ok and result.error
    assert digest(tiny_db) == before
