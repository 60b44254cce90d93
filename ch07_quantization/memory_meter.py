"""최대(peak) 메모리 측정기: GPU 는 CUDA 할당기 통계, CPU 는 텐서 저장소(storage)를 직접 센다.

    from memory_meter import MemoryMeter, measure_peak
    stats = measure_peak(lambda: train_step(model, batch), device="cpu", existing=[model, batch])
    stats.peak_bytes, stats.start_bytes, stats.end_bytes
    with MemoryMeter("cuda") as m:            # 단계별 현재값도 기록
        loss = model(**batch).loss; m.mark("forward")

왜 이렇게 재는가
- ``tracemalloc`` 은 파이썬 객체 할당만 본다. PyTorch 텐서 메모리는 C++ 할당기에서 나오므로 보이지 않는다.
- 프로세스 RSS 는 라이브러리 코드, 할당기 캐시, 다른 객체까지 섞이고, 작은 모델에서는 잡음이 신호보다 크다.
- "현재" 메모리(측정이 끝난 뒤의 값)는 역전파 중 잠깐 살아 있던 활성값을 놓친다. 필요한 것은 최대값이다.

CPU 에서는 ``TorchDispatchMode`` 로 연산이 만들어 내는 모든 텐서의 저장소를 가로채 바이트를 더하고,
저장소가 해제되면(weakref 콜백) 뺀다. 이것은 CUDA 의 ``memory_allocated`` 와 같은 양(살아 있는 텐서 바이트)이며,
할당기 캐시·단편화는 포함하지 않는다. 디스패처를 거치지 않고 만들어지는 텐서(``torch.tensor(...)`` 로 만든
스칼라, 예: Adam 의 step 카운터 몇 바이트)는 세지 않는다. 측정 시작 전에 이미 있던 텐서(모델 가중치 등)는 ``start_bytes`` 로
``existing`` 으로 넘겨 기준값(start_bytes)으로 센다.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode


@dataclass
class PeakStats:
    start_bytes: int  # 측정 시작 때 살아 있던 텐서 바이트 (CPU: existing 으로 넘긴 것)
    peak_bytes: int  # 측정 중 최대 (start 포함)
    end_bytes: int  # 측정이 끝난 뒤 살아 있는 바이트 (start 포함)
    device: str
    method: str

    @property
    def peak_extra_bytes(self) -> int:
        return self.peak_bytes - self.start_bytes


class StorageLedger:
    """CPU 텐서 저장소 바이트의 현재값·최대값 장부: 새 저장소는 더하고, 해제되면(weakref 콜백) 뺍니다."""

    def __init__(self):
        super().__init__()
        self.current = self.peak = 0
        self._seen = weakref.WeakKeyDictionary()

    def _track(self, tensor: torch.Tensor) -> None:
        if not isinstance(tensor, torch.Tensor) or tensor.device.type != "cpu":
            return
        storage = tensor.untyped_storage()
        if storage in self._seen or storage.nbytes() == 0:
            return
        nbytes = storage.nbytes()
        self._seen[storage] = nbytes
        self.current += nbytes
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._release, nbytes)

    def _release(self, nbytes: int) -> None:
        self.current -= nbytes


class TensorMemoryMeter(StorageLedger, TorchDispatchMode):
    """모든 연산을 가로채, 연산이 새로 만든 CPU 텐서 저장소를 장부에 올립니다 (뷰는 저장소를 공유하므로 한 번만).

    existing: 측정 전부터 있던 모델·옵티마이저·텐서. 기준값(start)으로 먼저 등록합니다."""

    def __init__(self, existing=()):
        super().__init__()  # StorageLedger, 그다음 TorchDispatchMode
        self.track_existing(existing)
        self.start = self.current

    def track_existing(self, objects) -> None:
        """측정 전에 있던 모듈(파라미터·버퍼·grad)·텐서를 기준값으로 등록합니다 (해제되면 빠집니다)."""
        for obj in objects:
            for tensor in _tensors_of(obj):
                self._track(tensor)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # 뷰·제자리(in-place) 연산의 출력은 입력의 저장소를 그대로 씁니다: 새 메모리가 아닙니다.
        inputs = {t.untyped_storage().data_ptr() for t in flat_tensors((args, kwargs))
                  if t.device.type == "cpu"}
        for tensor in flat_tensors(out):
            if tensor.untyped_storage().data_ptr() not in inputs:
                self._track(tensor)
        return out


def flat_tensors(obj) -> list[torch.Tensor]:
    """연산의 인자·결과(튜플·리스트·딕셔너리 중첩)에서 텐서만 꺼낸다 (tree_flatten 보다 가볍다)."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in flat_tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in flat_tensors(item)]
    return []


def _tensors_of(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.nn.Module):
        tensors = list(obj.parameters()) + list(obj.buffers())
    elif isinstance(obj, torch.optim.Optimizer):
        tensors = [v for state in obj.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    elif isinstance(obj, torch.Tensor):
        tensors = [obj]
    else:  # dict (배치) 나 리스트
        tensors = flat_tensors(obj)
    extra = [t.grad for t in tensors if getattr(t, "grad", None) is not None]
    for t in tensors:  # bitsandbytes: 양자화 상수는 파라미터 밖 속성에 있다 (4비트 quant_state, 8비트 SCB)
        state = getattr(t, "quant_state", None)
        if state is not None:
            extra += [state.absmax, state.code] + ([state.offset, state.state2.absmax, state.state2.code]
                                                   if getattr(state, "nested", False) else [])
        if isinstance(getattr(t, "SCB", None), torch.Tensor):
            extra.append(t.SCB)
    return tensors + [t for t in extra if isinstance(t, torch.Tensor)]


def live_tensor_bytes(*objects) -> int:
    """모듈(파라미터·버퍼·grad), 옵티마이저 상태, 텐서의 저장소 바이트 합 (공유 저장소는 한 번만)."""
    seen, total = set(), 0
    for obj in objects:
        for tensor in _tensors_of(obj):
            storage = tensor.untyped_storage()
            key = (storage.data_ptr(), tensor.device.type)
            if key not in seen:
                seen.add(key)
                total += storage.nbytes()
    return total


class MemoryMeter:
    """with MemoryMeter(device, existing) as m: ... m.mark("이름") 으로 중간 현재값을 기록, 끝나면 m.peak.

    GPU: torch.cuda.reset_peak_memory_stats / memory_allocated / max_memory_allocated.
    CPU: TensorMemoryMeter (살아 있는 텐서 저장소의 합)."""

    def __init__(self, device: str = "cpu", existing=()):
        self.cuda = str(device).startswith("cuda")
        self.existing = existing
        self.marks: dict[str, int] = {}

    def __enter__(self):
        if self.cuda:  # 이전에 지운 모델이 순환 참조로 남아 있으면 GPU 기준값에 섞인다
            gc.collect()
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        else:
            self._cpu = TensorMemoryMeter(self.existing).__enter__()
        self.start = self.current
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        else:
            self._cpu.__exit__(*exc)
        self.end = self.current
        return False

    @property
    def current(self) -> int:
        return torch.cuda.memory_allocated() if self.cuda else self._cpu.current

    @property
    def peak(self) -> int:
        return torch.cuda.max_memory_allocated() if self.cuda else self._cpu.peak

    def mark(self, name: str) -> int:
        if self.cuda:
            torch.cuda.synchronize()
        self.marks[name] = self.current
        return self.marks[name]


def measure_peak(fn: Callable[[], object], device: str = "cpu", existing=()) -> PeakStats:
    """fn() 을 실행하는 동안의 최대 메모리. GPU: 할당기 통계, CPU: TensorMemoryMeter.

    existing: CPU 에서 측정 전부터 있던 모델·옵티마이저·배치 (GPU 에서는 할당기가 이미 알고 있어 무시)."""
    with MemoryMeter(device, existing) as meter:
        fn()
    method = "torch.cuda.max_memory_allocated" if meter.cuda else "TorchDispatchMode: 살아 있는 텐서 저장소 합"
    return PeakStats(meter.start, meter.peak, meter.end, "cuda" if meter.cuda else "cpu", method)
