"""처리기 벤치마크 (시간 제한 테스트가 아님): 설정한 한도 대비 실제 처리량과 가장 붐빈 10초 구간.

    python ch06_eval/bench_processor.py                 # 분당 요청(RPM) 한도, 분당 토큰(TPM) 한도 두 경우
    python ch06_eval/bench_processor.py --seconds 60 --rpm 6000 --tpm 120000

루프백의 장애 주입 서버(장애 0%, 또는 --fault-rate)에 요청을 보내고, 서버가 받은 시각으로 잰다.
목표: 처리량이 한도의 0.9 이상, 어느 10초 구간도 한도(의 10초 몫)를 5% 넘게 넘지 않기.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ch06_eval import api_request_parallel_processor as proc
from ch06_eval.fault_injecting_server import FaultInjectingServer, FaultPlan, worst_window


def run_case(name: str, n: int, rpm: float | None, tpm: float | None, max_tokens: int, fault_rate: float,
             concurrency: int, workdir: Path) -> dict:
    requests = [{"id": i, "model": "gpt-4.1-mini", "max_tokens": max_tokens,
                 "messages": [{"role": "user", "content": f"{name} 질문 {i}"}]} for i in range(n)]
    path = proc.write_requests(workdir / f"{name}.jsonl", requests)
    out = workdir / f"{name}-out.jsonl"
    out.unlink(missing_ok=True)
    cost = {r["messages"][0]["content"]: proc.estimate_tokens({k: v for k, v in r.items() if k != "id"})
            for r in requests}
    plan = FaultPlan(fault_rate=fault_rate, permanent_400=0.0, permanent_500=0.0)
    with FaultInjectingServer(plan, latency=0.05, slow_seconds=2.0, retry_after="0.2") as server:
        summary = proc.process_requests(path, out, request_url=f"{server.url}/chat/completions",
                                        api_key_env=None, max_requests_per_minute=rpm, max_tokens_per_minute=tpm,
                                        max_concurrency=concurrency, timeout=1.0, backoff_base=0.1, progress=False)
        arrivals = list(server.stats.arrivals)
    times = [t for t, _, _ in arrivals]
    if rpm:
        limit_per_s, unit, weights = rpm / 60, "req", None
    else:
        limit_per_s, unit, weights = tpm / 60, "tok", [cost[k] for _, k, _ in arrivals]
    amount = sum(weights) if weights else len(times)
    # 처리량 = 서버에 도착한 양 / (처리기 전체 경과 시간): 시작·끝의 손실까지 포함한 보수적인 값
    achieved = amount / summary.elapsed_s
    worst = worst_window(times, 10.0, weights)
    return {"case": name, "limit": f"{limit_per_s * 60:.0f} {unit}/min", "requests": n,
            "succeeded": summary.succeeded, "failed": summary.failed, "elapsed_s": round(summary.elapsed_s, 1),
            "throughput/limit": round(achieved / limit_per_s, 3),
            "worst10s/limit": round(worst / (limit_per_s * 10), 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="경우마다 목표 실행 시간")
    parser.add_argument("--rpm", type=float, default=3000)
    parser.add_argument("--tpm", type=float, default=60000)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        n_rpm = int(args.rpm / 60 * args.seconds)
        rows.append(run_case("rpm", n_rpm, args.rpm, None, 16, args.fault_rate, args.concurrency, Path(tmp)))
        per_request = proc.estimate_tokens({"model": "m", "max_tokens": 100,
                                            "messages": [{"role": "user", "content": "tpm 질문 0"}]})
        n_tpm = int(args.tpm / 60 * args.seconds / per_request)
        rows.append(run_case("tpm", n_tpm, None, args.tpm, 100, args.fault_rate, args.concurrency, Path(tmp)))
    print(f"hardware: {platform.processor() or platform.machine()} | python {platform.python_version()}")
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    ok = all(r["throughput/limit"] >= 0.9 and r["worst10s/limit"] <= 1.05 for r in rows)
    print("목표 (>= 0.9, 10초 구간 <= 1.05):", "달성" if ok else "미달")
    return 0


if __name__ == "__main__":
    sys.exit(main())
