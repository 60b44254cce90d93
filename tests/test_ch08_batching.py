"""ch08_serving/batching.py: 세 배치 전략이 같은 토큰을 내고, 요청을 잃지 않고, 스케줄링 규칙을 지키는지."""

from __future__ import annotations

import pytest

from ch08_serving.batching import STRATEGIES, HFBackend, Request, Scheduler, reference_generate


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.t += seconds


class FakeBackend:
    """상태 = 지금까지의 토큰. 다음 토큰은 상태로만 정해진다. 호출마다 시계가 1 씩 간다."""

    def __init__(self, clock: FakeClock, eos: int = 7, vocab: int = 50):
        self.clock, self.eos_ids, self.vocab = clock, frozenset({eos}), vocab
        self.decode_batches: list[int] = []

    def _next(self, seq) -> int:
        return (sum(seq) * 31 + len(seq) * 17) % self.vocab

    def prefill(self, prompts):
        self.clock.t += 1
        states = [list(p) for p in prompts]
        firsts = [self._next(s) for s in states]
        return firsts, [s + [f] for s, f in zip(states, firsts)]

    def decode(self, tokens, states):
        self.clock.t += 1
        self.decode_batches.append(len(states))
        nxt = [self._next(s) for s in states]
        return nxt, [s + [n] for s, n in zip(states, nxt)]


def make_requests(lengths, arrivals=None):
    arrivals = arrivals or [0.0] * len(lengths)
    return [Request(i, (i + 1, 2 * i + 3, 5), n, a) for i, (n, a) in enumerate(zip(lengths, arrivals))]


def make(batch_size=3, max_wait=2.0):
    clock = FakeClock()
    backend = FakeBackend(clock)
    return Scheduler(backend, batch_size, max_wait, clock=clock.now, sleep=clock.sleep), backend


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_tokens_as_one_by_one_and_no_lost_requests(strategy):
    sched, backend = make()
    reqs = make_requests([1, 9, 3, 12, 5, 2, 8], arrivals=[0, 0, 1, 3, 3, 4, 20])
    stats = sched.run(reqs, strategy)
    assert sorted(stats.results) == [r.rid for r in reqs]
    for r in reqs:
        expected = reference_generate(backend, r)
        assert stats.results[r.rid].tokens == expected
        assert 1 <= len(expected) <= r.max_new_tokens
        res = stats.results[r.rid]
        assert res.arrival <= res.first_token <= res.finish
    assert stats.generated_tokens == sum(len(r.tokens) for r in stats.results.values())
    assert max(backend.decode_batches) <= 3


def test_eos_stops_a_request_and_is_kept():
    clock = FakeClock()
    backend = FakeBackend(clock)
    req = Request(0, (1, 2, 3), 200)
    tokens = reference_generate(backend, req)
    backend.eos_ids = frozenset({tokens[4]})
    sched = Scheduler(backend, 2, clock=clock.now, sleep=clock.sleep)
    got = sched.run([req], "continuous").results[0].tokens
    assert got[-1] == tokens[4] and len(got) <= 5


def test_continuous_needs_fewer_steps_and_wastes_nothing():
    lengths = [2, 30, 3, 25, 4, 20, 5, 2]
    static, _ = make(batch_size=4)
    cont, _ = make(batch_size=4)
    s = static.run(make_requests(lengths), "static")
    c = cont.run(make_requests(lengths), "continuous")
    assert c.wasted_slot_steps == 0
    assert s.wasted_slot_steps > 0
    assert c.decode_steps < s.decode_steps
    assert c.makespan < s.makespan
    assert s.summary()["tokens"] == c.summary()["tokens"]
    # 정적 배치: 행 계산 = 쓸모 있는 decode + 낭비
    assert s.slot_steps == sum(len(r.tokens) - 1 for r in s.results.values()) + s.wasted_slot_steps


def test_static_waits_for_a_full_batch_but_dynamic_does_not():
    reqs = make_requests([3, 3, 3, 3], arrivals=[0, 0, 0, 10])
    static, _ = make(batch_size=4, max_wait=1.0)
    dynamic, _ = make(batch_size=4, max_wait=1.0)
    s = static.run(reqs, "static")
    d = dynamic.run(reqs, "dynamic")
    assert s.results[0].first_token >= 10  # 네 번째 요청이 올 때까지 기다렸다
    assert 1.0 <= d.results[0].first_token < 10  # max_wait 뒤에 부분 배치로 시작
    assert d.results[3].first_token >= 10


def test_continuous_admits_into_freed_slots():
    sched, backend = make(batch_size=2)
    sched.run(make_requests([2, 10, 2, 2]), "continuous")
    assert max(backend.decode_batches) == 2
    assert backend.decode_batches.count(2) >= 2


def test_bad_arguments():
    sched, _ = make()
    with pytest.raises(ValueError):
        sched.run(make_requests([1]), "nonsense")
    with pytest.raises(ValueError):
        sched.run([Request(0, (1,), 2), Request(0, (2,), 2)], "static")
    with pytest.raises(ValueError):
        Scheduler(FakeBackend(FakeClock()), batch_size=0)


def test_hf_backend_matches_generate_with_padding():
    torch = pytest.importorskip("torch")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = Qwen2ForCausalLM(cfg).eval()
    backend = HFBackend(model, pad_id=0, eos_ids=[2])
    reqs = [Request(i, tuple(torch.randint(3, 97, (n,)).tolist()), m)
            for i, (n, m) in enumerate([(3, 6), (9, 2), (5, 11), (12, 7)])]
    expected = {}
    for r in reqs:
        out = model.generate(torch.tensor([r.prompt_ids]), max_new_tokens=r.max_new_tokens, do_sample=False,
                             pad_token_id=0, eos_token_id=2)
        new = out[0, len(r.prompt_ids):].tolist()
        expected[r.rid] = new[: new.index(2) + 1] if 2 in new else new
        assert reference_generate(backend, r) == expected[r.rid]
    for strategy in STRATEGIES:
        stats = Scheduler(backend, batch_size=3, max_wait=0.0).run(reqs, strategy)
        assert {rid: res.tokens for rid, res in stats.results.items()} == expected


# ---- 결정적 증거: 스텝 시계와 세는 백엔드

def plain_fake():  # 스텝은 StepClock 이 센다 (가짜 백엔드 자기 시계는 따로 간다)
    return FakeBackend(FakeClock())


def test_counting_backend_counts_padding_and_forwards():
    from ch08_serving.batching import CountingBackend, StepClock

    clock = StepClock()
    counting = CountingBackend(plain_fake(), clock)
    firsts, states = counting.prefill([[1, 2, 3], [4]])
    assert counting.counts["prefill_slots"] == 6 and counting.counts["prefill_pad"] == 2
    assert [n for n, _ in states] == [3, 1]
    _, states = counting.decode(firsts, states)
    assert counting.counts["decode_rows"] == 2
    assert counting.counts["kv_slots"] == 2 * 4 and counting.counts["kv_pad"] == 2
    assert [n for n, _ in states] == [4, 2]
    assert counting.counts["forwards"] == 2 and clock.now() == 2.0
    counting.reset()
    assert all(v == 0 for v in counting.counts.values())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_step_runs_are_deterministic_and_counts_add_up(strategy):
    from ch08_serving.batching import run_in_steps

    reqs = make_requests([1, 9, 3, 12, 5, 2, 8], arrivals=[0, 0, 2, 4, 6, 8, 30])
    backend = plain_fake()
    run, counts = run_in_steps(backend, reqs, strategy, batch_size=3, max_wait_steps=2)
    again, counts_again = run_in_steps(backend, reqs, strategy, batch_size=3, max_wait_steps=2)
    assert counts == counts_again
    assert {k: (v.tokens, v.latency) for k, v in run.results.items()} == \
        {k: (v.tokens, v.latency) for k, v in again.results.items()}
    tokens = run.generated_tokens
    assert counts["forwards"] == counts["prefill_calls"] + counts["decode_calls"]
    assert counts["decode_rows"] - run.wasted_slot_steps == tokens - len(reqs)  # 쓸모 있는 행 = 토큰 하나
    for r in reqs:
        res = run.results[r.rid]
        assert res.tokens == reference_generate(backend, r)
        assert res.latency >= len(res.tokens)  # 토큰 하나에 forward 한 번은 걸린다


def test_step_counts_show_static_waste_and_continuous_none():
    from ch08_serving.batching import run_in_steps, step_summary

    reqs = make_requests([2, 30, 3, 25, 4, 20, 5, 2])
    rows = {s: step_summary(*run_in_steps(plain_fake(), reqs, s, 4, 0)) for s in STRATEGIES}
    assert rows["continuous"]["wasted_rows"] == 0 and rows["static"]["wasted_rows"] > 0
    # 모두 처음부터 와 있으면 동적 배치 = 정적 배치
    assert {k: v for k, v in rows["dynamic"].items() if k != "strategy"} == \
        {k: v for k, v in rows["static"].items() if k != "strategy"}
    assert len({r["tokens"] for r in rows.values()}) == 1


# ---- 노트북의 연속 배치 루프 = 도우미의 연속 배치 루프

def _notebook_scheduler():
    from pathlib import Path

    from tests.notebook_defs import load_definitions

    path = Path(__file__).resolve().parents[1] / "ch08_serving" / "ch08.ipynb"
    return load_definitions(path, {"CourseScheduler"}, modules={"dataclasses", "batching"})["CourseScheduler"]


@pytest.mark.parametrize("lengths,arrivals,batch_size", [
    ([1, 9, 3, 12, 5, 2, 8], [0, 0, 1, 3, 3, 4, 20], 3),
    ([2, 30, 3, 25, 4, 20, 5, 2], None, 4),
    ([1, 1, 1], [0, 5, 50], 2),
    ([7, 7, 7, 7, 7], [0, 0, 0, 0, 0], 1),
])
def test_notebook_continuous_loop_behaves_like_the_helper(lengths, arrivals, batch_size):
    course_scheduler = _notebook_scheduler()
    reqs = make_requests(lengths, arrivals)
    observed = []
    for cls in (Scheduler, course_scheduler):
        sched, backend = make(batch_size=batch_size)
        sched = cls(backend, batch_size, 2.0, clock=sched.clock, sleep=sched.sleep)
        stats = sched.run(reqs, "continuous")
        observed.append((backend.decode_batches, stats.decode_steps, stats.wasted_slot_steps, stats.makespan,
                         {k: (v.tokens, v.first_token, v.finish) for k, v in stats.results.items()}))
    assert observed[0] == observed[1]


def test_hf_continuous_generate_matches_one_by_one():
    torch = pytest.importorskip("torch")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ch08_serving.batching import hf_continuous_generate

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = Qwen2ForCausalLM(cfg).eval()
    backend = HFBackend(model, pad_id=0, eos_ids=[2])
    reqs = [Request(i, tuple(torch.randint(3, 97, (n,)).tolist()), m)
            for i, (n, m) in enumerate([(3, 6), (9, 2), (5, 11), (12, 7), (4, 3)])]
    expected = {r.rid: reference_generate(backend, r) for r in reqs}
    assert hf_continuous_generate(model, reqs, batch_size=2, eos_ids=[2], pad_id=0) == expected
    from ch08_serving.batching import HFContinuousBatching

    with HFContinuousBatching(model, 2, [2], 0, sizing=reqs) as engine:  # 한 엔진에 여러 번: 요청 id 가 섞이지 않는다
        assert engine.generate(reqs[:2]) == {r.rid: expected[r.rid] for r in reqs[:2]}
        assert engine.generate(reqs) == expected
    with pytest.raises(RuntimeError, match="inside"):
        engine.generate(reqs)
    with pytest.raises(ValueError):
        HFContinuousBatching(model, 2, [2], 0, sizing=[])


# ---- 모델 없는 엔진: 길이가 정해진 요청의 결정적 스텝 표 (노트북의 출력 확인 셀이 쓰는 것)

def test_fixed_length_backend_stops_only_at_max_new_tokens():
    from ch08_serving.batching import FixedLengthBackend, run_in_steps, step_summary

    reqs = [Request(i, tuple(range(p)), n, arrival=2.0 * i)
            for i, (p, n) in enumerate([(5, 3), (9, 12), (4, 1), (7, 6)])]
    rows = {s: step_summary(*run_in_steps(FixedLengthBackend(), reqs, s, 2, 1)) for s in STRATEGIES}
    for row in rows.values():
        assert row["tokens"] == sum(r.max_new_tokens for r in reqs)  # EOS 없이 길이대로
        assert row["decode_rows"] - row["wasted_rows"] == row["tokens"] - len(reqs)
    assert rows["continuous"]["wasted_rows"] == 0 and rows["static"]["wasted_rows"] > 0
    assert rows == {s: step_summary(*run_in_steps(FixedLengthBackend(), reqs, s, 2, 1)) for s in STRATEGIES}
    backend = FixedLengthBackend(token=3)
    assert reference_generate(backend, reqs[1]) == [3] * 12
