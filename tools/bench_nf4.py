"""Benchmark: the course's NF4 (ch07_quantization/quantizers.py) against bitsandbytes, on CPU.

    .venv/bin/python tools/bench_nf4.py                  # 1 thread, sizes 1024x1024 and 4096x4096
    .venv/bin/python tools/bench_nf4.py --sizes 2048 --repeat 5 --threads 2

Prints, per matrix size: quantize and dequantize CPU time (minimum over --repeat runs, time.process_time,
torch limited to --threads threads) of both implementations and the ratio course / bitsandbytes, and how many
4-bit codes differ from bitsandbytes, for the course rule (midpoint boundaries on x * (1/absmax)) and for
the earlier argmin rule (nearest codebook value of x / absmax). Run by hand; not a unit test.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course import hardware_label  # noqa: E402

from ch07_quantization.quantizers import dequantize, nf4_quantize, nf4_quantize_argmin  # noqa: E402


def cpu_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096], help="square matrix sides")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--block", type=int, default=64)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import bitsandbytes.functional as bnbf

    torch.set_num_threads(args.threads)
    print(f"하드웨어: {hardware_label()} | torch {torch.__version__} | bitsandbytes "
          f"{__import__('bitsandbytes').__version__} | 스레드 {args.threads} | 블록 {args.block} | "
          f"CPU 시간 최솟값 ({args.repeat}회)")
    header = ("크기", "양자화 우리 ms", "양자화 bnb ms", "배 (우리/bnb)", "복원 우리 ms", "복원 bnb ms",
              "배 (우리/bnb)", "다른 코드 (중간점 규칙)", "다른 코드 (argmin 규칙)")
    print(" | ".join(header))
    for n in args.sizes:
        torch.manual_seed(n)
        w = torch.randn(n, n)
        with torch.no_grad():
            ours_q = nf4_quantize(w, args.block)
            packed, state = bnbf.quantize_4bit(w, blocksize=args.block, quant_type="nf4")
            reference = bnbf.dequantize_4bit(packed, state)
            differ = int((dequantize(ours_q) != reference).sum())
            differ_argmin = int((dequantize(nf4_quantize_argmin(w, args.block)) != reference).sum())
            tq_ours = cpu_seconds(lambda: nf4_quantize(w, args.block), args.repeat)
            tq_bnb = cpu_seconds(lambda: bnbf.quantize_4bit(w, blocksize=args.block, quant_type="nf4"), args.repeat)
            td_ours = cpu_seconds(lambda: dequantize(ours_q), args.repeat)
            td_bnb = cpu_seconds(lambda: bnbf.dequantize_4bit(packed, state), args.repeat)
        row = (f"{n}x{n} ({w.numel():,})", f"{1e3 * tq_ours:.1f}", f"{1e3 * tq_bnb:.1f}", f"{tq_ours / tq_bnb:.2f}",
               f"{1e3 * td_ours:.1f}", f"{1e3 * td_bnb:.1f}", f"{td_ours / td_bnb:.2f}",
               f"{differ:,}", f"{differ_argmin:,}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
