"""Watching a run: when to validate, what the result means, the best checkpoint so far.

The trainer asks after each step (``Watch.due``); a validation (rank 0) scores the
live generators on the fixed sample (``evaluation.validation``), adds the alarms of
the loss log since the last one (``evaluation.health``), and appends a row to
``RUN/validation.jsonl``:

    step, epoch, metric, score, best_step, best_score, seconds (this validation),
    share (validation's share of the run's time so far), source, AtoB, BtoA
    (the scores of each direction), alarms (name, direction, message, advice)

A better score saves a checkpoint of this position and copies it to
``RUN/checkpoints/best`` (``checkpoint.save_best``). Validation's record (best
score and step, validations since the best, time spent) travels in every
checkpoint's training state, so the best survives a resume.

When to validate: every ``val_every`` epochs; with ``val_every`` 0, at an epoch's
end once the training time since the last validation is at least the last one's
cost (before the first, an estimate from timing the real images' features) divided
by ``val_budget``, so validation takes at most that share; and after the last step
always.
"""

from __future__ import annotations

import time

from cyclegan.data.imageio import save_image
from cyclegan.evaluation import health
from cyclegan.evaluation.validation import ValidationSample, Validator, score
from cyclegan.model import distributed
from cyclegan.model.layout import RunFiles
from cyclegan.training import health_report as validation_log
from cyclegan.training import losslog
from cyclegan.training.grids import sample_grid
from cyclegan.training.health_report import plot_validation
from cyclegan.training.run import Run

GRID_IMAGES = 3  # validation images per domain in each saved grid


class Watch:
    """Validation, alarms and the best checkpoint of one run (see the module's doc)."""

    def __init__(self, run: Run, events):
        self.run, self.events = run, events
        self.mark = time.perf_counter()  # the end of the last validation in this process
        self.validator: Validator | None = None
        if run.val_files and run.ctx.is_main:
            sample = ValidationSample.load(
                run.val_files["A"], run.val_files["B"], run.cfg, run.val_source, run.domains
            )
            self.validator = Validator(sample, RunFiles(run.folder).features_cache, run.device)
            if self.validator.note:
                events.note(self.validator.note)
            validation_log.trim(run.folder, run.position.global_step, events.note)

    def due(self, epoch: int, epoch_end: bool, last: bool) -> bool:
        """Whether to validate now (the same answer on every process)."""
        r, cfg = self.run, self.run.cfg
        due = False
        if self.validator is not None:
            if last:
                due = True
            elif epoch_end and cfg.val_every:
                due = epoch % cfg.val_every == 0
            elif epoch_end:
                cost = r.watch.get("last_cost", self.validator.estimate)
                due = (time.perf_counter() - self.mark) * cfg.val_budget >= cost
        return distributed.any_rank(due, r.ctx, r.device)

    def validate(self, epoch: int) -> tuple[bool, bool]:
        """Validate (rank 0); returns (a new best, time to stop early), agreed by all."""
        r = self.run
        improved = stop = False
        if self.validator is not None:
            improved, stop = self._validate(epoch)
        improved = distributed.any_rank(improved, r.ctx, r.device)
        stop = distributed.any_rank(stop, r.ctx, r.device)
        return improved, stop

    def _validate(self, epoch: int) -> tuple[bool, bool]:
        r, cfg, rec = self.run, self.run.cfg, self.run.watch
        step = r.position.global_step
        result = self.validator(*r.generators, cfg.network, r.precision)
        rows = [row for row in losslog.read(r.folder) if row["step"] > rec.get("last_step", 0)]
        alarms = result["alarms"] + [a.as_dict() for a in health.from_losses(rows, cfg.gan_mode)]
        metric = cfg.val_metric
        value = score(result, metric)
        if value is None:  # no Inception weights: the cycle loss is what is left
            metric, value = "cycle_l1", score(result, "cycle_l1")
        improved = rec.get("best_score") is None or value < rec["best_score"]
        now = time.perf_counter()
        rec["run_seconds"] = rec.get("run_seconds", 0.0) + (now - self.mark)
        # This validation, and the real images' features computed for all of them.
        setup, self.validator.setup_seconds = self.validator.setup_seconds, 0.0
        rec["seconds"] = rec.get("seconds", 0.0) + result["seconds"] + setup
        rec.update(last_cost=result["seconds"], last_step=step, count=rec.get("count", 0) + 1)
        if improved:
            rec.update(best_score=value, best_step=step, best_metric=metric, since_best=0)
        else:
            rec["since_best"] = rec.get("since_best", 0) + 1
        row = {
            "step": step,
            "epoch": epoch,
            "metric": metric,
            "score": value,
            "best_step": rec["best_step"],
            "best_score": rec["best_score"],
            "seconds": round(result["seconds"], 3),
            "share": round(rec["seconds"] / max(rec["run_seconds"], 1e-9), 4),
            "source": r.val_source,
            "AtoB": result["AtoB"],
            "BtoA": result["BtoA"],
            "alarms": alarms,
        }
        validation_log.append(r.folder, row)
        self._save_grid(step)
        plot_validation(r.folder)
        self.events.validated(row)
        self.mark = now  # what follows (grids, the best's save) counts as the run's time
        stop = bool(cfg.early_stop and rec["since_best"] >= cfg.early_stop)
        return improved, stop

    def _save_grid(self, step: int) -> None:
        r, sample = self.run, self.validator.sample
        grid = sample_grid(
            *r.generators,
            sample.a[:GRID_IMAGES],
            sample.b[:GRID_IMAGES],
            r.cfg.network,
            r.precision,
            r.domains or None,
        )
        save_image(grid, RunFiles(r.folder).validation_grid(step))
