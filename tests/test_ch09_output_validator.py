"""Unit tests of ch09_rag/output_validator.py."""

import pytest

from ch09_rag.output_validator import OutputValidator, find_pii, mask_pii


@pytest.mark.parametrize("text", ["010-1234-5678", "01012345678", "010 1234 5678", "02-123-4567", "031-123-4567",
                                  "070-1234-5678", "1588-1234", "연락처는 010.9999.0000 입니다"])
def test_phone_numbers_found(text):
    assert [k for k, _ in find_pii(text)] == ["전화번호"]


@pytest.mark.parametrize("text", ["900101-1234567", "9001011234567", "주민번호 850315 2123456 입니다"])
def test_resident_numbers_found(text):
    kinds = [k for k, _ in find_pii(text)]
    assert kinds == ["주민등록번호"]


@pytest.mark.parametrize("text", ["제70조 대통령의 임기는 5년", "1987년 10월 29일", "991399-1234567",
                                  "3·1운동", "재적의원 3분의 2 이상", "12345"])
def test_no_false_positives(text):
    assert find_pii(text) == []


def test_email_and_mask():
    text = "메일 a.b@example.co.kr, 전화 010-1111-2222, 주민 900101-1234567"
    assert sorted(k for k, _ in find_pii(text)) == ["이메일", "전화번호", "주민등록번호"]
    masked = mask_pii(text)
    assert "010-1111-2222" not in masked and "900101-1234567" not in masked and "@" not in masked
    assert masked.count("[개인정보]") == 3


def test_validator_rules():
    v = OutputValidator(banned_topics={"투자": ["비트코인", "주식 추천"]}, required_patterns={"조문": r"제\d+조"},
                        max_chars=30)
    assert v.validate("임기는 5년입니다 (제70조)").ok
    report = v.validate("비트코인 사세요. 010-1234-5678")
    assert report.rules() == ["개인정보:전화번호", "금지 주제:투자", "형식:조문"]
    assert not v.validate("제1조 " + "가" * 40).ok
    assert v.validate("제1조 " + "가" * 40).rules() == ["형식:길이"]
    assert v.validate("   ").rules() == ["빈 출력"]
    assert v.validate(None).rules() == ["빈 출력"]


def test_banned_topics_case_insensitive():
    v = OutputValidator(banned_topics={"crypto": ["Bitcoin"]})
    assert v.validate("buy BITCOIN now").rules() == ["금지 주제:crypto"]


def test_json_format():
    v = OutputValidator(json_keys=["answer", "article"], check_pii=False)
    assert v.validate('{"answer": "5년", "article": "제70조"}').ok
    assert v.validate('{"answer": "5년"}').rules() == ["형식:JSON"]
    assert v.validate("not json").rules() == ["형식:JSON"]
    assert v.validate("[1, 2]").rules() == ["형식:JSON"]
