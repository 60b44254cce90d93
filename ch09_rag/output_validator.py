"""LLM 출력 검증 규칙: 개인정보(전화번호, 주민등록번호, 이메일, API 키), 금지 주제, 필수 형식.

    validator = OutputValidator(banned_topics={"투자 권유": ["주식 추천", "코인"]}, required_patterns={
        "근거 조문": r"제\\d+조"})
    report = validator.validate("대통령의 임기는 5년입니다 (제70조).")
    report.ok, report.violations

규칙 하나하나는 정규식 + 짧은 후처리이고, 각 위반은 (규칙, 찾은 부분)으로 보고됩니다.
`mask_pii` 는 개인정보를 가린 문자열을 돌려줍니다 (로그에 남기기 전에 쓰기 좋음).
전각 숫자, 여러 가지 대시, +82 국제 표기, 괄호 친 지역번호, 한글 도메인 이메일도 찾고, 모든 검사는 입력 길이에 선형입니다.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# 찾기 전에 글자 하나를 글자 하나로 바꾼다 (위치가 그대로라 원문에서 가릴 수 있음):
# 전각 숫자·기호 -> ASCII, 여러 가지 대시(‐ ‑ ‒ – — ― − －) -> '-', 특수 공백 -> ' '.
_FOLD = {**{0xFF10 + i: str(i) for i in range(10)},
         **{cp: "-" for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE58, 0xFE63, 0xFF0D)},
         **{cp: " " for cp in (0x00A0, 0x2002, 0x2003, 0x2009, 0x202F, 0x3000)},
         0xFF0B: "+", 0xFF08: "(", 0xFF09: ")", 0xFF0E: ".", 0xFF20: "@", 0xFF0A: "*"}
_FOLD_RE = re.compile("[" + "".join(map(chr, _FOLD)) + "]")  # one pass in C; most texts have none of these


def _fold(text: str) -> str:
    return _FOLD_RE.sub(lambda m: _FOLD[ord(m.group())], text)

# 모든 패턴은 길이 상한이 있는 반복만 쓴다 (입력 길이에 선형). 전화번호:
# 휴대전화 010/011/016-019, 서울 02, 지역번호 0XX, 인터넷전화 070, 안심번호 050X, 국제 표기 +82 (맨 앞 0 생략),
# 괄호 친 지역번호 (02), 대표번호 15xx/16xx/18xx. 구분자: 하이픈·점·공백 (앞뒤 공백 하나까지).
_SEP = r"(?: ?[-.] ?| )?"
_CODE = r"(?:1[016789]|2|[3-6][1-5]|70|50[2-8])"  # 맨 앞 0을 뺀 식별·지역번호
_SUBSCRIBER = rf"{_SEP}\d{{3,4}}{_SEP}\d{{4}}"
PHONE_RE = re.compile(
    r"(?<![\d+])(?:"
    rf"\+ ?82{_SEP}(?:\(0\) ?)?\(?0?{_CODE}\)?{_SUBSCRIBER}"
    rf"|\(0{_CODE}\) ?\d{{3,4}}{_SEP}\d{{4}}"
    rf"|0{_CODE}{_SUBSCRIBER}"
    r"|1[568]\d{2}-\d{4}"
    r")(?!\d)")
# 주민등록번호: YYMMDD-GNNNNNN (G: 1~4 내국인, 5~8 외국인). 구분자 없음/공백/하이픈, 뒷자리 가림(1******)도.
RRN_RE = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})(?: ?- ?| )?([1-8])(\d{6}|\*{6})(?![\d*])")
# API 키처럼 보이는 문자열 (오류 메시지에 섞여 로그로 가기 쉬움). 토큰 처음에서만 시작해 선형.
SECRET_RE = re.compile(r"(?<![\w-])(?:sk-[\w-]{16,}|hf_[A-Za-z0-9]{20,}|pcsk_[\w-]{20,})")
# 이메일은 정규식 대신 '@' 마다 양쪽으로 한 번씩 훑는다 (겹치지 않는 구간만 보므로 전체가 선형).
# 로컬 부분·도메인에 한글도 허용 (홍길동@회사.한국). 최상위 도메인은 ASCII 글자 2자 이상 또는 '한국'.
_LOCAL_RUN = re.compile(r"[\w.%+'-]*")
_DOMAIN_RUN = re.compile(r"[\w.-]*")
_ASCII_TLD = re.compile(r"[A-Za-z]{2,}")
_LABEL = re.compile(r"[\w](?:[\w-]{0,61}[\w])?")


def _require_text(text, where: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where} 는 문자열(str)을 받습니다 (받은 것: {type(text).__name__})")
    return text


def _plausible_rrn(match: re.Match) -> bool:
    month, day = int(match.group(2)), int(match.group(3))
    return 1 <= month <= 12 and 1 <= day <= 31


def _email_spans(folded: str) -> list[tuple[int, int]]:
    spans, reverse, n = [], folded[::-1], len(folded)
    at = folded.find("@")
    while at != -1:
        left = at - (_LOCAL_RUN.match(reverse, n - at).end() - (n - at))
        right = _DOMAIN_RUN.match(folded, at + 1).end()
        local = folded[left:at].lstrip(".")
        end = _domain_end(folded, at + 1, right)
        if local and end is not None:
            spans.append((at - len(local), end))
        at = folded.find("@", at + 1)
    return spans


def _domain_end(text: str, start: int, stop: int) -> int | None:
    """End of a plausible domain in text[start:stop] (labels joined by '.', a real-looking TLD), else None."""
    labels = text[start:stop].rstrip(".-").split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels[:-1]):
        return None
    last = labels[-1]
    tld = _ASCII_TLD.match(last)  # 'com으로' -> 'com': a Korean particle right after the address
    size = tld.end() if tld else (2 if last.startswith("한국") else 0)
    if size == 0:
        return None
    return start + sum(len(label) + 1 for label in labels[:-1]) + size


def _pii_spans(text: str) -> list[tuple[int, int, str]]:
    folded = _fold(_require_text(text, "find_pii/mask_pii"))
    spans = [(m.start(), m.end(), "주민등록번호") for m in RRN_RE.finditer(folded) if _plausible_rrn(m)]
    taken = list(spans)
    for m in PHONE_RE.finditer(folded):
        if not any(a < m.end() and m.start() < b for a, b, _ in taken):
            spans.append((m.start(), m.end(), "전화번호"))
    spans += [(a, b, "이메일") for a, b in _email_spans(folded)]
    spans += [(m.start(), m.end(), "비밀키") for m in SECRET_RE.finditer(folded)]
    return spans


def find_pii(text: str) -> list[tuple[str, str]]:
    """[(kind, matched text)] for phone numbers, resident registration numbers, e-mail addresses and
    API-key-like strings, in that order. Raises TypeError for anything but a str."""
    return [(kind, text[a:b]) for a, b, kind in _pii_spans(text)]


def mask_pii(text: str, mask: str = "[개인정보]") -> str:
    """The text with every span `find_pii` reports replaced by `mask` (overlapping spans merged)."""
    merged: list[list[int]] = []
    for a, b, _ in sorted(_pii_spans(text)):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    pieces, last = [], 0
    for a, b in merged:
        pieces += [text[last:a], mask]
        last = b
    return "".join(pieces) + text[last:]


@dataclass
class Violation:
    rule: str
    detail: str


@dataclass
class ValidationReport:
    text: str
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules(self) -> list[str]:
        return sorted({v.rule for v in self.violations})


class OutputValidator:
    """Runs every rule on an output and collects all violations (it does not stop at the first)."""

    def __init__(self, banned_topics: dict[str, list[str]] | None = None,
                 required_patterns: dict[str, str] | None = None, max_chars: int | None = None,
                 json_keys: list[str] | None = None, check_pii: bool = True):
        self.banned_topics = {topic: [w.casefold() for w in words] for topic, words in (banned_topics or {}).items()}
        self.required_patterns = {name: re.compile(p) for name, p in (required_patterns or {}).items()}
        self.max_chars = max_chars
        self.json_keys = json_keys
        self.check_pii = check_pii

    def validate(self, text: str) -> ValidationReport:
        report = ValidationReport(text)
        if text is None or (isinstance(text, str) and not text.strip()):
            report.violations.append(Violation("빈 출력", "응답이 비어 있음"))
            return report
        if not isinstance(text, str):
            report.violations.append(Violation("형식:문자열 아님", f"{type(text).__name__} 를 받음"))
            return report
        if self.check_pii:
            report.violations += [Violation(f"개인정보:{kind}", value) for kind, value in find_pii(text)]
        folded = text.casefold()
        for topic, words in self.banned_topics.items():
            hits = [w for w in words if w in folded]
            if hits:
                report.violations.append(Violation(f"금지 주제:{topic}", ", ".join(hits)))
        for name, pattern in self.required_patterns.items():
            if not pattern.search(text):
                report.violations.append(Violation(f"형식:{name}", f"/{pattern.pattern}/ 없음"))
        if self.max_chars is not None and len(text) > self.max_chars:
            report.violations.append(Violation("형식:길이", f"{len(text)}자 > {self.max_chars}자"))
        if self.json_keys is not None:
            report.violations += self._check_json(text)
        return report

    def _check_json(self, text: str) -> list[Violation]:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            return [Violation("형식:JSON", f"파싱 실패: {err.msg if hasattr(err, 'msg') else err}")]
        if not isinstance(data, dict):
            return [Violation("형식:JSON", "객체(dict)가 아님")]
        missing = [k for k in self.json_keys if k not in data]
        return [Violation("형식:JSON", f"키 없음: {', '.join(missing)}")] if missing else []
