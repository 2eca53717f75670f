"""A run's validation at a glance: the log's reader, its curves, and the report's top line.

``RUN/validation.jsonl`` is written by ``watch.py``; this module reads it for the
HTML report: ``headline`` (is the run healthy, the best checkpoint so far, the
alarms with links to their samples) and ``plot_validation`` (a curve per metric,
both directions, the best marked).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cyclegan.model import jsonlog
from cyclegan.model.layout import RunFiles, validation_grid_name
from cyclegan.training.figures import save_figure

PANELS = (("kid_mean", "KID (lower is better)"), ("fid", "FID (lower is better)"),
          ("cycle_l1", "cycle L1, 0-1 scale"))  # fmt: skip


def _alarms(value) -> bool:
    text = ("name", "message", "advice")
    return isinstance(value, list) and all(
        isinstance(a, dict)
        and all(isinstance(a.get(k), str) for k in text)
        and isinstance(a.get("direction"), str | None)
        for a in value
    )


def _scores(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and (v is None or jsonlog.is_number(v)) for k, v in value.items()
    )


ROW = {
    "step": jsonlog.step_field,
    "epoch": jsonlog.is_int,
    "metric": lambda v: isinstance(v, str),
    "score": jsonlog.is_number,
    "best_step": jsonlog.step_field,
    "best_score": jsonlog.is_number,
    "share": jsonlog.is_number,
    "source": lambda v: isinstance(v, str),
    "AtoB": lambda v: _scores(v),
    "BtoA": lambda v: _scores(v),
    "alarms": _alarms,
}


def check_row(row: dict) -> str | None:
    """What is wrong with a validation log row (``jsonlog``), or None."""
    return jsonlog.need(row, ROW)


def read(run: Path, note: Callable[[str], None] | None = None) -> list[dict]:
    """The validation log's valid rows; what was skipped goes to ``note``."""
    return jsonlog.read(RunFiles(run).validation_log, check_row, note)


def append(run: Path, row: dict) -> None:
    jsonlog.append(RunFiles(run).validation_log, row)


def trim(run: Path, last_step: int, note: Callable[[str], None] | None = None) -> None:
    jsonlog.trim(RunFiles(run).validation_log, last_step, check_row, note)


def _value(scores: dict, key: str) -> float:
    value = scores.get(key)
    return np.nan if value is None else float(value)


def headline(run: Path) -> str:
    """HTML: one line on the run's health, then the best checkpoint and the alarms."""
    rows = read(run)
    if not rows:
        return "<p><b>Not validated yet</b> (validation runs at epoch ends; see val_images).</p>"
    last = rows[-1]
    link = f'<a href="{validation_grid_name(last["step"])}">samples</a>'
    at = f"at step {last['step']}"
    if last["alarms"]:
        names = ", ".join(sorted({a["name"] for a in last["alarms"]}))
        verdict = f'<b style="color:#b00">Needs a look</b> {at}: {names} ({link})'
    else:
        verdict = f'<b style="color:#070">Looks healthy</b> {at}: no alarm ({link})'
    best = (
        f"Best so far: step {last['best_step']} ({last['metric']} {last['best_score']:.4f}), "
        f"kept as <code>checkpoints/best</code>; validation took {last['share']:.1%} of the "
        f"run's time. Images: {html.escape(last['source'])}."
    )
    items = "".join(
        f"<li>step {r['step']}: <b>{html.escape(a['name'])}</b> "
        f"({html.escape(a['direction'] or 'run')}): {html.escape(a['message'])}. "
        f"Try: {html.escape(a['advice'])} "
        f'(<a href="{validation_grid_name(r["step"])}">samples</a>)</li>'
        for r in rows
        for a in r["alarms"]
    )
    alarms = f"<ul>{items}</ul>" if items else ""
    return f"<p>{verdict}. {best}</p>{alarms}"


def plot_validation(run: Path) -> Path | None:
    """Write ``validation.png``; None before the first validation."""
    rows = read(run)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([r["step"] for r in rows])
    panels = [(k, t) for k, t in PANELS if any(k in r["AtoB"] for r in rows)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    best = rows[-1]["best_step"]
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for direction, colour in (("AtoB", "tab:blue"), ("BtoA", "tab:orange")):
            values = np.array([_value(r[direction], key) for r in rows], dtype=float)
            spread = None
            if key == "kid_mean":
                spread = np.array([_value(r[direction], "kid_std") for r in rows], dtype=float)
            ax.errorbar(steps, values, yerr=spread, color=colour, marker="o", label=direction)
        ax.axvline(best, color="tab:green", linestyle="--", label=f"best (step {best})")
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, RunFiles(run).validation_plot)
