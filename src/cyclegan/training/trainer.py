"""The training loop: epochs of steps, with logging, checkpoints, resume and clean stops.

``train(cfg)`` builds everything from a ``TrainConfig`` and runs it. It writes to
``cfg.run``: ``options.json`` (the resolved options), ``losses.jsonl`` (one JSON
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

``build.build_run`` builds the run's parts; this module is the loop that
drives them, and what it shows and keeps on the way (the hooks after a step).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from cyclegan.config import TrainConfig
from cyclegan.errors import ConfigError
from cyclegan.model import distributed
from cyclegan.model.layout import RunFiles
from cyclegan.model.losses import LOSS_NAMES
from cyclegan.model.run_checkpoints import latest_checkpoint, prune_checkpoints, save_best
from cyclegan.training import losslog
from cyclegan.training.build import build_run
from cyclegan.training.grids import fixed_samples, sample_grid
from cyclegan.training.report import RunReport, build_report
from cyclegan.training.run import Run, TrainingEvents
from cyclegan.training.stops import FP16_SKIPS_IN_A_ROW, StopFlag, TrainingInterrupted
from cyclegan.training.watch import Watch


class _Board(TrainingEvents):
    """The caller's events, with each validation's scores also sent to TensorBoard."""

    def __init__(self, events: TrainingEvents, board):
        self.events, self.board = events, board

    def validated(self, row: dict) -> None:
        self.events.validated(row)
        if self.board is not None:
            for direction in ("AtoB", "BtoA"):
                for key, value in row[direction].items():
                    if isinstance(value, float):
                        self.board.add_scalar(f"validation/{direction}/{key}", value, row["step"])
            self.board.add_scalar("validation/score", row["score"], row["step"])

    def note(self, message: str) -> None:
        self.events.note(message)


__all__ = ["Trainer", "TrainingEvents", "TrainingInterrupted", "train"]


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "option 'tensorboard' needs the tensorboard package: pip install tensorboard"
        ) from None
    return SummaryWriter(str(folder))


class Trainer:
    """A run and what watches it (events, report, TensorBoard); ``run()`` trains to the end."""

    def __init__(
        self,
        cfg: TrainConfig,
        events: TrainingEvents | None = None,
        resume: bool = False,
        overrides: dict | None = None,
    ):
        self.run_state: Run = build_run(cfg, events, resume, overrides)
        try:
            self._watchers(events)
        except BaseException:
            self.run_state.close()
            raise
        self.saved: tuple[int, Path] | None = None  # (step, folder) of the last save

    def _watchers(self, events: TrainingEvents | None) -> None:
        r = self.run_state
        self.cfg, self.run_dir = r.cfg, r.folder
        self.events = (events or TrainingEvents()) if r.ctx.is_main else TrainingEvents()
        self.report = self.board = None
        if r.ctx.is_main and r.cfg.report:
            self.report = RunReport(
                r.folder, r.files_a, r.files_b, r.cfg, r.precision, r.domains or None
            )
        if r.ctx.is_main and r.cfg.tensorboard:
            self.board = _tensorboard_writer(RunFiles(r.folder).tensorboard)
        self.watch = Watch(r, _Board(self.events, self.board))

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
            distributed.teardown(self.run_state.ctx)
            self.run_state.close()

    def _loop(self, stop: StopFlag) -> Path:
        r, cfg = self.run_state, self.cfg
        self._started()
        r.window.start = time.perf_counter()  # speed counts from here; the sums carry over
        self.clock = (time.perf_counter(), r.position.global_step)
        self.waited = 0.0  # seconds this process sat waiting for batches, for the progress line
        self.shown = dict.fromkeys(LOSS_NAMES, float("nan"))  # the latest losses trained on
        for epoch in range(r.position.epochs_done + 1, cfg.total_epochs + 1):
            r.plan.set_epoch(epoch, r.position.batches_done)
            batches = iter(r.loader)
            while True:
                wait_start = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                waited = time.perf_counter() - wait_start  # time the step sat idle
                lr = r.step.lr  # the rate this step trains at
                losses = r.train_step(batch, epoch)
                if losses is None:  # an fp16 overflow: the update was skipped (stops.py)
                    self._skipped_fp16()
                else:
                    r.window.add(losses, waited)
                    self.shown = losses
                self.waited += waited
                self._log(batch, epoch, lr)
                self._progress(epoch, self.shown)
                why = self._stop_reason(stop)
                pos = r.position
                if why == "signal":
                    self._interrupted(stop)
                epoch_end, last = pos.batches_done == 0, pos.global_step == r.total_steps
                if epoch_end or last or why:
                    self._epoch_visuals(epoch, pos.global_step)
                if self.watch.due(epoch, epoch_end, last or why is not None):
                    why = self._validate(epoch) or why
                if why:
                    return self.save()
                if self._save_due(epoch):
                    self.save()
        # Saved at the last step; or the run had ended before (nothing left to train).
        return self.saved[1] if self.saved else latest_checkpoint(self.run_dir) or self.save()

    # The hooks, in the order a step calls them.

    def _started(self) -> None:
        r = self.run_state
        self.events.started(
            {
                "device": str(r.device),
                "precision": r.precision,
                "setup": r.setup.summary() if r.setup else str(r.device),
                "images_a": len(r.files_a),
                "images_b": len(r.files_b),
                "steps_per_epoch": r.steps_per_epoch,
                "total_steps": r.total_steps,
                "epochs": self.cfg.total_epochs,
                "start_step": r.position.global_step,
                "data_workers": r.loader.num_workers if r.loader else 0,
            }
        )

    def _skipped_fp16(self) -> None:
        r = self.run_state
        self.events.note(
            f"step {r.position.global_step}: a loss overflowed float16; the loss scaler "
            f"skipped the update and training goes on ({r.fp16_skips} such step(s) in a "
            f"row; the run stops at {FP16_SKIPS_IN_A_ROW + 1})"
        )

    def _log(self, batch: dict, epoch: int, lr: float) -> None:
        """A row of the loss log (and TensorBoard scalars) every ``log_every`` steps
        (none while every step since the last row was skipped as an fp16 overflow)."""
        r, step = self.run_state, self.run_state.position.global_step
        if (step % self.cfg.log_every and step != r.total_steps) or not r.window.steps:
            return
        # Which A images each process trained on in this step (several processes).
        seen = distributed.gather_ints(batch["a_index"].tolist(), r.ctx, r.device)
        row = r.window.row(step, epoch, lr, self.cfg.batch_size)
        if r.ctx.active:
            row["a_index_by_rank"] = seen
        if r.ctx.is_main:
            losslog.append(self.run_dir, row)
        if self.board is not None:
            for k in LOSS_NAMES:
                self.board.add_scalar(f"loss/{k}", row[k], step)
            self.board.add_scalar("lr", lr, step)

    def _progress(self, epoch: int, losses: dict[str, float]) -> None:
        r = self.run_state
        start, start_step = self.clock
        step = r.position.global_step
        elapsed = time.perf_counter() - start
        per_step = elapsed / max(step - start_step, 1)
        self.events.stepped(
            {
                "epoch": epoch,
                "epochs": self.cfg.total_epochs,
                "step": step,
                "total_steps": r.total_steps,
                "losses": losses,
                "images_per_s": self.cfg.batch_size / per_step,
                "data_wait_share": self.waited / elapsed if elapsed > 0 else 0.0,
                "eta_s": per_step * (r.total_steps - step),
            }
        )

    def _stop_reason(self, stop: StopFlag) -> str | None:
        """Every way a run ends early, agreed by all processes: a signal, or a limit
        (``max_minutes``, ``max_iters``)."""
        r, cfg = self.run_state, self.cfg
        if distributed.any_rank(stop.signum is not None, r.ctx, r.device):
            return "signal"
        elapsed = time.perf_counter() - self.clock[0]
        out_of_time = bool(cfg.max_minutes and elapsed >= cfg.max_minutes * 60)
        out_of_time = distributed.any_rank(out_of_time, r.ctx, r.device)
        if out_of_time or (cfg.max_iters and r.position.global_step >= cfg.max_iters):
            return "limit"
        return None

    def _interrupted(self, stop: StopFlag) -> None:
        folder = self.save()
        # A process told by another one to stop reports the usual SIGTERM.
        signum = stop.signum or signal.SIGTERM
        raise TrainingInterrupted(
            f"stopped by {signal.Signals(signum).name} at step "
            f"{self.run_state.position.global_step}; saved {folder}",
            folder,
            signum,
        )

    def _validate(self, epoch: int) -> str | None:
        """Validate; a new best is saved and copied to ``checkpoints/best``. Returns
        "early_stop" when the metric has not improved for ``early_stop`` validations."""
        improved, stop = self.watch.validate(epoch)
        if improved:
            folder = self.save()
            if self.run_state.ctx.is_main:
                save_best(self.run_dir, folder)
        if self.report is not None:  # the page's headline and curves show this validation
            build_report(self.run_dir)
        if stop:
            rec = self.run_state.watch
            self.events.note(
                f"stopping early: {rec['best_metric']} has not improved for "
                f"{rec['since_best']} validations; the best is step {rec['best_step']} "
                f"({RunFiles(self.run_dir).best})"
            )
            return "early_stop"
        return None

    def _save_due(self, epoch: int) -> bool:
        cfg, pos = self.cfg, self.run_state.position
        epoch_end = pos.batches_done == 0 and (
            epoch % cfg.save_epoch_freq == 0 or epoch == cfg.total_epochs
        )
        return epoch_end or bool(cfg.save_iter_freq and pos.global_step % cfg.save_iter_freq == 0)

    def save(self) -> Path:
        step = self.run_state.position.global_step
        if self.saved is not None and self.saved[0] == step:  # this position is saved
            return self.saved[1]
        folder = self.run_state.save()
        self.saved = (step, folder)
        if self.run_state.ctx.is_main:
            prune_checkpoints(self.run_dir, self.cfg.keep_checkpoints)
            self.events.saved(folder)
        return folder

    def _epoch_visuals(self, epoch: int, step: int) -> None:
        """Samples, curves and the HTML page (rank 0), and TensorBoard images if asked."""
        if self.report is not None:
            self.report.epoch_done(epoch, *self.run_state.generators)
        if self.board is not None:
            grid = sample_grid(
                *self.run_state.generators,
                *self._board_samples(),
                self.cfg.network,
                self.run_state.precision,
                self.run_state.domains or None,
            )
            self.board.add_image("samples", grid, step, dataformats="HWC")
            self.board.flush()

    def _board_samples(self):
        if self.report is not None:
            return self.report.real_a, self.report.real_b
        r = self.run_state
        return (
            fixed_samples(r.files_a, r.domains["A"], self.cfg),
            fixed_samples(r.files_b, r.domains["B"], self.cfg),
        )


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
