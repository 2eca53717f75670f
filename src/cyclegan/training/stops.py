"""How a run stops before its end: a signal, or a loss that is no longer finite.

SIGINT (Ctrl-C) and SIGTERM only raise a flag: the loop finishes its step, saves,
and raises ``TrainingInterrupted``, because killing a step halfway would lose it
and could leave a checkpoint half-written. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import math
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cyclegan.errors import CycleGANError, TrainingDiverged
from cyclegan.model.run_checkpoints import latest_checkpoint


class TrainingInterrupted(CycleGANError):
    """A signal stopped the run after saving; ``checkpoint`` is where it can resume from."""

    def __init__(self, message: str, checkpoint: Path, signum: int):
        super().__init__(message)
        self.checkpoint, self.signum = checkpoint, signum


@dataclass
class StopFlag:
    """Set by SIGINT or SIGTERM while installed; the loop reads ``signum`` after each step."""

    signum: int | None = None
    previous: dict = field(default_factory=dict)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be caught on the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: stop now

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def check_finite(losses: dict[str, float], step: int, epoch: int, run: Path) -> None:
    """Stop before anything is saved when a loss is NaN or infinite."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        good = latest_checkpoint(run)
        raise TrainingDiverged(
            f"loss {', '.join(bad)} became {losses[bad[0]]} at step {step} (epoch {epoch}); "
            "nothing was saved. "
            + (f"Last good checkpoint: {good}. " if good else "No checkpoint yet. ")
            + "Try a lower --lr, or --gan-mode lsgan."
        )
