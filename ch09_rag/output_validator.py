"""LLM 출력 검증 규칙: 개인정보(전화번호, 주민등록번호, 이메일), 금지 주제, 필수 형식.

    validator = OutputValidator(banned_topics={"투자 권유": ["주식 추천", "코인"]}, required_patterns={
        "근거 조문": r"제\\d+조"})
    report = validator.validate("대통령의 임기는 5년입니다 (제70조).")
    report.ok, report.violations

규칙 하나하나는 정규식 + 짧은 후처리이고, 각 위반은 (규칙, 찾은 부분)으로 보고됩니다.
`mask_pii` 는 개인정보를 가린 문자열을 돌려줍니다 (로그에 남기기 전에 쓰기 좋음).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# 휴대전화 010/011/016-019, 서울 02, 지역번호 0XX, 인터넷전화 070, 대표번호 15xx/16xx/18xx.
PHONE_RE = re.compile(
    r"(?<!\d)(?:"
    r"01[016789][-.\s]?\d{3,4}[-.\s]?\d{4}"
    r"|02[-.\s]?\d{3,4}[-.\s]?\d{4}"
    r"|0[3-6]\d[-.\s]?\d{3,4}[-.\s]?\d{4}"
    r"|070[-.\s]?\d{3,4}[-.\s]?\d{4}"
    r"|1[568]\d{2}-\d{4}"
    r")(?!\d)")
# 주민등록번호: YYMMDD-GNNNNNN (G: 1~4 내국인, 5~8 외국인). 하이픈/공백 없이 13자리도 잡습니다.
RRN_RE = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})[-\s]?([1-8])(\d{6})(?!\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _plausible_rrn(match: re.Match) -> bool:
    month, day = int(match.group(2)), int(match.group(3))
    return 1 <= month <= 12 and 1 <= day <= 31


def find_pii(text: str) -> list[tuple[str, str]]:
    """[(kind, matched text)] for phone numbers, resident registration numbers and e-mail addresses."""
    found: list[tuple[str, str]] = []
    rrn_spans = []
    for m in RRN_RE.finditer(text):
        if _plausible_rrn(m):
            found.append(("주민등록번호", m.group(0)))
            rrn_spans.append(m.span())
    for m in PHONE_RE.finditer(text):
        if not any(a <= m.start() < b for a, b in rrn_spans):
            found.append(("전화번호", m.group(0)))
    found += [("이메일", m.group(0)) for m in EMAIL_RE.finditer(text)]
    return found


def mask_pii(text: str, mask: str = "[개인정보]") -> str:
    for _, value in sorted(find_pii(text), key=lambda kv: -len(kv[1])):
        text = text.replace(value, mask)
    return text


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
        if text is None or not str(text).strip():
            report.violations.append(Violation("빈 출력", "응답이 비어 있음"))
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
