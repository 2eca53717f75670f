"""The parts of a training run, built from a configuration: ``build_run(cfg) -> Run``.

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
from torch import nn
from torch.utils.data import DataLoader

from cyclegan.config import TrainConfig, write_json
from cyclegan.data.datasets import EpochPlan, UnpairedImages, training_images
from cyclegan.data.domain import Domain, build_domains
from cyclegan.errors import CheckpointError, ConfigError
from cyclegan.evaluation.validation import validation_sample, write_split
from cyclegan.model import distributed, precision
from cyclegan.model.checkpoint import (
    DISCRIMINATORS,
    GENERATORS,
    RECORD_FILE,
    Position,
    check_writable,
    load_network_config,
    load_training_state,
    load_weights,
    read_meta,
)
from cyclegan.model.checkpoint_schema import check_training_state, state_template
from cyclegan.model.losses import GENERATOR_LOSSES, LOSS_NAMES
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.precision import pick_device
from cyclegan.model.reference import load_into
from cyclegan.model.run_checkpoints import (
    is_run_folder,
    latest_checkpoint,
    save_checkpoint,
    write_run_options,
)
from cyclegan.model.step import CycleGANStep
from cyclegan.seeds import rank_torch_seed
from cyclegan.training import losslog
from cyclegan.training.resume import resumed_config, rng_state, set_rng_state
from cyclegan.training.runfolder import RunLock, check_fresh_folder
from cyclegan.training.stops import check_finite

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

    def train_step(self, batch: dict, epoch: int) -> dict[str, float]:
        """One step on ``batch`` of epoch ``epoch``; returns the losses, averaged over
        processes. A loss that is NaN or infinite anywhere stops every process."""
        real_a = batch["a"].to(self.device, non_blocking=True)
        real_b = batch["b"].to(self.device, non_blocking=True)
        losses = self.step(real_a, real_b)
        values = torch.stack([losses[k] for k in LOSS_NAMES]).float()
        values = distributed.average(values, self.ctx).cpu()
        vals = dict(zip(LOSS_NAMES, values.tolist(), strict=True))
        pos = self.position
        check_finite(vals, pos.global_step + 1, epoch, self.folder)
        self.epoch_loss_sum += sum(vals[k] for k in GENERATOR_LOSSES)
        pos = Position(epoch - 1, pos.batches_done + 1, pos.global_step + 1)
        if pos.batches_done == self.steps_per_epoch:
            # The epoch is complete: schedules move on before any save of this position.
            pos = Position(epoch, 0, pos.global_step)
            self.step.end_epoch(self.epoch_loss_sum / self.steps_per_epoch)
            self.epoch_loss_sum = 0.0
        self.position = pos
        return vals

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
        check_training_state(folder / "training_state.json", state, template)
        for name in NETWORK_NAMES:
            path = folder / f"{name}.safetensors"
            load_into(getattr(self.nets, name), load_weights(folder, name), str(path))
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

    def save(self) -> Path:
        """Write a checkpoint of this position (rank 0); every process waits for it."""
        folder = self.folder / "checkpoints" / self.position.folder_name()
        if self.ctx.is_main:
            # What the logs hold up to this checkpoint reaches the disk before it does.
            losslog.sync(self.folder)
            domains = {k: d.to_dict() for k, d in self.domains.items()}
            folder = save_checkpoint(
                self.folder, self.cfg, self.nets, self.state_dict(), self.position, domains
            )
        distributed.barrier(self.ctx)
        return folder


def _start_config(
    cfg: TrainConfig, resume: bool, overrides: dict | None
) -> tuple[TrainConfig, Path | None]:
    """The configuration to train with and the checkpoint to resume from, if any."""
    folder = Path(cfg.run)
    checkpoint = latest_checkpoint(folder)
    if resume:
        if checkpoint is None:
            raise CheckpointError(f"{folder}: no checkpoint to resume from")
        meta = read_meta(checkpoint)
        if "train" not in meta:
            raise CheckpointError(f"{checkpoint}: no training record, so training cannot resume")
        record = checkpoint / RECORD_FILE
        return resumed_config(meta["train"], cfg, overrides or {}, record), checkpoint
    if checkpoint is not None:
        raise ConfigError(
            f"run folder {folder} already has checkpoints; pass --resume to continue "
            "it, or choose a new --run folder"
        )
    return cfg, None


def _build_networks(cfg: TrainConfig, ctx: distributed.Context, resuming: bool):
    torch.manual_seed(cfg.seed)
    nets = CycleGANNetworks(cfg.network)
    nets.init_weights(cfg.network)
    if cfg.init_from and not resuming:
        source = Path(cfg.init_from)
        if load_network_config(source) != cfg.network:
            raise ConfigError(f"option 'init_from': {source} has other network options")
        for name in NETWORK_NAMES:
            path = source / f"{name}.safetensors"
            load_into(getattr(nets, name), load_weights(source, name), str(path))
    if ctx.active and cfg.network.norm == "batch":
        nets = nn.SyncBatchNorm.convert_sync_batchnorm(nets)
    return nets


def build_run(
    cfg: TrainConfig,
    events: TrainingEvents | None = None,
    resume: bool = False,
    overrides: dict | None = None,
) -> Run:
    """Everything a run needs, checked and built, resumed when asked; ``events`` (a
    ``TrainingEvents``) hears of image scans, skipped files and notes. The run holds
    its folder's lock until ``Run.close``."""
    lock = None
    if distributed.launched_rank() == 0:  # the one process that writes the run folder
        if not resume:
            check_fresh_folder(Path(cfg.run))
        elif not is_run_folder(Path(cfg.run)):  # before any file is made there
            raise CheckpointError(f"{cfg.run}: no checkpoint to resume from (not a run folder)")
        check_writable(Path(cfg.run))
        lock = RunLock(Path(cfg.run)).acquire()
    try:
        run = _build(cfg, events or TrainingEvents(), resume, overrides)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    run.lock = lock
    return run


def _build(cfg: TrainConfig, events: TrainingEvents, resume: bool, overrides: dict | None) -> Run:
    cfg, checkpoint = _start_config(cfg, resume, overrides)
    cfg.check_trainable()
    ctx, device = distributed.setup(pick_device(cfg.device))
    if not ctx.is_main:
        events = TrainingEvents()  # only rank 0 reports
    if ctx.active and cfg.gan_mode == "wgangp":
        raise ConfigError(
            "gan_mode 'wgangp' is not supported with several processes yet: its gradient "
            "penalty differentiates through the discriminator twice, which "
            "DistributedDataParallel does not synchronize; use lsgan or vanilla"
        )
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    elif device.type == "cuda":
        # Training crops have one size, so cuDNN's per-shape autotuning pays once.
        torch.backends.cudnn.benchmark = True
    folders, files = training_images(cfg, events.scanning, events.skipped)
    files, val_files, val_source = validation_sample(cfg, folders, files, events.note)
    cfg, domains = _domains(cfg, files, checkpoint, events)
    nets = _build_networks(cfg, ctx, checkpoint is not None).to(device).train()
    prec = precision.resolve(cfg.precision, device)
    step = CycleGANStep(nets, cfg, prec, fused=True, rank=ctx.rank)
    dataset = UnpairedImages(files["A"], files["B"], cfg, domains)
    plan = EpochPlan(*dataset.sizes, cfg.batch_size, cfg.seed, ctx.rank, ctx.world)
    run = Run(cfg, ctx, device, prec, files["A"], files["B"], nets, step, plan)
    run.val_files, run.val_source, run.domains = val_files, val_source, domains
    run.dataset = dataset
    if checkpoint is not None:
        run.restore(checkpoint, events.note)
    elif ctx.is_main:
        run.folder.mkdir(parents=True, exist_ok=True)
        write_run_options(run.folder, cfg)
        for label, domain in domains.items():  # reusable by another run: --stats-a FILE
            if domain.raster:
                write_json(run.folder / f"band_stats_{label.lower()}.json", domain.stats.to_dict())
        (run.folder / losslog.LOG).write_text("")
    if ctx.is_main:
        losslog.trim(run.folder, run.position.global_step, events.note)
        if val_files:
            write_split(run.folder, cfg.data, val_files, val_source)
    step.distribute(ctx, device)
    if ctx.rank > 0:  # own dropout draws; rank 0 keeps the single-process stream
        torch.manual_seed(rank_torch_seed(cfg.seed, ctx.rank, run.position.global_step))
    run.loader = _loader(run)
    return run


def _domains(cfg: TrainConfig, files: dict, checkpoint: Path | None, events: TrainingEvents):
    """Each domain (``data/domain.py``): a resumed run keeps its checkpoint's statistics."""
    saved = read_meta(checkpoint).get("domains") if checkpoint is not None else None
    cfg, domains = build_domains(cfg, files, events.note, saved)
    for label, domain in domains.items():
        if domain.raster and saved is None:
            events.note(f"domain {label}: {domain.describe()}")
    if cfg.lambda_identity > 0 and not cfg.identity_active:
        events.note(
            "identity loss turned off: domains A and B have different band counts, "
            "so g_ab(b) cannot be compared with b"
        )
    return cfg, domains


def _loader(run: Run) -> DataLoader:
    cfg = run.cfg
    return DataLoader(
        run.dataset,
        batch_sampler=run.plan,
        num_workers=cfg.num_workers,
        persistent_workers=cfg.num_workers > 0,
        pin_memory=run.device.type == "cuda",
        # its own generator: worker seeds must not draw from the
        # global RNG, or a resumed run would drift from an unbroken one
        generator=torch.Generator().manual_seed(cfg.seed),
    )
