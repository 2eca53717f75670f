"""The loss log, ``RUN/losses.jsonl``: one JSON object per logged window of steps.

Each row holds the step and epoch it ends at, the learning rate the step
trained at, the mean of every loss over the window, images/s, and the share of
wall time spent waiting for data (``data_wait_share``); with several processes
also ``a_index_by_rank``, which A image each process trained on at that step.
The trainer writes it (rank 0), trims it on resume, and the report, the
notebook API and the benchmarks read it, all through ``jsonlog`` (whole lines,
crash-safe reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cyclegan.model import jsonlog
from cyclegan.model.layout import RunFiles
from cyclegan.model.losses import LOSS_NAMES


class LossWindow:
    """Sums over the steps since the last row, and the time they took."""

    def __init__(self) -> None:
        self.reset(time.perf_counter())

    def reset(self, now: float) -> None:
        self.sums = dict.fromkeys(LOSS_NAMES, 0.0)
        self.steps, self.start, self.wait = 0, now, 0.0

    def state_dict(self) -> dict:
        """The sums so far: saved with a checkpoint, so that the first row after a resume
        averages the same steps as an unbroken run's."""
        return {"sums": dict(self.sums), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.sums.update({k: float(v) for k, v in state["sums"].items() if k in self.sums})
        self.steps = int(state["steps"])

    def add(self, losses: dict[str, float], wait_seconds: float) -> None:
        for k in LOSS_NAMES:
            self.sums[k] += losses[k]
        self.steps += 1
        self.wait += wait_seconds

    def row(self, step: int, epoch: int, lr: float, batch_size: int) -> dict:
        """The window as a log row; starts a new window."""
        now = time.perf_counter()
        elapsed = max(now - self.start, 1e-9)
        row = {
            "step": step,
            "epoch": epoch,
            "lr": lr,
            "images_per_s": round(self.steps * batch_size / elapsed, 3),
            "data_wait_share": round(self.wait / elapsed, 4),
            **{k: self.sums[k] / self.steps for k in LOSS_NAMES},
        }
        self.reset(now)
        return row


def check_row(row: dict) -> str | None:
    """What is wrong with a loss log row (``jsonlog``), or None."""
    fields = {"step": jsonlog.step_field, "epoch": jsonlog.is_int, "lr": jsonlog.is_number}
    fields["images_per_s"] = jsonlog.is_number
    why = jsonlog.need(row, {**fields, **dict.fromkeys(LOSS_NAMES, jsonlog.is_number)})
    if why is None and not jsonlog.is_number(row.get("data_wait_share", 0)):  # since 11-30
        why = "'data_wait_share' is not a number"
    return why


def append(run: Path, row: dict) -> None:
    jsonlog.append(RunFiles(run).loss_log, row)


def sync(run: Path) -> None:
    """Flush the run's loss and validation logs to disk (before a checkpoint)."""
    for path in RunFiles(run).logs:
        jsonlog.sync(path)


def read(run: Path, note: Callable[[str], None] | None = None) -> list[dict]:
    """The log's valid rows; what was skipped goes to ``note`` (``jsonlog.read``)."""
    return jsonlog.read(RunFiles(run).loss_log, check_row, note)


def trim(run: Path, last_step: int, note: Callable[[str], None] | None = None) -> None:
    """Drop rows after ``last_step``, and any invalid ones (a resumed run redoes those
    steps and logs them again)."""
    jsonlog.trim(RunFiles(run).loss_log, last_step, check_row, note)
