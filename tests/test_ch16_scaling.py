"""Unit tests of ch16_mamba/scaling.py (no wall-clock limits: only that timings are measured at all)."""

from __future__ import annotations

import math

import pytest
import torch

from ch16_mamba.scaling import fit_exponent, peak_memory_bytes, time_call


def test_fit_exponent_recovers_power_laws():
    xs = [128, 256, 512, 1024]
    assert fit_exponent(xs, [3 * x**2 for x in xs]) == pytest.approx(2.0)
    assert fit_exponent(xs, [7 * x for x in xs]) == pytest.approx(1.0)
    assert fit_exponent(xs, [x * math.log(x) for x in xs]) == pytest.approx(1.0, abs=0.2)


@pytest.mark.parametrize("bad", [([1], [1]), ([1, 2], [0, 1]), ([-1, 2], [1, 2])])
def test_fit_exponent_rejects_bad_points(bad):
    with pytest.raises(ValueError):
        fit_exponent(*bad)


def test_peak_memory_counts_the_result():
    peak = peak_memory_bytes(lambda: torch.ones(1000, 1000))
    assert 4_000_000 <= peak < 4_100_000


def test_peak_memory_is_the_peak_not_the_final_allocation():
    def two_temporaries():
        x = torch.ones(500, 1000)  # 2 MB
        y = x * 2  # 2 MB more, peak 4 MB
        del x
        return y.sum()  # tiny result

    peak = peak_memory_bytes(two_temporaries)
    assert 4_000_000 <= peak < 4_100_000


def test_peak_memory_grows_quadratically_for_square_matrices():
    sizes = [200, 400, 800]
    peaks = [peak_memory_bytes(lambda n=n: torch.zeros(n, n)) for n in sizes]
    assert fit_exponent(sizes, peaks) == pytest.approx(2.0, abs=0.05)


def test_time_call_runs_the_function_warmup_plus_repeat_times():
    calls = []
    seconds = time_call(lambda: calls.append(1), repeat=3, warmup=2)
    assert len(calls) == 5 and seconds >= 0


def test_time_call_measures_with_one_torch_thread_and_restores_the_setting():
    seen = []
    before = torch.get_num_threads()
    time_call(lambda: seen.append(torch.get_num_threads()), repeat=2, warmup=1)
    assert seen == [1, 1, 1] and torch.get_num_threads() == before
    time_call(lambda: seen.append(torch.get_num_threads()), repeat=1, warmup=0, threads=2)
    assert seen[-1] == 2 and torch.get_num_threads() == before


def test_peak_memory_is_the_chapter7_meter_count():
    from ch07_quantization.memory_meter import measure_peak

    def work():
        a = torch.randn(300, 300)
        b = a @ a
        return (b.softmax(-1) * a).sum()

    assert peak_memory_bytes(work) == measure_peak(work).peak_extra_bytes > 3 * 300 * 300 * 4


def test_bench_scan_script_prints_its_tables(capsys):
    """tools/bench_scan.py runs on the notebook's own functions (tiny lengths: a smoke run, not a benchmark)."""
    from tools import bench_scan

    bench_scan.main(["--lengths", "16", "32", "--repeat", "1", "--d-inner", "8", "--d-state", "4"])
    out = capsys.readouterr().out
    for header in ("하드웨어:", "시간 (ms)", "순차 스캔 대비 시간", "최대 메모리 (MiB", "증가 지수 k"):
        assert header in out
    assert out.count("블록 스캔") >= 4
