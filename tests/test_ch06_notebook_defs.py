"""ch06 노트북의 채점 도구(`rate`, `parse_verdict`)를 노트북에 적힌 그대로 읽어 시험합니다."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.notebook_defs import load_definitions

NOTEBOOK = Path(__file__).resolve().parents[1] / "ch06_eval" / "ch06.ipynb"


@pytest.fixture(scope="module")
def defs():
    return load_definitions(NOTEBOOK, {"rate", "parse_verdict", "JudgeVerdict", "VERDICTS", "fake_record"},
                            modules={"json", "pydantic"})


def test_rate_always_gives_the_count_with_the_share(defs):
    rate = defs["rate"]
    assert rate([True, False, True, True]) == "3/4 (75.0%)"
    assert rate(pd.Series([True, False])) == "1/2 (50.0%)"
    assert rate(x for x in [False, False, False]) == "0/3 (0.0%)"
    assert rate([]) == "0/0"
    for flags in ([True], [False, True], [True] * 7 + [False] * 25):
        hits, total = rate(flags).split(" ")[0].split("/")
        assert (int(hits), int(total)) == (sum(flags), len(flags))


def test_parse_verdict_reads_json_wherever_it_is(defs):
    parse, fake = defs["parse_verdict"], defs["fake_record"]
    assert parse(fake('{"correct": true, "reason": "ok"}')) == "정답"
    assert parse(fake('판정은 {"correct": false, "reason": "정렬 누락"} 입니다')) == "오답"
    assert parse(fake('{"correct": "?"} 다시: {"correct": true, "reason": "x"}')) == "정답"  # the first valid one


@pytest.mark.parametrize("record", [
    None,
    {"status": "failed", "response": None},
    {"status": "ok", "response": None},
    {"status": "ok", "response": {}},
    {"status": "ok", "response": {"choices": []}},
    {"status": "ok", "response": {"choices": [{"message": {}}]}},
    {"status": "ok", "response": {"choices": [{"message": {"content": None}}]}},
    {"status": "ok", "response": {"choices": [{"message": {"content": "{not json"}}]}},
    {"status": "ok", "response": {"choices": [{"message": {"content": '{"reason": "no verdict"}'}}]}},
])
def test_parse_verdict_never_raises_and_stays_in_the_four_boxes(defs, record):
    verdict = defs["parse_verdict"](record)
    assert verdict in defs["VERDICTS"] and verdict in ("파싱 실패", "요청 실패")


def test_request_failures_and_parse_failures_are_told_apart(defs):
    parse, fake = defs["parse_verdict"], defs["fake_record"]
    assert parse(None) == parse({"status": "failed", "response": None}) == "요청 실패"
    assert parse(fake("SELECT 1")) == parse(fake(None)) == "파싱 실패"
    assert defs["VERDICTS"] == ["정답", "오답", "파싱 실패", "요청 실패"]
