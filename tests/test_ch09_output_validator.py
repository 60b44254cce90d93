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


# ---------------------------------------------------------------- 흔한 한국어 표기들 (표), 선형 시간, 이상한 입력

SPELLINGS = [  # (text, kind): each must be found once and masked away
    ("+82 10 1234 5678", "전화번호"),
    ("+82-10-1234-5678", "전화번호"),
    ("+821012345678", "전화번호"),
    ("+82 (0)10-1234-5678", "전화번호"),
    ("+82 2 123 4567", "전화번호"),
    ("(010) 1234-5678", "전화번호"),
    ("(02) 123-4567", "전화번호"),
    ("010\u20131234\u20135678", "전화번호"),            # en dash
    ("010\u20141234\u20145678", "전화번호"),            # em dash
    ("010\u20101234\u20105678", "전화번호"),            # hyphen U+2010
    ("０１０-１２３４-５６７８", "전화번호"),              # full-width digits
    ("０１０－１２３４－５６７８", "전화번호"),            # full-width digits and hyphen
    ("010 - 1234 - 5678", "전화번호"),
    ("문의: 031\u00a0123\u00a04567", "전화번호"),       # no-break spaces
    ("0504-1234-5678", "전화번호"),                   # 안심번호
    ("900101-1234567", "주민등록번호"),
    ("900101 1234567", "주민등록번호"),
    ("900101\u20131234567", "주민등록번호"),
    ("900101\u20142234567", "주민등록번호"),
    ("９００１０１－１２３４５６７", "주민등록번호"),
    ("900101 - 1234567", "주민등록번호"),
    ("900101-1******", "주민등록번호"),
    ("홍길동@회사.한국", "이메일"),
    ("a@b.co.kr", "이메일"),
    ("a.b+tag@example.com", "이메일"),
    ("연락은 hong@example.com으로 주세요", "이메일"),
    ("user_01@mail.naver.com.", "이메일"),
    ("abc＠example.com", "이메일"),
    ("키: sk-" + "proj-abcdefghijklmnop1234", "비밀키"),  # split: no key-like text in the repo
    ("hf_" + "abcdefghijklmnopqrstuvwxyz12", "비밀키"),
]


@pytest.mark.parametrize("text, kind", SPELLINGS)
def test_common_spellings_are_found_and_masked(text, kind):
    found = find_pii(text)
    assert [k for k, _ in found] == [kind], found
    masked = mask_pii(text)
    digits = "".join(ch for ch in masked if ch.isdigit() or "０" <= ch <= "９")
    print(repr(text), "->", repr(masked))
    assert "[개인정보]" in masked and len(digits) <= 1, "no number left behind (the mask may keep a country code)"
    assert "@" not in masked and "＠" not in masked and "sk-" not in masked and "hf_" not in masked


@pytest.mark.parametrize("text", ["2024-01-15", "2024.01.15 회의", "+82 는 국가번호", "버전 1.2.3", "a@b",
                                  "가격 1,234,567원", "1588", "010", "ISBN 978-89-1234-567-8", "foo@bar"])
def test_more_non_pii(text):
    assert find_pii(text) == []


def test_particles_after_an_email_stay():
    assert mask_pii("연락은 hong@example.com으로 주세요") == "연락은 [개인정보]으로 주세요"
    assert mask_pii("메일: 홍길동@회사.한국입니다") == "메일: [개인정보]입니다"


ADVERSARIAL = {
    "letters": lambda n: "a" * n,
    "at-signs": lambda n: "a@" * (n // 2),
    "dotted-local": lambda n: "a." * (n // 2) + "@",
    "dotted-domain": lambda n: "x@" + "a." * (n // 2),
    "digits": lambda n: "1" * n,
    "zeros": lambda n: "0" * n,
    "plus82": lambda n: "+82 " * (n // 4),
    "hangul": lambda n: "가" * n,
    "key-prefix": lambda n: "sk-" * (n // 3),
}


@pytest.mark.parametrize("shape", ADVERSARIAL)
def test_masking_is_linear_on_a_64k_token(shape):
    """mask_pii on 4k and on 64k characters (16x): linear work grows ~16x (a few times more from caches), the old
    quadratic e-mail regex grew ~256x (11 s at 64k). Runs alternate and the fastest of seven counts, so a busy
    machine only slows single runs; the bound (100) sits well between the two."""
    import time

    small, large = ADVERSARIAL[shape](4_096), ADVERSARIAL[shape](65_536)
    times = {small: [], large: []}
    for _ in range(7):
        for text in (small, large):
            start = time.perf_counter()
            mask_pii(text)
            times[text].append(time.perf_counter() - start)
    t_small, t_large = min(times[small]), min(times[large])
    ratio = t_large / max(t_small, 1e-6)
    print(f"{shape}: {t_small * 1e3:.2f} ms -> {t_large * 1e3:.2f} ms (x{ratio:.1f} for 16x the text)")
    assert ratio < 100, "work grows linearly with the text (not quadratically)"


def _repeats(parsed, depth=0):
    """(depth, max) of every repeat in a parsed regex; depth counts enclosing repeats."""
    from re import _constants as c

    for op, av in parsed:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            yield depth, av[1]
            yield from _repeats(av[2], depth + 1)
        elif op in (c.SUBPATTERN,):
            yield from _repeats(av[-1], depth)
        elif op == c.BRANCH:
            for branch in av[1]:
                yield from _repeats(branch, depth)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            yield from _repeats(av[1], depth)


def test_patterns_cannot_backtrack_quadratically_by_design():
    """Linear by construction: phone/RRN patterns repeat only a bounded number of times; the secret pattern has
    one unbounded run of a single character class, started only at a token boundary (a lookbehind); e-mails are
    found without a regex search (one scan left and right of each '@' over disjoint stretches)."""
    from re import _constants as c
    from re import _parser

    from ch09_rag import output_validator as ov

    for pattern in (ov.PHONE_RE, ov.RRN_RE):
        assert all(top <= 13 for _, top in _repeats(_parser.parse(pattern.pattern))), pattern.pattern
    secret = _parser.parse(ov.SECRET_RE.pattern)
    assert secret[0][0] == c.ASSERT_NOT, "starts only where a token starts"
    assert all(depth == 0 for depth, top in _repeats(secret) if top == c.MAXREPEAT), "no nested unbounded repeat"


@pytest.mark.parametrize("value", [None, 123, b"010-1234-5678", ["010-1234-5678"], {"a": 1}])
def test_non_string_input_gives_a_clear_error_or_result(value):
    with pytest.raises(TypeError, match="문자열"):
        find_pii(value)
    with pytest.raises(TypeError, match="문자열"):
        mask_pii(value)
    report = OutputValidator().validate(value)
    assert not report.ok
    assert report.rules() == (["빈 출력"] if value is None else ["형식:문자열 아님"])
