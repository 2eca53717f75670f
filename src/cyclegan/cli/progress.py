"""What ``cyclegan train`` shows while it runs: the trainer's events, drawn on stderr.

On a terminal, a tqdm bar with the latest losses; elsewhere (logs, CI, a pipe), one
line every ten seconds and at the last step, so a log file stays readable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cyclegan.model.losses import LOSS_PANELS


class TrainingProgress:
    """Training progress on stderr: a tqdm bar on a terminal, a line now and then elsewhere."""

    def __init__(self) -> None:
        self.bar = None
        self.tty = sys.stderr.isatty()
        self.last_line = 0.0

    def scanning(self, domain: str, done: int, total: int) -> None:
        if done == total:
            print(f"checked {total} images of domain {domain}", file=sys.stderr)

    def skipped(self, domain: str, bad: list) -> None:
        print(f"skipping {len(bad)} unusable file(s) of domain {domain}:", file=sys.stderr)
        for path, why in bad:
            print(f"  {path}: {why}", file=sys.stderr)

    def started(self, info: dict) -> None:
        # What the run runs with, as device_setup.py picked it, then what it trains on.
        print(f"training on {info['setup']}", file=sys.stderr)
        workers = info.get("data_workers", 0)
        plural = "s" if workers > 1 else ""
        reading = f"{workers} data worker{plural}" if workers else "data read in this process"
        print(
            f"{info['images_a']} A / {info['images_b']} B images, "
            f"{info['steps_per_epoch']} steps per epoch, {info['epochs']} epochs, {reading}",
            file=sys.stderr,
        )
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(
                total=info["total_steps"],
                initial=info["start_step"],
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def stepped(self, info: dict) -> None:
        loss = info["losses"]
        pairs = " ".join(
            f"{p.short} {loss[p.names[0]]:.3f}/{loss[p.names[1]]:.3f}"
            for p in LOSS_PANELS
            if p.headline
        )
        # The data wait: a GPU starved by decoding shows it here first (issue 20).
        speed = f"{info['images_per_s']:.2f} img/s, data wait {info['data_wait_share']:.0%}"
        text = f"epoch {info['epoch']}/{info['epochs']} {pairs} {speed}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self.last_line > 10 or info["step"] == info["total_steps"]:
            self.last_line = time.monotonic()
            eta = time.strftime("%H:%M:%S", time.gmtime(info["eta_s"]))
            print(f"step {info['step']}/{info['total_steps']} {text} eta {eta}", file=sys.stderr)

    def saved(self, folder: Path) -> None:
        msg = f"saved checkpoint {folder}"
        (self.bar.write(msg, file=sys.stderr) if self.bar else print(msg, file=sys.stderr))

    def validated(self, row: dict) -> None:
        for line in validation_lines(row):
            self.note(line)

    def note(self, message: str) -> None:
        (self.bar.write(message, file=sys.stderr) if self.bar else print(message, file=sys.stderr))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TaskProgress:
    """Progress of a command that works through a list (translate, evaluate, results,
    export, curate): on a terminal one tqdm bar per stage, with its count, rate and ETA;
    nothing when stderr is not a terminal (a log, a pipe, CI) or with ``--quiet``.

    The library reports through a plain callable, ``progress(stage, done, total)``; an
    instance of this class is one.
    """

    def __init__(self, quiet: bool = False, unit: str = "img") -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.unit, self.bar, self.stage = unit, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None or stage != self.stage:
            from tqdm import tqdm

            self.close()
            self.stage = stage
            self.bar = tqdm(
                total=total, desc=stage, unit=self.unit, dynamic_ncols=True, file=sys.stderr
            )
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def of(self, stage: str):
        """A ``(done, total)`` callback for one stage (the form ``curate scan`` takes)."""
        return lambda done, total: self(stage, done, total)

    def write(self, message: str) -> None:
        """A line that does not tear the bar."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def validation_lines(row: dict) -> list[str]:
    """A validation in words: its score per direction, the best so far, its cost, and
    each alarm with what to try."""
    metric = row["metric"]
    key = "kid_mean" if metric == "kid" else metric
    parts = []
    for d in ("AtoB", "BtoA"):
        r = row[d]
        text = f"{d} {r[key]:.4f}" if key in r else f"{d} -"
        if metric == "kid" and "kid_std" in r:
            text += f" +- {r['kid_std']:.4f}"
        parts.append(text)
    best = "this step" if row["best_step"] == row["step"] else f"step {row['best_step']}"
    lines = [
        f"validation at step {row['step']}: {metric} {', '.join(parts)}; best: {best} "
        f"({row['best_score']:.4f}); validation took {row['seconds']:.0f} s, "
        f"{row['share']:.1%} of the run so far"
    ]
    lines += [
        f"  ALARM {a['name']} ({a['direction'] or 'run'}): {a['message']}. Try: {a['advice']}"
        for a in row["alarms"]
    ]
    return lines
