"""Where a training step's time goes: ``cyclegan bench --profile``.

Issue 20 asks, where a speed target is missed, for the profile that shows why. At
batch 1 a CycleGAN step on a fast GPU is thought to be bound by launching kernels,
not by running them; two numbers tell: how many kernels a step launches, and the
share of the step's wall time the device spends running any of them (``busy``).
A busy share well under 1 with thousands of kernels means launch overhead (what
CUDA graphs remove); near 1, the arithmetic or memory traffic of the top operators
in the table. On a CPU the table alone: operators by their own CPU time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

TOP_OPERATORS = 15


def profile_step(
    step: Callable[[], object], device: torch.device, step_seconds: float, steps: int = 3
) -> dict:
    """Profile ``steps`` calls of ``step`` (after one unprofiled call); the busy share
    is of ``step_seconds``, the step's time measured without the profiler, whose own
    overhead would lengthen it."""
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    step()
    sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync()
    events = prof.key_averages()
    sort = "self_device_time_total" if cuda else "self_cpu_time_total"
    out = {"profile_top": events.table(sort_by=sort, row_limit=TOP_OPERATORS)}
    if cuda:
        kernels = [e for e in events if e.device_type == DeviceType.CUDA]
        busy_s = sum(e.self_device_time_total for e in kernels) / 1e6 / steps
        out["kernels_per_step"] = sum(e.count for e in kernels) / steps
        out["device_busy_share"] = busy_s / step_seconds
    return out
