"""Run one writer function in several spawned processes at once; collect their exit codes and reported errors."""

from __future__ import annotations

import multiprocessing


def run_writers(target, path, count: int, processes: int = 4, timeout: float = 120) -> tuple[list, list[str]]:
    """`target(path, worker, count, errors)` in `processes` processes; returns (exit codes, error lines)."""
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    workers = [ctx.Process(target=target, args=(path, w, count, errors)) for w in range(processes)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    print(f"errors: {len(problems)}", problems[:3])
    return [p.exitcode for p in workers], problems
