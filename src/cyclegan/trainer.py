"""The training loop: epochs of steps, with logging, checkpoints, resume and clean stops.

``train(cfg)`` builds everything from a ``TrainConfig`` and runs it. It writes to
``cfg.run``: ``config.json`` (the resolved options), ``losses.jsonl`` (one JSON
object per ``log_every`` steps: the mean of each loss over those steps, the
learning rate, images/s, and the share of the time spent waiting for data)
and ``checkpoints/`` (see ``checkpoint.py``).

``train(cfg, resume=True)`` continues from the run's latest checkpoint with the
saved configuration; weights, optimizers, schedules, image pools, RNG states
and the position inside the epoch are restored, so on a CPU with
``deterministic=True`` the resumed run ends bitwise equal to an uninterrupted one.

SIGINT (Ctrl-C) or SIGTERM: the current step finishes, a checkpoint is saved,
and ``TrainingInterrupted`` is raised (a second Ctrl-C stops at once). A loss
that is NaN or infinite raises ``TrainingDiverged`` before anything is saved.
The library reports progress through a ``TrainingEvents`` object; it never prints.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from cyclegan import distributed, losslog, precision
from cyclegan.checkpoint import (
    Position,
    check_writable,
    latest_checkpoint,
    load_training_state,
    load_weights,
    prune_checkpoints,
    read_meta,
    save_checkpoint,
)
from cyclegan.config import TrainConfig, write_json
from cyclegan.data import EpochPlan, UnpairedImages, find_domains, resolve_images
from cyclegan.errors import CheckpointError, ConfigError
from cyclegan.networks import CycleGANNetworks
from cyclegan.precision import pick_device
from cyclegan.report import RunReport, fixed_samples, sample_grid
from cyclegan.resume import resumed_config, rng_state, set_rng_state
from cyclegan.schedule import build_scheduler, step_scheduler
from cyclegan.step import LOSS_NAMES, CycleGANStep
from cyclegan.stops import StopFlag, TrainingInterrupted, check_finite


class TrainingEvents:
    """What the loop tells its caller. The CLI draws progress from these; override any."""

    def scanning(self, domain: str, done: int, total: int) -> None: ...
    def skipped(self, domain: str, bad: list[tuple[Path, str]]) -> None: ...
    def started(self, info: dict) -> None: ...
    def stepped(self, info: dict) -> None: ...
    def saved(self, folder: Path) -> None: ...
    def note(self, message: str) -> None: ...


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "option 'tensorboard' needs the tensorboard package: pip install tensorboard"
        ) from None
    return SummaryWriter(str(folder))


class Trainer:
    """Everything a run holds, built from a configuration; ``run()`` trains to the end."""

    def __init__(
        self,
        cfg: TrainConfig,
        events: TrainingEvents | None = None,
        resume: bool = False,
        overrides: dict | None = None,
    ):
        self.events = events or TrainingEvents()
        self.run_dir = Path(cfg.run)
        checkpoint = None
        if resume:
            checkpoint = latest_checkpoint(self.run_dir)
            if checkpoint is None:
                raise CheckpointError(f"{self.run_dir}: no checkpoint to resume from")
            cfg = resumed_config(read_meta(checkpoint)["train"], cfg, overrides or {})
        elif latest_checkpoint(self.run_dir) is not None:
            raise ConfigError(
                f"run folder {self.run_dir} already has checkpoints; pass --resume to continue "
                "it, or choose a new --run folder"
            )
        self.cfg = cfg
        if not cfg.data:
            raise ConfigError("option 'data' is required: the dataset folder")
        if not cfg.run:
            raise ConfigError("option 'run' is required: the folder to write the run to")
        if cfg.batch_size > 1 and "crop" not in cfg.preprocess:
            raise ConfigError(
                f"option 'batch_size' is {cfg.batch_size} with preprocess {cfg.preprocess!r}: "
                "images of different sizes cannot share a batch; use a crop mode or batch 1"
            )
        self.ctx, self.device = distributed.setup(pick_device(cfg.device))
        if self.ctx.is_main:
            check_writable(self.run_dir)
        if not self.ctx.is_main:
            self.events = TrainingEvents()  # only rank 0 reports
        if self.ctx.active and cfg.gan_mode == "wgangp":
            raise ConfigError(
                "gan_mode 'wgangp' is not supported with several processes yet: its gradient "
                "penalty differentiates through the discriminator twice, which "
                "DistributedDataParallel does not synchronize; use lsgan or vanilla"
            )
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        elif self.device.type == "cuda":
            # Training crops have one size, so cuDNN's per-shape autotuning pays once.
            torch.backends.cudnn.benchmark = True
        if cfg.lambda_identity > 0 and not cfg.identity_active:
            self.events.note(
                "identity loss turned off: domains A and B have different "
                "channel counts, so g_ab(b) cannot be compared with b"
            )

        folders = find_domains(Path(cfg.data))
        self.files_a, bad_a = resolve_images(
            folders.train_a, cfg, "A", lambda d, t: self.events.scanning("A", d, t)
        )
        self.files_b, bad_b = resolve_images(
            folders.train_b, cfg, "B", lambda d, t: self.events.scanning("B", d, t)
        )
        for label, bad in (("A", bad_a), ("B", bad_b)):
            if bad:
                self.events.skipped(label, bad)

        torch.manual_seed(cfg.seed)
        self.nets = CycleGANNetworks(cfg.network)
        self.nets.init_weights(cfg.network)
        if cfg.init_from and checkpoint is None:
            source = Path(cfg.init_from)
            if read_meta(source)["network"] != cfg.network.__dict__:
                raise ConfigError(f"option 'init_from': {source} has other network options")
            for name in ("g_ab", "g_ba", "d_a", "d_b"):
                getattr(self.nets, name).load_state_dict(load_weights(source, name))
        if self.ctx.active and cfg.network.norm == "batch":
            self.nets = nn.SyncBatchNorm.convert_sync_batchnorm(self.nets)
        self.nets.to(self.device).train()
        self.precision = precision.resolve(cfg.precision, self.device)
        # Rank 0 draws its pools exactly as a single process would; the others their own.
        pool_seed = cfg.seed * 2 + 1_000_003 * self.ctx.rank
        self.step = CycleGANStep(self.nets, cfg, self.precision, fused=True, pool_seed=pool_seed)
        self.sched_g = build_scheduler(self.step.opt_g, cfg)
        self.sched_d = build_scheduler(self.step.opt_d, cfg)
        self.plan = EpochPlan(
            len(self.files_a),
            len(self.files_b),
            cfg.batch_size,
            cfg.seed,
            self.ctx.rank,
            self.ctx.world,
        )
        self.position = Position()
        self.epoch_g_loss_sum = 0.0
        self.window = losslog.LossWindow()
        if checkpoint is not None:
            self._restore(checkpoint)
        elif self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.run_dir / "config.json", cfg.to_dict())
            (self.run_dir / "losses.jsonl").write_text("")
        if self.ctx.is_main:
            losslog.trim(self.run_dir, self.position.global_step)
        # DDP after loading: it starts every process from rank 0's weights.
        self.step.generators = distributed.wrap(self.step.generators, self.ctx, self.device)
        self.step.discriminators = distributed.wrap(self.step.discriminators, self.ctx, self.device)
        self.report = self.board = None
        if self.ctx.is_main and cfg.report:
            self.report = RunReport(self.run_dir, self.files_a, self.files_b, cfg, self.precision)
        if self.ctx.is_main and cfg.tensorboard:
            self.board = _tensorboard_writer(self.run_dir / "tensorboard")
        if self.ctx.rank > 0:  # own dropout draws; rank 0 keeps the single-process stream
            torch.manual_seed(cfg.seed + 7919 * self.ctx.rank + self.position.global_step)

        dataset = UnpairedImages(self.files_a, self.files_b, cfg)
        workers = cfg.num_workers
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.plan,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.device.type == "cuda",
            # its own generator: worker seeds must not draw from the
            # global RNG, or a resumed run would drift from an unbroken one
            generator=torch.Generator().manual_seed(cfg.seed),
        )

    def _restore(self, folder: Path) -> None:
        meta = read_meta(folder)
        for name in ("g_ab", "g_ba", "d_a", "d_b"):
            getattr(self.nets, name).load_state_dict(load_weights(folder, name))
        state = load_training_state(folder)
        self.step.load_state_dict(state["step"], self.device)
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        set_rng_state(state["rng"])
        self.epoch_g_loss_sum = state["epoch_g_loss_sum"]
        if "loss_window" in state:  # absent in checkpoints from before 2026-11-30
            self.window.load_state_dict(state["loss_window"])
        if (state["n_a"], state["n_b"]) != (len(self.files_a), len(self.files_b)):
            self.events.note(
                f"the dataset changed since the checkpoint ({state['n_a']}/{state['n_b']} "
                f"images then, {len(self.files_a)}/{len(self.files_b)} now): the remaining "
                "epochs use the new files, so the run will not repeat exactly"
            )
        batches_done, saved_world = meta["batches_done"], state.get("world", 1)
        if batches_done and saved_world != self.ctx.world:
            # Mid-epoch with another process count: continue after the samples already seen.
            samples_done = batches_done * self.cfg.batch_size * saved_world
            batches_done = samples_done // (self.cfg.batch_size * self.ctx.world)
            self.events.note(
                f"resuming {saved_world}-process training with {self.ctx.world} "
                "processes: pools and RNG streams start from rank 0's"
            )
        if self.ctx.rank > 0:
            self.step.pool_a.rng.seed(self.cfg.seed + 1_000_003 * self.ctx.rank + 1)
            self.step.pool_b.rng.seed(self.cfg.seed + 1_000_003 * self.ctx.rank + 2)
        self.position = Position(meta["epochs_done"], batches_done, meta["global_step"])
        self.events.note(f"resuming from {folder} (step {self.position.global_step})")

    def save(self) -> Path:
        state = {
            "step": self.step.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "rng": rng_state(),
            "epoch_g_loss_sum": self.epoch_g_loss_sum,
            "loss_window": self.window.state_dict(),
            "n_a": len(self.files_a),
            "n_b": len(self.files_b),
            "world": self.ctx.world,
        }
        folder = self.run_dir / "checkpoints" / self.position.folder_name()
        if self.ctx.is_main:  # written once; every process waits until it is complete
            folder = save_checkpoint(self.run_dir, self.cfg, self.nets, state, self.position)
            prune_checkpoints(self.run_dir, self.cfg.keep_checkpoints)
            self.events.saved(folder)
        distributed.barrier(self.ctx)
        return folder

    def _epoch_visuals(self, epoch: int, step: int) -> None:
        """Samples, curves and the HTML page (rank 0), and TensorBoard images if asked."""
        if self.report is not None:
            self.report.epoch_done(epoch, self.nets.g_ab, self.nets.g_ba)
        if self.board is not None:
            grid = sample_grid(
                self.nets.g_ab,
                self.nets.g_ba,
                *self._board_samples(),
                self.cfg.network,
                self.precision,
            )
            self.board.add_image("samples", grid, step, dataformats="HWC")
            self.board.flush()

    def _board_samples(self):
        if self.report is not None:
            return self.report.real_a, self.report.real_b
        net = self.cfg.network
        return (
            fixed_samples(self.files_a, net.input_nc, self.cfg),
            fixed_samples(self.files_b, net.output_nc, self.cfg),
        )

    def run(self) -> Path:
        """Train until the last epoch (or ``max_iters``); returns the final checkpoint folder."""
        stop = StopFlag()
        stop.install()
        try:
            return self._loop(stop)
        finally:
            stop.restore()
            if self.board is not None:
                self.board.close()
            distributed.teardown(self.ctx)

    def _loop(self, stop: StopFlag) -> Path:
        cfg = self.cfg
        steps_per_epoch = len(self.plan)
        total_steps = cfg.total_epochs * steps_per_epoch
        if cfg.max_iters:
            total_steps = min(total_steps, cfg.max_iters)
        self.events.started(
            {
                "device": str(self.device),
                "precision": self.precision,
                "images_a": len(self.files_a),
                "images_b": len(self.files_b),
                "steps_per_epoch": steps_per_epoch,
                "total_steps": total_steps,
                "epochs": cfg.total_epochs,
                "start_step": self.position.global_step,
            }
        )
        window = self.window
        window.start = time.perf_counter()  # speed counts from here; the sums carry over
        run_start, run_start_step = time.perf_counter(), self.position.global_step
        last_saved: Path | None = None
        pos = self.position

        for epoch in range(pos.epochs_done + 1, cfg.total_epochs + 1):
            self.plan.set_epoch(epoch, pos.batches_done)
            batches = iter(self.loader)
            while True:
                wait_start = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                waited = time.perf_counter() - wait_start  # time the step sat idle
                real_a = batch["a"].to(self.device, non_blocking=True)
                real_b = batch["b"].to(self.device, non_blocking=True)
                lr = self.step.opt_g.param_groups[0]["lr"]  # the rate this step trains at
                losses = self.step(real_a, real_b)
                values = torch.stack([losses[k] for k in LOSS_NAMES]).float()
                values = distributed.average(values, self.ctx).cpu()  # a NaN anywhere: all stop
                vals = dict(zip(LOSS_NAMES, values.tolist(), strict=True))
                check_finite(vals, pos.global_step + 1, epoch, self.run_dir)
                self.epoch_g_loss_sum += sum(vals[k] for k in LOSS_NAMES[:6])
                pos = Position(epoch - 1, pos.batches_done + 1, pos.global_step + 1)
                if pos.batches_done == steps_per_epoch:
                    # The epoch is complete: schedules move on before any save of this position.
                    pos = Position(epoch, 0, pos.global_step)
                    mean_g = self.epoch_g_loss_sum / steps_per_epoch
                    step_scheduler(self.sched_g, mean_g)
                    step_scheduler(self.sched_d, mean_g)
                    self.epoch_g_loss_sum = 0.0
                self.position = pos
                finished = pos.global_step == total_steps
                window.add(vals, waited)

                if pos.global_step % cfg.log_every == 0 or pos.global_step == total_steps:
                    # Which A images each process trained on in this step (several processes).
                    seen = distributed.gather_ints(batch["a_index"].tolist(), self.ctx, self.device)
                    row = window.row(pos.global_step, epoch, lr, cfg.batch_size)
                    if self.ctx.active:
                        row["a_index_by_rank"] = seen
                    if self.ctx.is_main:
                        losslog.append(self.run_dir, row)
                    if self.board is not None:
                        for k in LOSS_NAMES:
                            self.board.add_scalar(f"loss/{k}", row[k], pos.global_step)
                        self.board.add_scalar("lr", lr, pos.global_step)
                done = pos.global_step - run_start_step
                per_step = (time.perf_counter() - run_start) / max(done, 1)
                self.events.stepped(
                    {
                        "epoch": epoch,
                        "epochs": cfg.total_epochs,
                        "step": pos.global_step,
                        "total_steps": total_steps,
                        "losses": vals,
                        "images_per_s": cfg.batch_size / per_step,
                        "eta_s": per_step * (total_steps - pos.global_step),
                    }
                )

                if distributed.any_rank(stop.signum is not None, self.ctx, self.device):
                    folder = self.save()
                    # A process told by another one to stop reports the usual SIGTERM.
                    signum = stop.signum or signal.SIGTERM
                    name = signal.Signals(signum).name
                    raise TrainingInterrupted(
                        f"stopped by {name} at step {pos.global_step}; saved {folder}",
                        folder,
                        signum,
                    )
                out_of_time = bool(
                    cfg.max_minutes and time.perf_counter() - run_start >= cfg.max_minutes * 60
                )
                out_of_time = distributed.any_rank(out_of_time, self.ctx, self.device)
                stopping_early = out_of_time or (cfg.max_iters and pos.global_step >= cfg.max_iters)
                if pos.batches_done == 0 or finished or stopping_early:
                    self._epoch_visuals(epoch, pos.global_step)
                if stopping_early:
                    return self.save()
                epoch_save = pos.batches_done == 0 and (
                    epoch % cfg.save_epoch_freq == 0 or epoch == cfg.total_epochs
                )
                if epoch_save or (cfg.save_iter_freq and pos.global_step % cfg.save_iter_freq == 0):
                    last_saved = self.save()
        return last_saved or latest_checkpoint(self.run_dir) or self.save()


def train(
    cfg: TrainConfig,
    resume: bool = False,
    events: TrainingEvents | None = None,
    overrides: dict | None = None,
) -> Path:
    """Train a CycleGAN as ``cfg`` says; returns the final checkpoint folder.

    With ``resume=True`` the run in ``cfg.run`` continues from its latest
    checkpoint with the configuration saved there; from ``cfg`` only ``run``,
    ``max_iters`` and ``max_minutes`` count, and ``overrides`` may change the
    options in ``RESUME_OVERRIDES`` (device, workers, save frequencies, ...).
    """
    return Trainer(cfg, events, resume=resume, overrides=overrides).run()
