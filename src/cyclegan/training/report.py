"""What a person looks at to judge a run: sample grids, loss curves, an HTML page.

During training (rank 0, after every epoch and at the end) the run folder gets:

    samples/epoch_0003.png   a grid on fixed images, comparable across epochs:
                             real A | fake B | reconstructed A | g_ba(real A) (identity)
                             real B | fake A | reconstructed B | g_ab(real B) (identity)
                             each image as the run sees it (its preprocessing, centre
                             crop, no flip) and translated as ``cyclegan translate``
                             would: what the grid shows is what the user gets
    losses.png               generator parts (adversarial, cycle, identity) and
                             discriminators, raw (faint) and smoothed
    index.html               configuration, timing, the curves and every epoch's
                             samples, newest first

``cyclegan report RUN`` rebuilds the curves and the page from the files alone.
``results_page`` writes a page for a whole test folder: every image with its
translation and reconstruction, both directions.
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path

import numpy as np
import torch

from cyclegan import directions
from cyclegan.config import TrainConfig
from cyclegan.data.domain import Domain, picture_domains
from cyclegan.data.imageio import save_image
from cyclegan.model.layout import RunFiles
from cyclegan.model.losses import LOSS_PANELS
from cyclegan.model.run_checkpoints import read_run_options
from cyclegan.training import losslog
from cyclegan.training.figures import save_figure
from cyclegan.training.grids import fixed_samples, sample_grid
from cyclegan.training.health_report import headline


def sample_size_note(cfg: dict) -> str:
    """What size the sample grids show, in words, from a run's options."""
    mode, load, crop = cfg.get("preprocess"), cfg.get("load_size"), cfg.get("crop_size")
    if not isinstance(mode, str):  # options edited by hand
        return "as the run trains"
    return {
        "resize_and_crop": f"resized to {load} x {load} px, centre {crop} x {crop} px crop",
        "crop": f"centre {crop} x {crop} px crop at the images' own size",
        "scale_width": f"scaled to {load} px wide",
        "scale_width_and_crop": f"scaled to {load} px wide, centre {crop} x {crop} px crop",
        "none": "each image at its own size",
    }.get(mode, "as the run trains")


def _smooth(values: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average, debiased at the start."""
    alpha, out, avg, weight = 2 / (span + 1), np.empty_like(values), 0.0, 0.0
    for i, v in enumerate(values):
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha
        out[i] = avg / weight
    return out


def plot_losses(run: Path) -> Path | None:
    """Write ``losses.png``; None when there is nothing logged yet."""
    rows = losslog.read(run)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    steps = np.array([r["step"] for r in rows])
    panels = [(p.title, p.names, p.update) for p in LOSS_PANELS]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    span = max(5, len(rows) // 20)
    # A line needs two points: with few, every logged value is a marker too.
    marker = "o" if len(rows) < 20 else None
    for ax, (title, keys, update) in zip(axes.flat, panels, strict=True):
        for key, colour in zip(keys, ("tab:blue", "tab:orange"), strict=True):
            values = np.array([r[key] for r in rows], dtype=float)
            ax.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
            ax.plot(steps, _smooth(values, span), color=colour, label=key, marker=marker)
        off = title == "identity" and not any(r[k] for r in rows for k in keys)
        ax.set_title(f"{title} (weight 0: off)" if off else title)
        ax.set_ylabel("loss (weighted)" if update == "generator" else "loss")
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{Path(run).name}: raw (faint) and smoothed (EMA over {span} points)")
    # Fixed margins that fit these labels: tight_layout measured every text first, and
    # took half the figure's time (the report is redrawn every epoch).
    fig.subplots_adjust(left=0.08, right=0.985, bottom=0.08, top=0.9, wspace=0.2, hspace=0.2)
    return save_figure(fig, RunFiles(run).loss_plot)


def _table(values: dict) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{cells}</table>"


_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
img { max-width: 100%; image-rendering: pixelated; }
.epoch { margin: 1em 0; } .caption { color: #555; font-size: 0.9em; }
.epoch img { width: 640px; max-width: 100%; }
</style>"""


RESULTS_PAGE = "index.html"  # the page ``results_page`` writes in its own folder (not a run)


def _link(path: Path, run: Path) -> str:
    """A file of the run as the page links it: relative, so the folder can move."""
    return html.escape(path.relative_to(run).as_posix())


def build_report(run: Path) -> Path:
    """Write ``index.html`` from what the run folder holds (config, log, samples)."""
    run = Path(run)
    files = RunFiles(run)
    config = read_run_options(run)
    network = config.pop("network", {})
    if not isinstance(network, dict):  # options edited by hand: shown as they are
        network = {"network": network}
    rows = losslog.read(run)
    timing = {}
    if rows:
        last = rows[-1]
        rate = np.median([r["images_per_s"] for r in rows])
        wait = np.median([r.get("data_wait_share", 0) for r in rows])
        timing = {
            "steps logged": last["step"],
            "epoch": last["epoch"],
            "learning rate now": f"{last['lr']:.3g}",
            "images/s (median)": f"{rate:.2f}",
            "data wait (median share)": f"{wait:.1%}",
        }
    samples = files.sample_grids()
    epochs = "".join(
        f'<div class="epoch"><h3>{html.escape(p.stem.replace("_", " "))}</h3>'
        f'<img src="{_link(p, run)}" alt="{html.escape(p.stem)} samples"></div>'
        for p in samples
    )
    curves = (
        f'<img src="{_link(files.loss_plot, run)}" alt="loss curves">'
        if files.loss_plot.is_file()
        else "<p>No losses logged yet.</p>"
    )
    if files.validation_plot.is_file():
        curves = f'<img src="{_link(files.validation_plot, run)}" alt="validation curves">' + curves
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(run.name)}: cyclegan run</title>
{_STYLE}</head><body>
<h1>{html.escape(run.name)}</h1>
<p class="caption">Updated {time.strftime("%Y-%m-%d %H:%M:%S")}. Rows of each sample grid:
real A | A&rarr;B | back to A | identity g_ba(A), then real B | B&rarr;A | back to B |
identity g_ab(B). Samples are translated as <code>cyclegan translate</code> would translate
them, at the size the run trains at: {html.escape(sample_size_note(config))}.</p>
{headline(run)}
<h2>Progress</h2>{_table(timing) if timing else "<p>Not started.</p>"}
<h2>Validation and losses</h2>{curves}
<h2>Samples, newest first</h2>{epochs or "<p>No samples yet.</p>"}
<h2>Configuration</h2>{_table(config)}<h3>Networks</h3>{_table(network)}
</body></html>
"""
    out = files.report
    tmp = (
        run / f".{out.stem}.{os.getpid()}.part{out.suffix}"
    )  # one per writer (report while training)
    tmp.write_text(page)
    tmp.replace(out)
    return out


class RunReport:
    """The trainer's hook: fixed samples chosen once, files refreshed after each epoch."""

    def __init__(
        self,
        run: Path,
        files_a: list[Path],
        files_b: list[Path],
        cfg: TrainConfig,
        precision: str,
        domains: dict[str, Domain] | None = None,
    ):
        self.run, self.network, self.precision = Path(run), cfg.network, precision
        self.domains = domains or picture_domains(cfg.network)
        self.real_a = fixed_samples(files_a, self.domains["A"], cfg)
        self.real_b = fixed_samples(files_b, self.domains["B"], cfg)

    def epoch_done(self, epoch: int, g_ab: torch.nn.Module, g_ba: torch.nn.Module) -> None:
        grid = sample_grid(
            g_ab, g_ba, self.real_a, self.real_b, self.network, self.precision, self.domains
        )
        save_image(grid, RunFiles(self.run).sample(epoch))
        plot_losses(self.run)
        build_report(self.run)


def results_page(
    translator, folder_a: Path | None, folder_b: Path | None, out: Path, progress=None
) -> Path:
    """Every test image with its translation and reconstruction, both directions;
    ``progress(stage, done, total)`` after each image."""
    from cyclegan.data.datasets import list_images

    out = Path(out)
    sections = []
    for direction, folder in (("AtoB", folder_a), ("BtoA", folder_b)):
        if folder is None or direction not in translator.directions:
            continue
        back = directions.back(direction)
        rows = []
        paths = list_images(folder)
        source, target = translator.sides(direction)
        for path in paths:
            x = source.load(path)  # a raster: scaled by the model's band statistics
            fake = translator.translate(x, direction)
            cells = [source.display(x), target.display(fake)]
            if back in translator.directions:
                cells.append(source.display(translator.translate(fake, back)))
            name = f"{direction}/{path.stem}.png"
            save_image(np.concatenate(cells, axis=1), out / name)
            rows.append(
                f'<div class="epoch"><div class="caption">{html.escape(path.name)}'
                f'</div><img src="{html.escape(name)}" alt="{html.escape(path.name)}">'
                "</div>"
            )
            if progress:
                progress(f"translating {direction}", len(rows), len(paths))
        columns = "input | translation" + (
            " | reconstruction" if back in translator.directions else ""
        )
        sections.append(
            f"<h2>{direction} ({len(rows)} images)</h2><p class='caption'>"
            f"{columns}</p>{''.join(rows)}"
        )
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>results: "
        f"{html.escape(str(translator.source))}</title>{_STYLE}</head><body><h1>Results of "
        f"{html.escape(str(translator.source))}</h1>{''.join(sections)}</body></html>\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_PAGE).write_text(page)
    return out / RESULTS_PAGE
