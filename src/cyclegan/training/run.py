"""A training run: its parts and where it stands (built by ``build.py``).

A ``Run`` holds what a run is made of (its processes, images, networks, the step
with its optimizers and schedules, the epoch plan and loader) and where it
stands (``position``, the open loss window, the epoch's loss sum). Its
``state_dict`` is the training state a checkpoint stores besides the weights,
and ``restore`` puts all of it back; ``train_step`` is one step of the
algorithm with the bookkeeping that belongs to it (averaging over processes,
the divergence check, moving the position and, at an epoch's end, the
schedules). The loop that drives a run, and what it shows, is ``trainer.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from cyclegan.config import TrainConfig
from cyclegan.data.datasets import EpochPlan, UnpairedImages
from cyclegan.data.domain import Domain
from cyclegan.model import distributed
from cyclegan.model.checkpoint import (
    DISCRIMINATORS,
    GENERATORS,
    Position,
    load_training_state,
    load_weights,
    read_meta,
)
from cyclegan.model.checkpoint_schema import check_training_state, state_template
from cyclegan.model.device_setup import DeviceSetup
from cyclegan.model.layout import STATE_TREE, RunFiles, averaged_name, weights_file
from cyclegan.model.losses import GENERATOR_LOSSES, LOSS_NAMES
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.reference import load_into
from cyclegan.model.run_checkpoints import (
    save_checkpoint,
)
from cyclegan.model.step import CycleGANStep
from cyclegan.training import losslog
from cyclegan.training.resume import rng_state, set_rng_state
from cyclegan.training.runfolder import RunLock
from cyclegan.training.stops import FP16_SKIPS_IN_A_ROW, check_finite, not_finite

NETWORK_NAMES = GENERATORS + DISCRIMINATORS  # the four weight files of a checkpoint


class TrainingEvents:
    """What a run tells its caller. The CLI draws progress from these; override any."""

    def scanning(self, domain: str, done: int, total: int) -> None: ...
    def skipped(self, domain: str, bad: list[tuple[Path, str]]) -> None: ...
    def started(self, info: dict) -> None: ...
    def stepped(self, info: dict) -> None: ...
    def saved(self, folder: Path) -> None: ...
    def validated(self, row: dict) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class Run:
    """A run's parts and its position; see the module's docstring."""

    cfg: TrainConfig
    ctx: distributed.Context
    device: torch.device
    precision: str
    files_a: list[Path]
    files_b: list[Path]
    nets: CycleGANNetworks
    step: CycleGANStep
    plan: EpochPlan
    loader: DataLoader | None = None
    position: Position = field(default_factory=Position)
    window: losslog.LossWindow = field(default_factory=losslog.LossWindow)
    epoch_loss_sum: float = 0.0  # the generator losses of this epoch, for ``plateau``
    val_files: dict[str, list[Path]] = field(default_factory=dict)  # "A", "B": held out
    setup: DeviceSetup | None = None  # what the step runs with (device_setup.py)
    fp16_skips: int = 0  # steps in a row skipped as fp16 overflows (stops.py)
    val_source: str = ""  # where the validation sample comes from, in words
    watch: dict = field(default_factory=dict)  # validation's record (trainer.py)
    domains: dict[str, Domain] = field(default_factory=dict)  # how each domain's files read
    dataset: UnpairedImages | None = None  # what the loader reads: files, or scene windows
    lock: RunLock | None = None  # rank 0's hold on the run folder (runfolder.py)

    def close(self) -> None:
        """Let go of the run folder: another process may train in it now."""
        if self.lock is not None:
            self.lock.release()

    @property
    def folder(self) -> Path:
        return Path(self.cfg.run)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.plan)

    @property
    def total_steps(self) -> int:
        total = self.cfg.total_epochs * self.steps_per_epoch
        return min(total, self.cfg.max_iters) if self.cfg.max_iters else total

    def train_step(self, batch: dict, epoch: int) -> dict[str, float] | None:
        """One step on ``batch`` of epoch ``epoch``; returns the losses, averaged over
        processes. A loss that is NaN or infinite anywhere stops every process; under
        fp16 the step is first skipped (returns None; see ``stops.py``)."""
        fp16 = self.precision == "fp16"
        pools = (self.step.pool_a.snapshot(), self.step.pool_b.snapshot()) if fp16 else None
        layout = self.setup.memory_format if self.setup else torch.contiguous_format
        real_a = batch["a"].to(self.device, non_blocking=True, memory_format=layout)
        real_b = batch["b"].to(self.device, non_blocking=True, memory_format=layout)
        losses = self.step(real_a, real_b)
        values = torch.stack([losses[k] for k in LOSS_NAMES]).float()
        values = distributed.average(values, self.ctx).cpu()
        vals = dict(zip(LOSS_NAMES, values.tolist(), strict=True))
        pos = self.position
        skipped = bool(fp16 and not_finite(vals) and self.fp16_skips < FP16_SKIPS_IN_A_ROW)
        if skipped:  # the scaler skipped the update; the pools forget the step's fakes
            self.step.pool_a.rewind(pools[0])
            self.step.pool_b.rewind(pools[1])
            self.fp16_skips += 1
        else:
            check_finite(vals, pos.global_step + 1, epoch, self.folder, self.fp16_skips)
            self.fp16_skips = 0
            self.epoch_loss_sum += sum(vals[k] for k in GENERATOR_LOSSES)
        pos = Position(epoch - 1, pos.batches_done + 1, pos.global_step + 1)
        if pos.batches_done == self.steps_per_epoch:
            # The epoch is complete: schedules move on before any save of this position.
            pos = Position(epoch, 0, pos.global_step)
            self.step.end_epoch(self.epoch_loss_sum / self.steps_per_epoch)
            self.epoch_loss_sum = 0.0
        self.position = pos
        return None if skipped else vals

    def state_dict(self) -> dict:
        return {
            "step": self.step.state_dict(),
            "rng": rng_state(),
            "epoch_g_loss_sum": self.epoch_loss_sum,
            "loss_window": self.window.state_dict(),
            "n_a": len(self.files_a),
            "n_b": len(self.files_b),
            "world": self.ctx.world,
            "validation": dict(self.watch),
        }

    def restore(self, folder: Path, note: Callable[[str], None]) -> None:
        """Continue from checkpoint ``folder``: weights, step, RNG streams, position."""
        meta = read_meta(folder)
        state = load_training_state(folder)
        if "sched_g" in state and isinstance(state.get("step"), dict):
            # before 2026-12-01 the schedules were saved beside the step
            state["step"] = {**state["step"], "sched_g": state.pop("sched_g")}
            state["step"]["sched_d"] = state.pop("sched_d", None)
        net = self.cfg.network
        template = state_template(
            self.state_dict(), self.step, {"pool_a": net.input_nc, "pool_b": net.output_nc}
        )
        check_training_state(folder / STATE_TREE, state, template)
        for name in NETWORK_NAMES:
            path = weights_file(folder, name)
            load_into(getattr(self.nets, name), load_weights(folder, name), str(path))
        self._restore_averages(folder, note)
        self.step.load_state_dict(state["step"], self.device)
        set_rng_state(state["rng"])
        self.epoch_loss_sum = state["epoch_g_loss_sum"]
        if "loss_window" in state:  # absent in checkpoints from before 2026-11-30
            self.window.load_state_dict(state["loss_window"])
        self.watch = dict(state.get("validation", {}))  # absent before 2026-12-01
        if (state["n_a"], state["n_b"]) != (len(self.files_a), len(self.files_b)):
            note(
                f"the dataset changed since the checkpoint ({state['n_a']}/{state['n_b']} "
                f"images then, {len(self.files_a)}/{len(self.files_b)} now): the remaining "
                "epochs use the new files, so the run will not repeat exactly"
            )
        batches_done, saved_world = meta["batches_done"], state.get("world", 1)
        if batches_done and saved_world != self.ctx.world:
            # Mid-epoch with another process count: continue after the samples already seen.
            samples_done = batches_done * self.cfg.batch_size * saved_world
            batches_done = samples_done // (self.cfg.batch_size * self.ctx.world)
            note(
                f"resuming {saved_world}-process training with {self.ctx.world} "
                "processes: pools and RNG streams start from rank 0's"
            )
        self.position = Position(meta["epochs_done"], batches_done, meta["global_step"])
        note(f"resuming from {folder} (step {self.position.global_step})")

    def _restore_averages(self, folder: Path, note: Callable[[str], None]) -> None:
        """The generators' weight averages (``--ema``), as saved."""
        for name, average in self.step.averages.items():
            path = weights_file(folder, averaged_name(name))
            if not path.is_file():  # (saved before the average was kept: start one)
                average.reset(getattr(self.nets, name))
                note(f"{folder} holds no {path.name}: the weight average starts afresh")
                continue
            load_into(average.average, load_weights(folder, averaged_name(name)), str(path))

    @property
    def generators(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(g_ab, g_ba) as translation will use them: the weight averages with
        ``--ema``, else the trained generators. Validation and the samples show these."""
        averages = self.step.averages
        if averages:
            return averages["g_ab"].average, averages["g_ba"].average
        return self.nets.g_ab, self.nets.g_ba

    def save(self) -> Path:
        """Write a checkpoint of this position (rank 0); every process waits for it."""
        folder = RunFiles(self.folder).checkpoints / self.position.folder_name()
        if self.ctx.is_main:
            # What the logs hold up to this checkpoint reaches the disk before it does.
            losslog.sync(self.folder)
            domains = {k: d.to_dict() for k, d in self.domains.items()}
            folder = save_checkpoint(
                self.folder, self.cfg, self.nets, self.state_dict(), self.position, domains,
                averages=self.step.averages,
            )  # fmt: skip
        distributed.barrier(self.ctx)
        return folder
