"""Text2SQL 실행 정확도(execution accuracy)를 위한 안전한 SQL 실행기와 결과 비교기.

- 읽기 전용 연결 (URI mode=ro + PRAGMA query_only + 권한 콜백): DROP/INSERT/UPDATE/ATTACH/PRAGMA 는 막힌다.
- 시간 제한 (progress handler 가 마감을 넘기면 중단) + 행 수 제한: 끝없는 재귀 CTE 도 멈춘다.
- 한 번에 한 문장만 실행한다 ("SELECT 1; DROP TABLE x" 는 거부).
- 결과 비교: 정답 SQL 의 바깥쪽에 ORDER BY 가 있으면 순서까지, 없으면 순서 무시(중복은 센다).

    build_databases("../assets/text2sql/databases", "outputs/db")  -> {"shop": Path(...), ...}
    execute_sql(db_path, "SELECT ...")                              -> ExecResult(ok, rows, columns, error, ...)
    execution_match(db_path, gold_sql, pred_sql)                    -> MatchResult(match, reason)
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# 읽기 전용 질의에 필요한 권한만 허용한다 (나머지는 SQLITE_DENY).
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_BLOCKED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


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


def _authorizer(action, arg1, arg2, db_name, trigger):
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _BLOCKED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    """파일을 바꿀 수 없는 연결. 없는 파일이면 만들지 않고 오류."""
    path = Path(db_path).resolve()
    if not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorizer)
    return conn


@dataclass
class ExecResult:
    ok: bool
    rows: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0
    timed_out: bool = False


def execute_sql(db_path: str | Path, sql: str, timeout_s: float = 2.0, max_rows: int = 10_000) -> ExecResult:
    """읽기 전용 연결에서 SQL 한 문장을 시간·행 수 제한 안에서 실행한다. 예외를 밖으로 던지지 않는다."""
    start = time.perf_counter()
    deadline = start + timeout_s
    if not sql or not sql.strip():
        return ExecResult(False, error="빈 SQL")
    try:
        conn = connect_readonly(db_path)
    except (OSError, sqlite3.Error) as exc:
        return ExecResult(False, error=f"{type(exc).__name__}: {exc}")
    conn.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 1000)
    try:
        cursor = conn.execute(sql)
        rows: list = []
        while True:
            batch = cursor.fetchmany(500)
            if not batch:
                break
            rows.extend(batch)
            if len(rows) > max_rows:
                return ExecResult(False, error=f"결과가 {max_rows}행을 넘음", elapsed_s=time.perf_counter() - start)
        columns = [d[0] for d in cursor.description or []]
        return ExecResult(True, rows, columns, elapsed_s=time.perf_counter() - start)
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
        elapsed = time.perf_counter() - start
        timed_out = "interrupted" in str(exc).lower() and elapsed >= timeout_s
        message = f"시간 제한 {timeout_s}s 초과" if timed_out else f"{type(exc).__name__}: {exc}"
        return ExecResult(False, error=message, elapsed_s=elapsed, timed_out=timed_out)
    finally:
        conn.close()


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
