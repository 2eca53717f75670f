"""How a run stops before its end: a signal, or a loss that is no longer finite.

Under fp16 a loss that is no longer finite is first taken as what fp16 does at times:
a value beyond its range (65504). The loss scaler has then already skipped the
update (its gradients are not finite), so the weights are as they were; the step's
fakes are taken back out of the image pools, and training goes on. Only when that
happens ``FP16_SKIPS_IN_A_ROW`` steps in a row does the run stop, as it would at
once in fp32 or bf16, where nothing overflows that the loss itself does not.

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


# fp16 steps in a row whose loss may overflow before the run stops. The scaler halves
# its scale at each; ten halvings (1/1024) outlast any overflow that scaling can cure.
FP16_SKIPS_IN_A_ROW = 10


def not_finite(losses: dict[str, float]) -> list[str]:
    """The names of the losses that are NaN or infinite."""
    return [k for k, v in losses.items() if not math.isfinite(v)]


def check_finite(
    losses: dict[str, float], step: int, epoch: int, run: Path, fp16_skips: int = 0
) -> None:
    """Stop before anything is saved when a loss is NaN or infinite (``fp16_skips``:
    the steps before this one skipped in a row as fp16 overflows)."""
    bad = not_finite(losses)
    if bad:
        good = latest_checkpoint(run)
        fp16 = f" after {fp16_skips} skipped fp16 steps in a row" if fp16_skips else ""
        raise TrainingDiverged(
            f"loss {', '.join(bad)} became {losses[bad[0]]} at step {step} (epoch {epoch})"
            f"{fp16}; nothing was saved. "
            + (f"Last good checkpoint: {good}. " if good else "No checkpoint yet. ")
            + "Try a lower --lr, or --gan-mode lsgan"
            + (", or --precision bf16 or fp32." if fp16 else ".")
        )
