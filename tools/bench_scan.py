"""Benchmark: how attention and the selective scans of ch16 grow with sequence length (run by hand).

    .venv/bin/python tools/bench_scan.py                          # L = 256 .. 8192, 3 repeats, 1 thread
    .venv/bin/python tools/bench_scan.py --lengths 1024 4096 16384 --repeat 5

The functions are the notebook's own (ch16_mamba/ch16.ipynb, loaded with tests/notebook_defs.py), measured with
ch16_mamba/scaling.py exactly as section 16.8 does: CPU time (time.process_time) with torch limited to --threads
threads, the minimum over --repeat runs per length; peak memory with chapter 7's tensor-storage meter. Prints the
hardware, a time table, each method's time as a ratio to the sequential scan, the fitted exponents (time and memory)
and the first length where attention is slower than each scan.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course import hardware_label  # noqa: E402

from ch16_mamba.scaling import fit_exponent, peak_memory_bytes, time_call  # noqa: E402
from tests.notebook_defs import load_definitions  # noqa: E402

NOTEBOOK = ROOT / "ch16_mamba" / "ch16.ipynb"
WANTED = {"SEED", "random_scan_inputs", "parallel_scan", "selective_scan_parallel", "selective_scan_blocked",
          "selective_scan_sequential", "causal_attention"}
MEMORY_OF = ("어텐션", "병렬 스캔", "블록 스캔")


def methods(nb: dict, L: int, d_inner: int, d_state: int) -> dict:
    torch.manual_seed(0)
    q = torch.randn(1, L, 64)
    inputs = nb["random_scan_inputs"](1, L, d_inner, d_state)
    from ch16_mamba.pscan import chunked_scan

    return {"어텐션": lambda: nb["causal_attention"](q, q, q),
            "병렬 스캔": lambda: nb["selective_scan_parallel"](*inputs),
            "블록 스캔": lambda: nb["selective_scan_blocked"](*inputs),
            "청크 스캔": lambda: nb["selective_scan_parallel"](*inputs, scan=chunked_scan),
            "순차 스캔": lambda: nb["selective_scan_sequential"](*inputs)}


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(" | ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--d-inner", type=int, default=128)
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory column")
    args = parser.parse_args(argv)

    nb = load_definitions(NOTEBOOK, WANTED, {"torch", "math", "pscan"})
    print(f"하드웨어: {hardware_label()} | torch {torch.__version__} | 스레드 {args.threads} | (d_inner, N) = "
          f"({args.d_inner}, {args.d_state}) | CPU 시간 최솟값 ({args.repeat}회)")
    times: dict[str, list[float]] = {}
    memory: dict[str, list[float]] = {}
    for L in args.lengths:
        for name, fn in methods(nb, L, args.d_inner, args.d_state).items():
            times.setdefault(name, []).append(1e3 * time_call(fn, repeat=args.repeat, threads=args.threads))
            if name in MEMORY_OF and not args.no_memory:
                memory.setdefault(name, []).append(peak_memory_bytes(fn) / 2**20)
        print(f"  L={L} 완료", file=sys.stderr, flush=True)

    names = list(times)
    print("\n시간 (ms)")
    print(table([["L", *names]] + [[str(L), *(f"{times[n][i]:.1f}" for n in names)]
                                   for i, L in enumerate(args.lengths)]))
    print("\n순차 스캔 대비 시간 (배, 1 보다 작으면 순차보다 빠름)")
    print(table([["L", *names]] + [[str(L), *(f"{times[n][i] / times['순차 스캔'][i]:.2f}" for n in names)]
                                   for i, L in enumerate(args.lengths)]))
    if memory:
        print("\n최대 메모리 (MiB, 텐서 저장소)")
        print(table([["L", *memory]] + [[str(L), *(f"{memory[n][i]:.1f}" for n in memory)]
                                        for i, L in enumerate(args.lengths)]))
    print(f"\n증가 지수 k (L {args.lengths[0]}..{args.lengths[-1]} 전체에 맞춘 기울기)")
    rows = [["방법", "시간 k", "메모리 k", "어텐션이 더 느린 첫 L"]]
    for n in names:
        slower = [L for i, L in enumerate(args.lengths) if times["어텐션"][i] > times[n][i]]
        first = "-" if n == "어텐션" else (str(slower[0]) if slower else f"> {args.lengths[-1]}")
        mem_k = f"{fit_exponent(args.lengths, memory[n]):.2f}" if n in memory else ""
        rows.append([n, f"{fit_exponent(args.lengths, times[n]):.2f}", mem_k, first])
    print(table(rows))


if __name__ == "__main__":
    main()
