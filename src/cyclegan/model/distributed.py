"""Several processes, one run: PyTorch's own distributed engine, launched by torchrun.

    torchrun --nproc_per_node 4 -m cyclegan train --data D --run R ...
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d \\
             --rdzv-endpoint HOST:29500 -m cyclegan train --data D --run R ...

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; this module reads them,
joins the process group (NCCL on GPUs, gloo on CPUs) and gives the trainer the
few collective operations it needs. Without those variables everything here
is a no-op, so one process needs no launcher.

How a step is shared: every process takes its own slice of each epoch's samples
(``EpochPlan``), runs the step on its batch, and DistributedDataParallel
averages the gradients before each Adam update, so N processes with batch b
train like one process with batch N x b (tests/test_distributed.py). Each
process keeps its own image pools. Losses are averaged over processes for the
log; only rank 0 prints, logs and writes checkpoints.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cyclegan.errors import ConfigError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun), before ``setup``."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def setup(device: torch.device, timeout_minutes: float = 30) -> tuple[Context, torch.device]:
    """Join the process group torchrun describes (if any); returns the context and the
    device this process should use (``cuda:LOCAL_RANK`` on GPUs). ``timeout_minutes``:
    how long a collective waits for the slowest process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                "GPUs here: lower --nproc_per_node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(minutes=timeout_minutes),
        )
    return Context(rank, world, local_rank), device


def wrap(module: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    if not ctx.active:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def average(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Mean over processes (a copy; the input is unchanged)."""
    if not ctx.active:
        return values
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world


def any_rank(flag: bool, ctx: Context, device: torch.device) -> bool:
    """True on every process when it is true on at least one (so all stop together)."""
    if not ctx.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_ints(values: list[int], ctx: Context, device: torch.device) -> list[list[int]]:
    """Every process's list (of equal length), in rank order."""
    t = torch.tensor(values, dtype=torch.long, device=device)
    if not ctx.active:
        return [values]
    out = [torch.empty_like(t) for _ in range(ctx.world)]
    dist.all_gather(out, t)
    return [o.tolist() for o in out]


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()


def teardown(ctx: Context) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value, ctx: Context):
    """Rank 0's ``value`` (any picklable object) on every process."""
    if not ctx.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value, ctx: Context) -> list:
    """Every process's ``value``, in rank order, on every process."""
    if not ctx.active:
        return [value]
    out = [None] * ctx.world
    dist.all_gather_object(out, value)
    return out
