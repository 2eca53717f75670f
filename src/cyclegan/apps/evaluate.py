"""``cyclegan evaluate``: how good is a model, and which checkpoint is best?

For each direction (A to B: translate the test A images, compare with the real
test B images; B to A likewise) a report holds:

- ``fid``, ``kid_mean``, ``kid_std``: translated images against real images of
  the target domain, on TF-FID Inception features (protocol in ``inception.py``,
  copied into every report). Few images bias FID upwards: compare numbers only
  at equal image counts.
- ``cycle_l1`` (0-1 scale) and ``cycle_psnr``: the translation translated back,
  against the input (when the model has both directions).
- for aligned test sets (the same file name in both test folders, as in maps or
  facades): ``paired_psnr``, ``paired_ssim`` and ``paired_pixel_accuracy`` (every
  channel within 5/255) of each translation against its true counterpart.
- for a model of raster domains: errors band by band in the data's units, and
  the spectral angle (``evaluate_rasters.py``).

Translations run at each image's own size and are rounded to 8 bits, exactly
what ``cyclegan translate`` would save.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cyclegan import directions
from cyclegan.apps.evaluate_rasters import evaluate_raster_direction, format_bands
from cyclegan.data.datasets import find_domains, list_images
from cyclegan.data.imageio import (
    array_to_tensor,
    load_image,
    match_channels,
    tensor_to_array,
    to_uint8,
)
from cyclegan.errors import ConfigError, DataError
from cyclegan.evaluation import metrics
from cyclegan.evaluation.inception import PROTOCOL, FeatureCache, InceptionFeatures, set_distance
from cyclegan.fields import write_json
from cyclegan.inference.batching import one_size_batches
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.model.layout import RunFiles
from cyclegan.model.precision import pick_device
from cyclegan.model.run_checkpoints import list_checkpoints
from cyclegan.settings import Evaluation, Scale

# ``progress(stage, done, total)``: how the CLI draws its bars (progress.TaskProgress).
Progress = Callable[[str, int, int], None]

# metric -> True when larger is better
SELECTABLE = {
    "fid": False,
    "kid": False,
    "cycle_l1": False,
    "paired_psnr": True,
    "paired_ssim": True,
}


@dataclass
class ImageSet:
    names: list[str]
    images: list[np.ndarray]  # H x W x 3 uint8


def load_folder(folder: Path, progress: Progress | None = None) -> ImageSet:
    """Every image below ``folder`` as 8-bit RGB; one error naming every file that
    cannot be read (a metric over a silently shortened set would mislead)."""
    files = list_images(folder)
    if not files:
        raise DataError(f"{folder}: no images to evaluate")
    images, bad = [], []
    for i, path in enumerate(files):
        try:
            images.append(to_uint8(load_image(path, 3)))
        except DataError as exc:
            bad.append(str(exc))
        if progress:
            progress(f"reading {Path(folder).name}", i + 1, len(files))
    if bad:
        listing = "\n".join(f"  {why}" for why in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise DataError(
            f"{folder}: {len(bad)} file(s) cannot be read:\n{listing}{more}\n"
            "Remove or fix them to evaluate this folder."
        )
    return ImageSet([str(p.relative_to(folder)) for p in files], images)


def _translated(translator: Translator, images: list, direction: str, batch_size: int,
                done: Callable[[int], None]) -> list[np.ndarray]:  # fmt: skip
    """8-bit ``images`` translated as ``Translator.translate`` translates an array, up
    to ``batch_size`` of one size at a time (``batching.py``)."""
    in_nc, _ = translator.channels(direction)
    out: list[np.ndarray] = []
    for batch in one_size_batches([img.shape for img in images], batch_size):
        arrays = [match_channels(images[i].astype(np.float32) / 255, in_nc) for i in batch]
        x = torch.stack([array_to_tensor(arr) for arr in arrays])
        out += [to_uint8(tensor_to_array(y)) for y in translator.translate_tensor(x, direction)]
        done(len(out))
    return out


def _gray_to_rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def evaluate_direction(
    translator: Translator,
    direction: str,
    source: ImageSet,
    target: ImageSet,
    extractor: InceptionFeatures,
    cache: FeatureCache,
    progress: Progress | None = None,
    batch_size: int = Evaluation.batch_size,
) -> dict:
    back = directions.back(direction)
    tick = progress or (lambda stage, done, total: None)
    n = len(source.images)
    fakes = _translated(translator, source.images, direction, batch_size,
                        lambda done: tick(f"translating {direction}", done, n))  # fmt: skip
    fakes = [_gray_to_rgb(f) for f in fakes]
    result = set_distance(fakes, target.images, extractor, cache, progress=progress)
    if back in translator.directions:
        recs = _translated(translator, fakes, back, batch_size,
                           lambda done: tick(f"translating back {back}", done, n))  # fmt: skip
        l1s, psnrs = [], []
        for img, rec in zip(source.images, recs, strict=True):
            rec = _gray_to_rgb(rec).astype(np.float64) / 255
            l1s.append(float(np.abs(rec - img / 255).mean()))
            psnrs.append(metrics.psnr(rec, img / 255))
        result["cycle_l1"], result["cycle_psnr"] = float(np.mean(l1s)), float(np.mean(psnrs))
    truth = dict(zip(target.names, target.images, strict=True))
    pairs = [
        (fake, truth[name])
        for name, fake in zip(source.names, fakes, strict=True)
        if name in truth and truth[name].shape == fake.shape
    ]
    if pairs:
        result["paired_count"] = len(pairs)
        result["paired_psnr"] = float(np.mean([metrics.psnr(f / 255, t / 255) for f, t in pairs]))
        result["paired_ssim"] = float(np.mean([metrics.ssim(f / 255, t / 255) for f, t in pairs]))
        result["paired_pixel_accuracy"] = float(
            np.mean([metrics.pixel_accuracy(f / 255, t / 255) for f, t in pairs])
        )
    return result


def evaluate_model(
    model: Path,
    data: Path,
    split: str = "test",
    direction: str = "both",
    device: str = "auto",
    precision: str = "auto",
    cache_dir: Path | None = None,
    extractor: InceptionFeatures | None = None,
    progress: Progress | None = None,
    scale: Scale | None = None,
    averaged: bool = True,
    batch_size: int = Evaluation.batch_size,
) -> dict:
    """Translate ``data``'s ``split`` folders with ``model`` (at ``scale``; its weight
    averages where it has them, unless not ``averaged``; ``batch_size`` images of one
    size at a time) and score each direction (see the module's doc)."""
    folders = find_domains(data)
    if split == "test":
        dir_a, dir_b = folders.test_a, folders.test_b
        if dir_a is None or dir_b is None:
            raise DataError(f"{data}: no testA/testB folders; use --split train")
    else:
        dir_a, dir_b = folders.train_a, folders.train_b
    translator = load_translator(model, device=device, precision=precision, averaged=averaged)
    translator.at_scale(scale or Scale())
    extractor = extractor or InceptionFeatures(translator.device)
    cache = FeatureCache(cache_dir)
    rasters = any(d.raster for d in translator.domains.values())
    if not rasters:  # a raster model reads its files through its domains instead
        sets = {"A": load_folder(dir_a, progress), "B": load_folder(dir_b, progress)}
    wanted = ("AtoB", "BtoA") if direction == "both" else (direction,)
    report = {
        "model": translator.source,
        "data": str(data),
        "split": split,
        "protocol": PROTOCOL,
        "scale": (scale or Scale()).scale,
        "directions": {},
    }
    for d in wanted:
        if d not in translator.directions:
            continue
        src, dst = directions.labels(d)
        if rasters:
            folder = {"A": dir_a, "B": dir_b}
            report["directions"][d] = evaluate_raster_direction(
                translator, d, folder[src], folder[dst], extractor, cache, progress
            )
            continue
        report["directions"][d] = evaluate_direction(
            translator, d, sets[src], sets[dst], extractor, cache, progress, batch_size
        )
    if not report["directions"]:
        raise ConfigError(f"{translator.source} cannot translate {direction}")
    return report


def compare_folders(
    fake: Path,
    real: Path,
    device: str = "cpu",
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> dict:
    extractor = InceptionFeatures(device)
    fakes, reals = load_folder(fake, progress), load_folder(real, progress)
    result = set_distance(
        fakes.images, reals.images, extractor, FeatureCache(cache_dir), progress=progress
    )
    return {"fake": str(fake), "real": str(real), "protocol": PROTOCOL, **result}


def score(report: dict, metric: str) -> float:
    """One number per report: the chosen metric averaged over the evaluated directions."""
    value = metrics.direction_mean(report["directions"], metric)
    if value is None:
        raise ConfigError(f"metric {metric!r} is not in the report (aligned test sets only?)")
    return value


def evaluate_checkpoints(run: Path, data: Path, metric: str = "fid", **kwargs) -> dict:
    """Evaluate every checkpoint of a run; name the best and mark it in the run folder."""
    folders = list_checkpoints(run)
    if not folders:
        raise DataError(f"{run}: no checkpoints to evaluate")
    extractor = kwargs.pop("extractor", None) or InceptionFeatures(
        pick_device(kwargs.get("device", "auto"))
    )
    progress = kwargs.pop("progress", None)
    reports = []
    for folder in folders:
        named = (
            (lambda stage, done, total, f=folder.name: progress(f"{f}: {stage}", done, total))
            if progress
            else None
        )
        reports.append(evaluate_model(folder, data, extractor=extractor, progress=named, **kwargs))
    scores = [score(r, metric) for r in reports]
    pick = (np.argmax if SELECTABLE[metric] else np.argmin)(scores)
    best = {
        "checkpoint": folders[pick].name,
        "metric": metric,
        "value": scores[int(pick)],
        "scores": {f.name: s for f, s in zip(folders, scores, strict=True)},
    }
    write_json(RunFiles(run).best_record, best)
    return {"best": best, "reports": reports}


def format_report(report: dict) -> str:
    lines = []
    if "directions" in report:
        lines.append(f"{report['model']} on {report['data']} ({report['split']})")
        for d, r in report["directions"].items():
            line = (
                f"  {d}: FID {r['fid']:.2f}  KID {r['kid_mean']:.4f} +- {r['kid_std']:.4f}"
                f"  ({r['n_fake']} translated vs {r['n_real']} real)"
            )
            if "cycle_l1" in r:
                line += f"  cycle L1 {r['cycle_l1']:.4f} / {r['cycle_psnr']:.1f} dB"
            if "fid_on" in r:
                line += "\n" + format_bands(r)
            elif "paired_psnr" in r:
                line += (
                    f"  paired PSNR {r['paired_psnr']:.2f} SSIM {r['paired_ssim']:.3f}"
                    f" acc {r['paired_pixel_accuracy']:.3f}"
                )
            lines.append(line)
    else:
        lines.append(
            f"{report['fake']} vs {report['real']}: FID {report['fid']:.2f}  KID "
            f"{report['kid_mean']:.4f} +- {report['kid_std']:.4f}  "
            f"({report['n_fake']} vs {report['n_real']} images)"
        )
    p = report["protocol"]
    lines.append(f"  protocol: {p['network']}; {p['resize']}; input {p['input_scale']}")
    return "\n".join(lines)


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True)
