"""8.1 배치 전략을 비교하는 작은 스케줄러: 정적(static), 동적(dynamic), 연속(continuous) 배치.

세 전략은 같은 "엔진" (``Backend``: prefill 한 번, decode 한 스텝) 위에서 **언제 요청을 묶고 언제 풀어 주는지**만
다르다. 그래서 그리디 디코딩이면 세 전략의 출력 토큰이 같아야 하고, 달라지는 것은 시간(처리량, 지연)뿐이다.

- 정적 배치: 요청이 ``batch_size`` 개 모일 때까지 기다렸다가 한 배치로 묶고, 배치 안에서 가장 긴 요청이 끝날
  때까지 배치를 유지한다 (먼저 끝난 요청의 자리도 계속 계산된다 = 낭비).
- 동적 배치: ``batch_size`` 개가 모이거나 가장 오래 기다린 요청이 ``max_wait`` 초를 넘기면 배치를 시작한다.
  실행은 정적 배치와 같다.
- 연속 배치 (iteration-level scheduling): 디코딩 스텝마다 끝난 요청을 빼고, 도착한 요청을 빈 자리에 넣는다.

시간은 ``clock`` 과 ``sleep`` 함수로 주입한다 (노트북은 실제 시계, 단위 테스트는 가짜 시계).
``StepClock`` + ``CountingBackend`` 를 쓰면 시간 단위가 "모델 forward 한 번" 이 되어, 기계의 잡음과 무관한 결정적인
증거(forward 횟수, 패딩으로 버린 토큰 자리, 요청별 지연 스텝)를 얻는다.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

STRATEGIES = ("static", "dynamic", "continuous")


@dataclass(frozen=True)
class Request:
    rid: int
    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    arrival: float = 0.0  # 실행 시작 후 몇 초에 도착하는지


@dataclass
class Result:
    rid: int
    arrival: float
    tokens: list[int] = field(default_factory=list)
    first_token: float = float("nan")
    finish: float = float("nan")

    @property
    def latency(self) -> float:
        return self.finish - self.arrival

    @property
    def ttft(self) -> float:
        return self.first_token - self.arrival


@dataclass
class RunStats:
    strategy: str
    results: dict[int, Result]
    decode_steps: int = 0  # decode 를 부른 횟수 (배치 한 번 = 1)
    slot_steps: int = 0  # decode 한 행(row)의 합: 실제로 계산한 양
    wasted_slot_steps: int = 0  # 이미 끝난 요청을 위해 계산한 행
    makespan: float = 0.0

    @property
    def generated_tokens(self) -> int:
        return sum(len(r.tokens) for r in self.results.values())

    def summary(self) -> dict:
        latencies = sorted(r.latency for r in self.results.values())
        return {
            "strategy": self.strategy,
            "requests": len(self.results),
            "tokens": self.generated_tokens,
            "seconds": self.makespan,
            "tokens_per_s": self.generated_tokens / self.makespan if self.makespan > 0 else float("nan"),
            "mean_latency_s": sum(latencies) / len(latencies) if latencies else float("nan"),
            "mean_ttft_s": sum(r.ttft for r in self.results.values()) / max(len(self.results), 1),
            "decode_steps": self.decode_steps,
            "wasted_rows": self.wasted_slot_steps,
        }


class Backend(Protocol):
    """prefill 은 프롬프트들의 첫 생성 토큰과 요청별 상태(KV 캐시)를, decode 는 다음 토큰 한 개씩을 돌려준다."""

    eos_ids: frozenset[int]

    def prefill(self, prompts: list[Sequence[int]]) -> tuple[list[int], list[object]]: ...

    def decode(self, tokens: list[int], states: list[object]) -> tuple[list[int], list[object]]: ...


@dataclass
class _Running:
    request: Request
    result: Result
    state: object
    last: int
    done: bool = False


class Scheduler:
    def __init__(self, backend: Backend, batch_size: int = 4, max_wait: float = 0.05,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.backend, self.batch_size, self.max_wait = backend, batch_size, max_wait
        self.clock, self.sleep = clock, sleep

    # ---- 공통 부품
    def _finished(self, run: _Running) -> bool:
        return len(run.result.tokens) >= run.request.max_new_tokens or run.last in self.backend.eos_ids

    def _admit(self, requests: list[Request], t0: float) -> list[_Running]:
        """prefill: 프롬프트를 한 번에 계산하고 첫 토큰을 만든다."""
        firsts, states = self.backend.prefill([list(r.prompt_ids) for r in requests])
        now = self.clock() - t0
        runs = []
        for req, tok, state in zip(requests, firsts, states):
            res = Result(req.rid, req.arrival, [tok], first_token=now)
            run = _Running(req, res, state, tok)
            if self._finished(run):
                run.done, res.finish = True, now
            runs.append(run)
        return runs

    def _decode(self, runs: list[_Running], stats: RunStats, t0: float) -> None:
        """한 스텝: 배치의 모든 행을 계산한다 (끝난 행이 있으면 그 계산은 버려진다)."""
        tokens, states = self.backend.decode([r.last for r in runs], [r.state for r in runs])
        now = self.clock() - t0
        stats.decode_steps += 1
        stats.slot_steps += len(runs)
        for run, tok, state in zip(runs, tokens, states):
            if run.done:
                stats.wasted_slot_steps += 1
                continue
            run.state, run.last = state, tok
            run.result.tokens.append(tok)
            if self._finished(run):
                run.done, run.result.finish = True, now

    def _wait_for(self, t: float, t0: float) -> None:
        delay = t - (self.clock() - t0)
        if delay > 0:
            self.sleep(delay)

    # ---- 전략
    def run(self, requests: Sequence[Request], strategy: str) -> RunStats:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
        if len({r.rid for r in requests}) != len(requests):
            raise ValueError("request ids must be unique")
        pending = sorted(requests, key=lambda r: (r.arrival, r.rid))
        stats = RunStats(strategy, {})
        t0 = self.clock()
        if strategy == "continuous":
            self._run_continuous(pending, stats, t0)
        else:
            self._run_batched(pending, stats, t0, dynamic=strategy == "dynamic")
        stats.makespan = self.clock() - t0
        return stats

    def _run_batched(self, pending: list[Request], stats: RunStats, t0: float, dynamic: bool) -> None:
        while pending:
            now = self.clock() - t0
            arrived = [r for r in pending if r.arrival <= now]
            full = len(arrived) >= self.batch_size
            last_ones = len(arrived) == len(pending)  # 더 올 요청이 없다
            timed_out = dynamic and arrived and now - arrived[0].arrival >= self.max_wait
            if not (full or last_ones or timed_out):
                next_arrival = pending[len(arrived)].arrival
                deadline = arrived[0].arrival + self.max_wait if dynamic and arrived else next_arrival
                self._wait_for(min(next_arrival, deadline), t0)
                continue
            batch = arrived[: self.batch_size]
            pending = [r for r in pending if r not in batch]
            runs = self._admit(batch, t0)
            while not all(r.done for r in runs):
                self._decode(runs, stats, t0)
            for run in runs:
                stats.results[run.request.rid] = run.result

    def _run_continuous(self, pending: list[Request], stats: RunStats, t0: float) -> None:
        active: list[_Running] = []
        while pending or active:
            now = self.clock() - t0
            free = self.batch_size - len(active)
            joining = [r for r in pending if r.arrival <= now][:free]
            if joining:
                pending = [r for r in pending if r not in joining]
                active += self._admit(joining, t0)
            for run in [r for r in active if r.done]:
                stats.results[run.request.rid] = run.result
            active = [r for r in active if not r.done]
            if active:
                self._decode(active, stats, t0)
                for run in [r for r in active if r.done]:
                    stats.results[run.request.rid] = run.result
                active = [r for r in active if not r.done]
            elif pending:
                self._wait_for(pending[0].arrival, t0)


class StepClock:
    """모델 forward 한 번 = 1 스텝인 가짜 시계. CountingBackend 가 forward 마다 tick 하고, 스케줄러의 sleep 은
    다음 도착 시각으로 건너뛴다 (기다림도 스텝으로 센다)."""

    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, steps: float) -> None:
        self.t += max(steps, 0.0)

    def tick(self) -> None:
        self.t += 1.0


class CountingBackend:
    """backend 를 감싸 forward 마다 센다: 호출 수, 계산한 토큰 자리(패딩 포함), 그중 패딩.

    - prefill: 배치 행 수 x 가장 긴 프롬프트 = 계산한 자리, 그중 (최대 길이 - 제 길이) 의 합 = 패딩.
    - decode: 행 하나가 토큰 하나. 어텐션이 읽는 KV 자리 = 행 수 x (가장 긴 캐시 + 1), 그중 패딩 = 짧은 행의 모자람.
    상태는 (길이, 원래 상태) 로 싸서 들고 다닌다. clock 을 주면 forward 한 번마다 1 스텝 나아간다.
    """

    COUNTERS = ("forwards", "prefill_calls", "decode_calls", "prefill_slots", "prefill_pad", "decode_rows",
                "kv_slots", "kv_pad")

    def __init__(self, backend: Backend, clock: StepClock | None = None):
        self.backend, self.clock = backend, clock
        self.reset()

    @property
    def eos_ids(self):
        return self.backend.eos_ids

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.COUNTERS, 0)

    def _tick(self, kind: str) -> None:
        self.counts["forwards"] += 1
        self.counts[kind] += 1
        if self.clock is not None:
            self.clock.tick()

    def prefill(self, prompts):
        width = max(len(p) for p in prompts)
        self.counts["prefill_slots"] += width * len(prompts)
        self.counts["prefill_pad"] += sum(width - len(p) for p in prompts)
        firsts, states = self.backend.prefill(prompts)
        self._tick("prefill_calls")
        return firsts, [(len(p), s) for p, s in zip(prompts, states)]

    def decode(self, tokens, states):
        lengths = [n for n, _ in states]
        width = max(lengths) + 1
        self.counts["decode_rows"] += len(states)
        self.counts["kv_slots"] += width * len(states)
        self.counts["kv_pad"] += sum(width - n - 1 for n in lengths)
        nxt, inner = self.backend.decode(tokens, [s for _, s in states])
        self._tick("decode_calls")
        return nxt, [(n + 1, s) for n, s in zip(lengths, inner)]


class FixedLengthBackend:
    """모델 없는 엔진: 늘 같은 토큰(EOS가 아님)을 내므로 요청은 ``max_new_tokens``에서만 멈춥니다.

    스텝 수, 낭비된 행, 패딩은 요청의 길이와 도착 시각만으로 정해집니다. 어떤 모델·기계에서도 같은 표가 나오는
    스케줄링 연습용입니다 (``CountingBackend``로 감싸 씁니다).
    """

    eos_ids: frozenset[int] = frozenset()

    def __init__(self, token: int = 0):
        self.token = token

    def prefill(self, prompts):
        return [self.token] * len(prompts), [len(p) for p in prompts]

    def decode(self, tokens, states):
        return [self.token] * len(states), [n + 1 for n in states]


def step_summary(run: RunStats, counts: dict) -> dict:
    """StepClock 으로 돌린 실행의 결정적 요약: forward 횟수, 버린 자리, 요청별 지연(스텝)."""
    latencies = sorted(r.latency for r in run.results.values())
    return {
        "strategy": run.strategy,
        "tokens": run.generated_tokens,
        "forwards": counts["forwards"],
        "decode_steps": counts["decode_calls"],
        "decode_rows": counts["decode_rows"],
        "wasted_rows": run.wasted_slot_steps,  # 이미 끝난 요청을 위해 계산한 행
        "prefill_pad": counts["prefill_pad"],  # prefill 에서 왼쪽 패딩으로 채운 토큰 자리
        "kv_pad": counts["kv_pad"],  # decode 어텐션이 읽은 패딩 KV 자리
        "makespan_steps": run.makespan,
        "mean_latency_steps": sum(latencies) / len(latencies),
        "max_latency_steps": latencies[-1],
        "mean_ttft_steps": sum(r.ttft for r in run.results.values()) / len(run.results),
    }


def run_in_steps(backend: Backend, requests: Sequence[Request], strategy: str, batch_size: int,
                 max_wait_steps: float) -> tuple[RunStats, dict]:
    """requests 의 arrival 과 max_wait 를 스텝 단위로 보고 결정적으로 실행한다. (실행 결과, 카운터) 를 돌려준다."""
    clock = StepClock()
    counting = CountingBackend(backend, clock)
    scheduler = Scheduler(counting, batch_size, max_wait_steps, clock=clock.now, sleep=clock.sleep)
    run = scheduler.run(requests, strategy)
    return run, dict(counting.counts)


class HFContinuousBatching:
    """transformers 에 들어 있는 연속 배치 엔진 (ContinuousBatchingManager) 을 한 번 띄워 두고 요청 묶음을 여러 번 넣는다.

    한 배치의 최대 요청 수는 batch_size. KV 블록 수는 `sizing` 요청들이 한꺼번에 쓸 수 있는 최대 길이로 정한다
    (기본값은 기계 메모리 비율로 크게 잡아 작은 모델에서 느리다). 디코딩은 그리디.
    ``with`` 블록이 엔진의 시작과 종료 (배경 스레드) 이고, 그 시간은 ``start_s`` / ``stop_s`` 에 남는다.
    """

    def __init__(self, model, batch_size: int, eos_ids: Sequence[int], pad_id: int, sizing: Sequence[Request],
                 page_size: int = 16):
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        if not sizing:
            raise ValueError("sizing needs at least one request")
        longest = max(len(r.prompt_ids) + r.max_new_tokens for r in sizing)
        blocks = sum(-(-(len(r.prompt_ids) + r.max_new_tokens) // page_size) for r in sizing) + batch_size
        self.config = ContinuousBatchingConfig(max_requests_per_batch=batch_size, page_size=page_size,
                                               num_blocks=blocks, max_batch_tokens=batch_size * longest)
        self.generation = GenerationConfig(do_sample=False, max_new_tokens=max(r.max_new_tokens for r in sizing),
                                           eos_token_id=list(eos_ids), pad_token_id=pad_id)
        self.model, self.manager, self.calls = model, None, 0
        self.start_s = self.stop_s = 0.0

    def __enter__(self) -> HFContinuousBatching:  # noqa: PYI034
        began = time.perf_counter()
        self.manager = self.model.init_continuous_batching(generation_config=self.generation,
                                                           continuous_batching_config=self.config)
        self.manager.start()
        self.start_s = time.perf_counter() - began
        return self

    def __exit__(self, *exc) -> None:
        began = time.perf_counter()
        if self.manager is not None:
            self.manager.stop(block=True)
            if hasattr(self.manager, "destroy"):
                self.manager.destroy()
            self.manager = None
        self.stop_s = time.perf_counter() - began

    def generate(self, requests: Sequence[Request]) -> dict[int, list[int]]:
        """requests 를 모두 넣고 끝날 때까지 기다린다. {rid: 생성 토큰}; 실패한 요청은 빠진다 (부르는 쪽이 센다)."""
        if self.manager is None:
            raise RuntimeError("use inside `with HFContinuousBatching(...) as engine:`")
        self.calls += 1
        prefix = f"call{self.calls}-"
        for r in requests:
            self.manager.add_request(list(r.prompt_ids), request_id=f"{prefix}{r.rid}", max_new_tokens=r.max_new_tokens)
        results: dict[int, list[int]] = {}
        finished = 0  # 끝난 요청 수 (실패 포함): 모두 끝나거나 엔진이 멈추면 그만 기다린다
        while finished < len(requests):
            out = self.manager.get_result(timeout=0.05)
            if out is None:
                if not self.manager.is_running():
                    break
                continue
            if out.is_finished() and out.request_id.startswith(prefix):
                finished += 1
                if out.error is None:
                    results[int(out.request_id.removeprefix(prefix))] = list(out.generated_tokens)
        return results


def hf_continuous_generate(model, requests: Sequence[Request], batch_size: int, eos_ids: Sequence[int],
                           pad_id: int, page_size: int = 16) -> dict[int, list[int]]:
    """엔진을 띄우고, requests 를 한 번 생성하고, 멈춘다 (한 번만 쓸 때)."""
    with HFContinuousBatching(model, batch_size, eos_ids, pad_id, requests, page_size) as engine:
        return engine.generate(requests)


def reference_generate(backend: Backend, request: Request) -> list[int]:
    """배치 없이 요청 하나만 끝까지 생성한다 (배치 전략들이 맞춰야 하는 기준)."""
    firsts, states = backend.prefill([list(request.prompt_ids)])
    tokens, state = [firsts[0]], states[0]
    while len(tokens) < request.max_new_tokens and tokens[-1] not in backend.eos_ids:
        nxt, (state,) = backend.decode([tokens[-1]], [state])
        tokens.append(nxt[0])
    return tokens


class HFBackend:
    """transformers 인과 언어 모델을 그리디 prefill/decode 엔진으로 감싼다.

    요청마다 KV 캐시를 따로 (패딩 없이) 들고 있다가, 스텝마다 왼쪽 패딩으로 맞춰 한 배치로 계산하고 다시 나눈다.
    위치 id 는 요청마다 실제 길이로 주므로 패딩이 결과를 바꾸지 않는다 (어텐션 마스크가 패딩을 가린다).
    """

    def __init__(self, model, pad_id: int, eos_ids: Sequence[int]):
        self.model, self.pad_id, self.eos_ids = model, pad_id, frozenset(eos_ids)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def prefill(self, prompts):
        import torch

        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=positions.to(self.device), use_cache=True)
        firsts = out.logits[:, -1].argmax(-1).tolist()
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        states = [[(k[i:i + 1, :, width - len(p):], v[i:i + 1, :, width - len(p):]) for k, v in layers]
                  for i, p in enumerate(prompts)]
        return firsts, states

    def decode(self, tokens, states):
        import torch
        from transformers import DynamicCache

        lengths = [s[0][0].shape[2] for s in states]
        width = max(lengths)

        def left_pad(t, n):
            return torch.nn.functional.pad(t, (0, 0, width - n, 0))

        cache = DynamicCache(ddp_cache_data=[
            (torch.cat([left_pad(s[layer][0], n) for s, n in zip(states, lengths)]),
             torch.cat([left_pad(s[layer][1], n) for s, n in zip(states, lengths)]))
            for layer in range(len(states[0]))])
        mask = torch.zeros((len(states), width + 1), dtype=torch.long)
        for i, n in enumerate(lengths):
            mask[i, width - n:] = 1
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor(tokens)[:, None].to(self.device),
                             attention_mask=mask.to(self.device),
                             position_ids=torch.tensor(lengths)[:, None].to(self.device),
                             past_key_values=cache, use_cache=True)
        nxt = out.logits[:, -1].argmax(-1).tolist()
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        new_states = [[(k[i:i + 1, :, width - n:], v[i:i + 1, :, width - n:]) for k, v in layers]
                      for i, n in enumerate(lengths)]
        return nxt, new_states
