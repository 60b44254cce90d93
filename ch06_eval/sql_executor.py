"""Text2SQL 실행 정확도(execution accuracy)를 위한 안전한 SQL 실행기와 결과 비교기.

- 읽기 전용 연결 (URI mode=ro + PRAGMA query_only + 권한 콜백): DROP/INSERT/UPDATE/ATTACH/쓰는 PRAGMA 는 막힌다.
  스키마를 읽기만 하는 PRAGMA(`pragma_table_info('t')`, `PRAGMA index_list(t)` 등)는 허용한다.
- 시간 제한 (progress handler 가 마감을 넘기면 중단) + 행 수 제한: 끝없는 재귀 CTE 도 멈춘다.
- 식 하나가 무거운 경우 (`hex(randomblob(490000000))`): progress handler 는 식 하나의 계산 도중에는 불리지 않으므로
  값 하나의 크기를 `setlimit(SQLITE_LIMIT_LENGTH)` 로 막고(만들기 전에 거절), SQLite 힙 전체를
  `sqlite3_hard_heap_limit64` 로 묶는다 (파이썬이 노출하지 않아 ctypes 로, 실행하는 동안만). 결과 전체의 바이트 수도 센다.
- 한 번에 한 문장만 실행한다 ("SELECT 1; DROP TABLE x" 는 거부).
- `execute_sql` 은 예외를 던지지 않는다: 어떤 입력에도 ExecResult(ok=False, error=...) 를 돌려준다.
- 결과 비교: 정답 SQL 의 바깥쪽에 ORDER BY 가 있으면 순서까지, 없으면 순서 무시(중복은 센다).

    build_databases("../assets/text2sql/databases", "outputs/db")  -> {"shop": Path(...), ...}
    execute_sql(db_path, "SELECT ...")                              -> ExecResult(ok, rows, columns, error, ...)
    execution_match(db_path, gold_sql, pred_sql)                    -> MatchResult(match, reason)
"""

from __future__ import annotations

import ctypes
import re
import sqlite3
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# 읽기 전용 질의에 필요한 권한만 허용한다 (나머지는 SQLITE_DENY).
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_BLOCKED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
# 스키마만 읽는 PRAGMA (값을 바꾸지 못하고, 파일 경로도 드러내지 않는 것)
_INTROSPECTION_PRAGMAS = {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                          "foreign_key_list"}

DEFAULT_MAX_VALUE_BYTES = 10_000_000     # 문자열/BLOB 값 하나 (SQLITE_LIMIT_LENGTH)
DEFAULT_MAX_RESULT_BYTES = 50_000_000    # 돌려줄 결과 전체
DEFAULT_MAX_MEMORY_BYTES = 256_000_000   # 실행 중 SQLite 힙이 더 쓸 수 있는 양
MAX_SQL_CHARS = 100_000                  # 질의 문장 길이 (SQLITE_LIMIT_SQL_LENGTH)


def build_database(sql_path: str | Path, db_path: str | Path) -> Path:
    """DDL + 시드 SQL 파일로 SQLite 파일을 새로 만든다 (있으면 지우고 다시: 몇 번을 돌려도 같은 결과)."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.unlink(missing_ok=True)
    with sqlite3.connect(db_path) as conn:
        conn.executescript(Path(sql_path).read_text(encoding="utf-8"))
    conn.close()
    return db_path


def build_databases(sql_dir: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """sql_dir 의 *.sql 마다 out_dir/<이름>.db 를 만든다."""
    return {p.stem: build_database(p, Path(out_dir) / f"{p.stem}.db") for p in sorted(Path(sql_dir).glob("*.sql"))}


def _authorizer(action, arg1, arg2, db_name, trigger, select_statement: bool = False):
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _INTROSPECTION_PRAGMAS:
        return sqlite3.SQLITE_OK
    if (select_statement and action == sqlite3.SQLITE_UPDATE and db_name == "main"
            and (arg1 or "").lower() in ("sqlite_master", "sqlite_schema")):
        # a pragma_* table-valued function asks this while it declares its virtual table; a SELECT cannot
        # update anything (no DML inside SELECT/WITH in SQLite), and the connection is read-only anyway
        return sqlite3.SQLITE_OK
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _BLOCKED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _is_select(sql: str) -> bool:
    words = _strip_literals_and_comments(sql).split(None, 1)
    return bool(words) and words[0].lower() in ("select", "with", "values")


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    """파일을 바꿀 수 없는 연결. 없는 파일이면 만들지 않고 오류."""
    path = Path(db_path).resolve()
    if not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS)
    conn.set_authorizer(_authorizer)
    return conn


def _load_heap_api():
    """sqlite3_hard_heap_limit64 / sqlite3_memory_used of the SQLite library the sqlite3 module uses."""
    try:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)  # symbol lookup also searches the linked libsqlite3
        limit, used = lib.sqlite3_hard_heap_limit64, lib.sqlite3_memory_used
    except (ImportError, OSError, AttributeError):  # pragma: no cover - a SQLite without the API (< 3.31)
        return None
    limit.restype, limit.argtypes = ctypes.c_int64, [ctypes.c_int64]
    used.restype, used.argtypes = ctypes.c_int64, []
    return limit, used


_HEAP_API = _load_heap_api() if sys.platform != "win32" else None
_HEAP_LOCK = threading.Lock()


@contextmanager
def _sqlite_heap_limit(extra_bytes: int | None):
    """While the block runs, SQLite (process-wide) may allocate at most `extra_bytes` more than it holds now.

    The hard heap limit is global to the SQLite library, so executions are serialised and the previous
    limit is restored afterwards. Without the API (old SQLite, Windows) only the length limits apply.
    """
    if extra_bytes is None or _HEAP_API is None:
        yield False
        return
    limit, used = _HEAP_API
    with _HEAP_LOCK:
        previous = limit(-1)
        wanted = used() + int(extra_bytes)
        limit(wanted if previous <= 0 else min(previous, wanted))
        try:
            yield True
        finally:
            limit(previous)


@dataclass
class ExecResult:
    ok: bool
    rows: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0
    timed_out: bool = False


def _value_bytes(value) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return 8


def execute_sql(db_path: str | Path, sql: str, timeout_s: float = 2.0, max_rows: int = 10_000,
                max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES, max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
                max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES) -> ExecResult:
    """읽기 전용 연결에서 SQL 한 문장을 시간·행 수·크기·메모리 제한 안에서 실행한다.

    예외를 밖으로 던지지 않는다: 잘못된 입력, 제한 초과, 메모리 부족도 ExecResult(ok=False, error=...) 가 된다.
    """
    start = time.perf_counter()
    if not isinstance(sql, str):
        return ExecResult(False, error=f"SQL 은 문자열이어야 함 (받은 것: {type(sql).__name__})")
    if not sql.strip():
        return ExecResult(False, error="빈 SQL")
    if len(sql) > MAX_SQL_CHARS:
        return ExecResult(False, error=f"SQL 길이 제한 {MAX_SQL_CHARS}자 초과 ({len(sql)}자)")
    if not isinstance(db_path, (str, Path)):
        return ExecResult(False, error=f"DB 경로는 str 또는 Path 여야 함 (받은 것: {type(db_path).__name__})")
    try:
        conn = connect_readonly(db_path)
    except Exception as exc:  # noqa: BLE001 - the contract: never raise
        return ExecResult(False, error=f"DB 열기 실패: {type(exc).__name__}: {exc}")
    deadline = start + timeout_s
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1, int(max_value_bytes)))
        conn.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 1000)
        select_statement = _is_select(sql)
        conn.set_authorizer(lambda *args: _authorizer(*args, select_statement=select_statement))
        with _sqlite_heap_limit(max_memory_bytes):
            return _run(conn, sql, start, timeout_s, max_rows, max_value_bytes, max_result_bytes)
    except Exception as exc:  # noqa: BLE001 - the contract: never raise
        return ExecResult(False, error=f"{type(exc).__name__}: {exc}", elapsed_s=time.perf_counter() - start)
    finally:
        conn.close()


def _run(conn, sql, start, timeout_s, max_rows, max_value_bytes, max_result_bytes) -> ExecResult:
    try:
        cursor = conn.execute(sql)
        rows: list = []
        size = 0
        while True:
            batch = cursor.fetchmany(100)
            if not batch:
                break
            rows.extend(batch)
            size += sum(_value_bytes(v) for row in batch for v in row)
            if len(rows) > max_rows:
                return ExecResult(False, error=f"결과가 {max_rows}행을 넘음 (행 수 제한)",
                                  elapsed_s=time.perf_counter() - start)
            if size > max_result_bytes:
                return ExecResult(False, error=f"결과가 {max_result_bytes:,}바이트를 넘음 (결과 크기 제한)",
                                  elapsed_s=time.perf_counter() - start)
        columns = [d[0] for d in cursor.description or []]
        return ExecResult(True, rows, columns, elapsed_s=time.perf_counter() - start)
    except MemoryError:
        return ExecResult(False, error="메모리 제한 초과 (SQLite 힙 상한 또는 파이썬 메모리 부족)",
                          elapsed_s=time.perf_counter() - start)
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, UnicodeError) as exc:
        elapsed = time.perf_counter() - start
        text = str(exc).lower()
        timed_out = "interrupted" in text and elapsed >= timeout_s
        if timed_out:
            message = f"시간 제한 {timeout_s}s 초과"
        elif "too big" in text:
            message = f"값 크기 제한 {max_value_bytes:,}바이트 초과 ({type(exc).__name__}: {exc})"
        else:
            message = f"{type(exc).__name__}: {exc}"
        return ExecResult(False, error=message, elapsed_s=elapsed, timed_out=timed_out)


def _strip_literals_and_comments(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", sql)


def has_order_by(sql: str) -> bool:
    """괄호 바깥(최상위)에 ORDER BY 가 있는가. 하위 질의 안의 ORDER BY 는 결과 순서를 정하지 않는다."""
    text = _strip_literals_and_comments(sql)
    depth = 0
    for match in re.finditer(r"\(|\)|\border\s+by\b", text, flags=re.IGNORECASE):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            return True
    return False


def normalize_value(value):
    """3 과 3.0 은 같게, 부동소수점은 소수 넷째 자리까지 비교."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 4)
    return value


def normalize_rows(rows) -> list[tuple]:
    return [tuple(normalize_value(v) for v in row) for row in rows]


def results_match(gold_rows, pred_rows, ordered: bool) -> bool:
    """열 이름은 보지 않고 값만 비교. ordered 면 순서까지, 아니면 다중집합(중복 수 포함)으로."""
    gold, pred = normalize_rows(gold_rows), normalize_rows(pred_rows)
    if ordered:
        return gold == pred
    return Counter(gold) == Counter(pred)


@dataclass
class MatchResult:
    match: bool
    reason: str  # match | mismatch | pred_error | gold_error | timeout
    gold: ExecResult | None = None
    pred: ExecResult | None = None


def execution_match(db_path: str | Path, gold_sql: str, pred_sql: str, timeout_s: float = 2.0,
                    max_rows: int = 10_000) -> MatchResult:
    gold = execute_sql(db_path, gold_sql, timeout_s, max_rows)
    if not gold.ok:
        return MatchResult(False, "gold_error", gold, None)
    pred = execute_sql(db_path, pred_sql, timeout_s, max_rows)
    if not pred.ok:
        return MatchResult(False, "timeout" if pred.timed_out else "pred_error", gold, pred)
    same = results_match(gold.rows, pred.rows, ordered=has_order_by(gold_sql))
    return MatchResult(same, "match" if same else "mismatch", gold, pred)


def extract_sql(text: str) -> str:
    """모델 출력에서 SQL 한 문장을 꺼낸다: ```sql 코드 블록 > 'SQL:' 뒤 > 전체, 첫 ';' 까지."""
    if text is None:
        return ""
    fenced = re.search(r"```(?:sql|sqlite)?\s*(.*?)```", text, flags=re.DOTALL | re.IGNORECASE)
    if fenced:
        text = fenced.group(1)
    else:
        text = re.sub(r"^.*?\bSQL\s*:\s*", "", text, count=1, flags=re.DOTALL | re.IGNORECASE) if re.search(
            r"\bSQL\s*:", text, flags=re.IGNORECASE) else text
    text = text.strip().split(";")[0].strip()
    return text


def schema_text(db_path: str | Path) -> str:
    """프롬프트에 넣을 스키마: 테이블마다 CREATE TABLE 문."""
    conn = connect_readonly(db_path)
    try:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
                            "ORDER BY name").fetchall()
    finally:
        conn.close()
    return "\n".join(r[0].strip() + ";" for r in rows)
