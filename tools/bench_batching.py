"""8장 배치 전략 벤치마크: 정적 / 동적 / 연속 배치와 transformers 의 연속 배치를 같은 요청으로 잰다.

두 가지를 나란히 출력한다.
1. 결정적 표 (StepClock: forward 한 번 = 1 스텝): forward 수, 버린 행, 패딩, 요청별 지연(스텝). 기계와 무관하다.
2. 벽시계 표: 전략들을 번갈아 --repeats 번 돌려 최솟값·중앙값, 정적 배치 대비 비율, 그리고 같은 요청을 한꺼번에
   넣었을 때 우리 연속 배치와 transformers 연속 배치(ContinuousBatchingManager)의 생성 시간 비율.
토큰은 모든 전략·엔진에서 요청 하나씩 생성한 것과 같아야 한다 (다르면 종료 코드 1).

    .venv/bin/python tools/bench_batching.py                      # 노트북 전체 모드와 같은 설정 (Hub 의 실제 모델)
    HF_HOME=/tmp/world HF_HUB_OFFLINE=1 .venv/bin/python tools/bench_batching.py --requests 16 --threads 1
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course import hardware_label  # noqa: E402

QUESTIONS = [
    "서울의 봄 날씨를 한 문장으로 알려 줘.", "파이썬 리스트와 튜플의 차이는?", "김치찌개 끓이는 법을 순서대로 설명해 줘.",
    "한국의 수도는 어디야?", "배치 처리가 왜 GPU 에서 빠른지 설명해 줘.", "LLM 서빙에서 지연 시간과 처리량은 어떻게 다른가요?",
    "안녕하세요!", "GPU 메모리를 줄이는 방법 세 가지를 알려 줘.", "한글은 누가 만들었나요?", "KV 캐시가 무엇인지 짧게 설명해 줘.",
    "부산에서 가 볼 만한 곳을 추천해 줘.", "재귀 함수의 예를 하나 들어 줘.", "커피와 차 중 무엇이 카페인이 더 많아?",
    "양자화가 모델 크기를 줄이는 원리는?", "오늘 할 일을 정리하는 팁을 알려 줘.", "트랜스포머의 어텐션을 비유로 설명해 줘.",
]


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(f"{r[c]}") for r in rows)) for c in columns}
    lines = ["  ".join(c.rjust(widths[c]) for c in columns)]
    lines += ["  ".join(f"{r[c]}".rjust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--lengths", default="16,32,64,128", help="요청마다 고르는 max_new_tokens 후보")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--gap-steps", type=float, default=2, help="요청 도착 간격 (디코딩 스텝 단위)")
    parser.add_argument("--max-wait-steps", type=float, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU 스레드 수 (잡음이 큰 기계에서는 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ch08_serving.batching import (
        STRATEGIES,
        HFBackend,
        HFContinuousBatching,
        Request,
        Scheduler,
        reference_generate,
        run_in_steps,
        step_summary,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(device).eval()
    eos = sorted({tokenizer.eos_token_id, *[int(t) for t in torch.atleast_1d(torch.tensor(model.generation_config.eos_token_id))]})
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    backend = HFBackend(model, pad_id=pad, eos_ids=eos)
    rng = random.Random(args.seed)
    choices = [int(x) for x in args.lengths.split(",")]
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
                                             add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
               for i in range(args.requests)]
    base = [Request(i, tuple(p), rng.choice(choices)) for i, p in enumerate(prompts)]
    one_by_one = {r.rid: reference_generate(backend, r) for r in base}

    print(f"하드웨어: {hardware_label()} | torch {torch.__version__} | 모델 {args.model} | fp32 그리디")
    print(f"요청 {len(base)}개, 배치 {args.batch_size}, 도착 간격 {args.gap_steps} 스텝, 동적 대기 {args.max_wait_steps} 스텝, "
          f"출력 길이 후보 {choices}, 반복 {args.repeats}회\n")

    # 1. 결정적 표
    step_requests = [replace(r, arrival=r.rid * args.gap_steps) for r in base]
    rows, ok = [], True
    for strategy in STRATEGIES:
        run, counts = run_in_steps(backend, step_requests, strategy, args.batch_size, args.max_wait_steps)
        ok &= {k: v.tokens for k, v in run.results.items()} == one_by_one
        row = step_summary(run, counts)
        rows.append({k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()})
    print("[결정적] forward 한 번 = 1 스텝")
    print(table(rows, ["strategy", "tokens", "forwards", "decode_rows", "wasted_rows", "prefill_pad", "kv_pad",
                       "makespan_steps", "mean_latency_steps", "max_latency_steps", "mean_ttft_steps"]))

    # 2. 벽시계: 도착 간격은 이 기계의 디코딩 한 스텝 시간의 배수
    reference_generate(backend, Request(-1, base[0].prompt_ids, 4))
    start = time.perf_counter()
    probe = reference_generate(backend, Request(-1, base[0].prompt_ids, 9))
    step_s = (time.perf_counter() - start) / len(probe)
    timed = [replace(r, arrival=r.rid * args.gap_steps * step_s) for r in base]
    wall = {s: {"tokens_per_s": [], "mean_latency_s": []} for s in STRATEGIES}
    for _ in range(args.repeats):
        for strategy in STRATEGIES:  # 번갈아 잰다
            run = Scheduler(backend, args.batch_size, args.max_wait_steps * step_s).run(timed, strategy)
            ok &= {k: v.tokens for k, v in run.results.items()} == one_by_one
            summary = run.summary()
            for key in wall[strategy]:
                wall[strategy][key].append(summary[key])
    med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in wall.items()}
    rows = [{"strategy": s,
             "tok/s min": f"{min(wall[s]['tokens_per_s']):.1f}", "tok/s median": f"{med[s]['tokens_per_s']:.1f}",
             "tok/s max": f"{max(wall[s]['tokens_per_s']):.1f}",
             "x static (median)": f"{med[s]['tokens_per_s'] / med['static']['tokens_per_s']:.2f}",
             "latency median s": f"{med[s]['mean_latency_s']:.3f}",
             "latency x static": f"{med[s]['mean_latency_s'] / med['static']['mean_latency_s']:.2f}"} for s in STRATEGIES]
    print(f"\n[벽시계] 디코딩 1 스텝 ≈ {1000 * step_s:.1f} ms")
    print(table(rows, list(rows[0])))

    # 3. 모두 한꺼번에: 우리 연속 배치 vs transformers 연속 배치 (생성 시간만; 엔진 시작·종료는 따로)
    burst = [replace(r, arrival=0.0) for r in base]
    ours_s, hf_s = [], []
    with HFContinuousBatching(model, args.batch_size, eos, pad, sizing=burst) as engine:
        engine.generate(burst[:2])  # 예열
        for _ in range(args.repeats):  # 번갈아 잰다
            ours_s.append(Scheduler(backend, args.batch_size).run(burst, "continuous").makespan)
            start = time.perf_counter()
            got = engine.generate(burst)
            hf_s.append(time.perf_counter() - start)
            ok &= got == one_by_one
    hf_fixed = [engine.start_s + engine.stop_s]
    rows = [{"engine": "course continuous", "min s": f"{min(ours_s):.3f}", "median s": f"{statistics.median(ours_s):.3f}",
             "x course (median)": "1.00", "start+stop s": "0"},
            {"engine": "transformers CB", "min s": f"{min(hf_s):.3f}", "median s": f"{statistics.median(hf_s):.3f}",
             "x course (median)": f"{statistics.median(hf_s) / statistics.median(ours_s):.2f}",
             "start+stop s": f"{statistics.median(hf_fixed):.2f}"}]
    print(f"\n[한꺼번에 {len(burst)}개, 배치 상한 {args.batch_size}] 시간 비율 (작을수록 빠름)")
    print(table(rows, list(rows[0])))
    print(f"\n토큰 일치 (모든 전략·엔진 = 요청 하나씩): {'예' if ok else '아니오'}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
