"""ch07_quantization/memory_meter.py: CPU 최대 메모리 측정기가 살아 있는 텐서 바이트를 정확히 센다."""

import torch

from ch07_quantization.memory_meter import (
    MemoryMeter,
    StorageLedger,
    TensorMemoryMeter,
    live_tensor_bytes,
    measure_peak,
)


def test_peak_not_current():
    def work():
        a = torch.empty(1000)  # 4000 B
        b = torch.empty(500)  # 2000 B -> 최대 6000
        del a
        c = torch.empty(100)  # noqa: F841
        return b.sum()

    stats = measure_peak(work)
    assert stats.start_bytes == 0
    assert stats.peak_bytes == 6000
    assert stats.end_bytes == 0


def test_views_and_inplace_do_not_count_new_memory():
    x = torch.randn(256)
    meter = TensorMemoryMeter([x])
    with meter:
        v = x.view(16, 16).t()
        x.mul_(2)
        y = v + 1  # 새 텐서 256*4 B
    assert meter.start == 1024
    assert meter.peak == 2048
    del y


def test_training_step_matches_params_grads_and_adam_states():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    opt = torch.optim.AdamW(model.parameters())
    batch = torch.randn(4, 32)
    params = live_tensor_bytes(model)

    def step():
        model(batch).pow(2).mean().backward()
        opt.step()

    stats = measure_peak(step, existing=[model, batch])
    grads = sum(p.grad.nbytes for p in model.parameters())
    states = sum(v.nbytes for s in opt.state.values() for v in s.values() if v.dim() > 0)  # step 스칼라 제외
    assert grads == params and states == 2 * params
    assert stats.start_bytes == params + batch.nbytes
    assert stats.end_bytes == params + batch.nbytes + grads + states
    assert stats.peak_bytes >= stats.end_bytes


def test_live_tensor_bytes_counts_shared_storage_once():
    lin = torch.nn.Linear(4, 4, bias=False)
    tied = torch.nn.Module()
    tied.a, tied.b = lin, lin
    assert live_tensor_bytes(tied) == 64


def test_memory_meter_marks_current_values_and_peak_on_cpu():
    keep = torch.zeros(10)  # 40 B, 측정 전부터 있던 텐서
    with MemoryMeter("cpu", existing=[keep]) as meter:
        a = torch.empty(100)  # +400
        meter.mark("a")
        b = torch.empty(50)  # +200 -> 640 최대
        del a
        meter.mark("b 후 a 해제")
    assert meter.start == 40
    assert meter.marks == {"a": 440, "b 후 a 해제": 240}
    assert meter.peak == 640 and meter.end == 240
    del b


def test_storage_ledger_counts_a_storage_once_and_releases_it():
    ledger = StorageLedger()
    x = torch.empty(100)  # 400 B
    ledger._track(x)
    ledger._track(x.view(10, 10))  # 같은 저장소: 다시 세지 않는다
    ledger._track(torch.empty(0))  # 빈 저장소는 세지 않는다
    assert ledger.current == ledger.peak == 400
    del x
    assert ledger.current == 0 and ledger.peak == 400
