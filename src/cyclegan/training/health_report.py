"""A run's validation at a glance: the log's reader, its curves, and the report's top line.

``RUN/validation.jsonl`` is written by ``watch.py``; this module reads it for the
HTML report: ``headline`` (is the run healthy, the best checkpoint so far, the
alarms with links to their samples) and ``plot_validation`` (a curve per metric,
both directions, the best marked).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from cyclegan.training.figures import save_figure

LOG = "validation.jsonl"
PANELS = (("kid_mean", "KID (lower is better)"), ("fid", "FID (lower is better)"),
          ("cycle_l1", "cycle L1, 0-1 scale"))  # fmt: skip


def read(run: Path) -> list[dict]:
    log = Path(run) / LOG
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def grid_name(step: int) -> str:
    """The validation sample grid of a step, relative to the run folder."""
    return f"validation/step_{step:08d}.png"


def headline(run: Path) -> str:
    """HTML: one line on the run's health, then the best checkpoint and the alarms."""
    rows = read(run)
    if not rows:
        return "<p><b>Not validated yet</b> (validation runs at epoch ends; see val_images).</p>"
    last = rows[-1]
    link = f'<a href="{grid_name(last["step"])}">samples</a>'
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
        f'(<a href="{grid_name(r["step"])}">samples</a>)</li>'
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
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    best = rows[-1]["best_step"]
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for direction, colour in (("AtoB", "tab:blue"), ("BtoA", "tab:orange")):
            values = np.array([r[direction].get(key, np.nan) for r in rows], dtype=float)
            spread = None
            if key == "kid_mean":
                spread = np.array([r[direction].get("kid_std", np.nan) for r in rows])
            ax.errorbar(steps, values, yerr=spread, color=colour, marker="o", label=direction)
        ax.axvline(best, color="tab:green", linestyle="--", label=f"best (step {best})")
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(run) / "validation.png")
