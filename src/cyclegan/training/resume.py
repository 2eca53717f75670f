"""What resuming a run restores besides the checkpoint's tensors: options and RNG streams.

A resumed run trains with the configuration saved in its checkpoint; only the
options in ``RESUME_OVERRIDES`` (where and how fast it runs) may differ, so
that the resumed run computes exactly what the unbroken one would have.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cyclegan.config import TrainConfig
from cyclegan.errors import CheckpointError, ConfigError

# What a resumed run may change: where and how fast it runs, never what it computes.
RESUME_OVERRIDES = (
    "device",
    "channels_last",  # a memory layout: the same sums within rounding
    "compile",  # the same operations, as compiled kernels
    "cuda_graphs",  # ... replayed
    "num_workers",
    "log_every",
    "save_epoch_freq",
    "save_iter_freq",
    "keep_checkpoints",
    "val_every",
    "val_budget",
    "early_stop",
)


def resumed_config(
    saved: dict, caller: TrainConfig, overrides: dict, source: Path | None = None
) -> TrainConfig:
    """The saved configuration, with this invocation's run folder, stopping limits and
    allowed overrides.

    ``max_iters`` and ``max_minutes`` belong to an invocation, not to the run: a run
    stopped by ``max_iters=3`` and resumed without it trains to the end.
    """
    wrong = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if wrong:
        raise ConfigError(
            f"options {', '.join(wrong)} cannot change when resuming; only "
            f"{', '.join(RESUME_OVERRIDES)} can"
        )
    values = {
        **saved,
        # The folder being resumed, not the one saved: a run copied or moved elsewhere
        # continues in its new place and never writes into the folder it came from.
        "run": caller.run,
        "max_iters": caller.max_iters,
        "max_minutes": caller.max_minutes,
    }
    try:
        TrainConfig.from_dict(values)
    except ConfigError as exc:  # the saved options, not the caller's: name their file
        raise CheckpointError(f"{source or 'the saved options'}: {exc}") from None
    return TrainConfig.from_dict({**values, **overrides})


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
