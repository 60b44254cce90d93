"""처리기 벤치마크 (시간 제한 테스트가 아님): 장애가 있을 때 설정한 분당 요청 한도를 얼마나 쓰는가.

    python tools/bench_processor.py                          # 300 RPM, 경우마다 60초쯤
    python tools/bench_processor.py --rpm 600 --seconds 90 --p429 0.15 --p500 0.05

루프백의 장애 주입 서버(tests/fault_injecting_server.py)에 같은 요청을 두 번 보낸다: 장애 없이, 그리고
시도마다 무작위로 p429 비율은 429 (Retry-After 1초), p500 비율은 500. 서버가 받은 시각으로 잰다.
- 달성 RPM = 서버에 도착한 요청(재시도 포함) x 60 / 처리기 전체 경과 시간 (시작·끝 손실까지 넣은 보수적인 값)
- 가장 붐빈 10초 = 어느 10초 구간에든 도착한 요청 수의 최댓값, 한도 = RPM/6
- 중복 = 결과 파일에서 같은 id 가 두 번 이상 + 서버가 같은 요청에 성공 응답을 두 번 이상 준 경우
- 잃음 = 결과 기록이 없는 요청 id
목표: 장애가 있어도 비율 >= 0.8, 어느 10초 구간도 한도를 넘지 않기, 중복·잃음 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ch06_eval import api_request_parallel_processor as proc
from course import hardware_label
from tests.fault_injecting_server import FaultInjectingServer, _unit, worst_window


def random_faults(p429: float, p500: float, seed: int):
    """시도마다 따로 뽑는 장애: 재시도도 다시 429/500 을 받을 수 있다."""

    def action(key: str, attempt: int) -> str:
        u = _unit(seed, key, attempt)
        return "429s" if u < p429 else "500" if u < p429 + p500 else "ok"

    return action


def run_case(name: str, n: int, rpm: float, plan, workdir: Path, concurrency: int) -> dict:
    requests = [{"id": f"{name}-{i}", "model": "gpt-4.1-mini", "max_tokens": 16,
                 "messages": [{"role": "user", "content": f"{name} 질문 {i}"}]} for i in range(n)]
    path = proc.write_requests(workdir / f"{name}.jsonl", requests)
    out = workdir / f"{name}-out.jsonl"
    with FaultInjectingServer(plan, latency=0.05, retry_after="1") as server:
        summary = proc.process_requests(path, out, request_url=f"{server.url}/chat/completions", api_key_env=None,
                                        max_requests_per_minute=rpm, max_tokens_per_minute=None,
                                        max_concurrency=concurrency, max_attempts=10, timeout=10.0,
                                        backoff_base=0.5, backoff_max=4.0, progress=False, seed=0)
        arrivals = list(server.stats.arrivals)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    ids = Counter(r["id"] for r in records)
    served_ok = Counter(key for _, key, action in arrivals if action == "ok")
    duplicates = sum(c - 1 for c in ids.values()) + sum(c - 1 for c in served_ok.values())
    lost = sum(1 for r in requests if r["id"] not in ids)
    times = [t for t, _, _ in arrivals]
    achieved = len(arrivals) * 60.0 / summary.elapsed_s
    return {"case": name, "configured RPM": f"{rpm:.0f}", "achieved RPM": f"{achieved:.0f}",
            "ratio": f"{achieved / rpm:.3f}", "max in 10 s / limit": f"{worst_window(times, 10.0):.0f} / {rpm / 6:.0f}",
            "attempts": len(arrivals), "429": summary.rate_limited, "min rate": f"{summary.min_rate_fraction:.2f}",
            "ok/failed": f"{summary.succeeded}/{summary.failed}", "duplicates": duplicates, "lost": lost,
            "elapsed s": f"{summary.elapsed_s:.1f}", "_ratio": achieved / rpm,
            "_over": worst_window(times, 10.0) > rpm / 6, "_bad": duplicates + lost}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpm", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=60.0, help="장애 없는 경우의 목표 실행 시간")
    parser.add_argument("--p429", type=float, default=0.15)
    parser.add_argument("--p500", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = int(args.rpm / 60 * args.seconds)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(run_case("no-fault", n, args.rpm, lambda key, attempt: "ok", Path(tmp), args.concurrency))
        rows.append(run_case(f"{args.p429:.0%}x429+{args.p500:.0%}x500", n, args.rpm,
                             random_faults(args.p429, args.p500, args.seed), Path(tmp), args.concurrency))
    print(f"hardware: {hardware_label()}")
    print(f"requests per case: {n}, server latency 50 ms, Retry-After 1 s, concurrency {args.concurrency}")
    keys = [k for k in rows[0] if not k.startswith("_")]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    ok = all(r["_ratio"] >= 0.8 and not r["_over"] and r["_bad"] == 0 for r in rows)
    print("target (ratio >= 0.8, no 10 s window above the limit, no duplicates/lost):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
