"""``cyclegan evaluate`` for a model of raster domains: errors in the data's own units.

For each direction, besides what every report holds:

- for aligned test sets (one file name in both test folders): ``band_rmse``,
  ``band_mae`` and ``band_psnr`` (against each band's statistics span, high minus
  low), band by band in the target domain's units, over the pixels valid in both
  the input and the truth; and for targets of two or more bands ``sam_degrees``,
  the mean spectral angle between predicted and true spectra;
- ``fid``/``kid``: Inception sees three 8-bit channels, so rasters are scored on
  what the grids show (``Domain.display``): the target domain's RGB composite, or
  its first band as gray. ``fid_on`` says which, because such numbers do not
  compare with FID on photographs.
- ``cycle_l1``: the translation translated back, against the input, in the
  network's [0, 1] range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cyclegan import directions
from cyclegan.data.datasets import list_images
from cyclegan.data.imageio import to_uint8
from cyclegan.data.rasters import nodata_mask, read_raster
from cyclegan.evaluation import metrics
from cyclegan.evaluation.inception import FeatureCache, InceptionFeatures, set_distance
from cyclegan.inference.raster_values import target_stats
from cyclegan.inference.translate import Translator


def shown_as(translator: Translator, label: str) -> str:
    domain = translator.domains[label]
    if domain.channels < 3:
        return f"domain {label}'s first band as gray"
    rgb = (domain.stats.rgb if domain.stats else ()) or (1, 2, 3)
    if domain.channels == 3 and not (domain.stats and domain.stats.rgb):
        return f"domain {label}'s three bands"
    return f"an RGB composite of domain {label}'s bands {','.join(map(str, rgb))}"


def evaluate_raster_direction(
    translator: Translator,
    direction: str,
    source_dir: Path,
    target_dir: Path,
    extractor: InceptionFeatures,
    cache: FeatureCache,
    progress=None,
) -> dict:
    tick = progress or (lambda stage, done, total: None)
    back = directions.back(direction)
    source, target = translator.sides(direction)
    units = target_stats(translator, direction)
    sources, targets = list_images(source_dir), list_images(target_dir)
    truth_by_name = {p.relative_to(target_dir): p for p in targets}
    fakes, l1s, preds, truths = [], [], [], []
    for i, path in enumerate(sources):
        x, mask = source.load_with_mask(path)
        y = translator.translate(x, direction)
        fakes.append(to_uint8(target.display(y)))
        if back in translator.directions:
            rec = translator.translate(y, back)
            l1s.append((float(np.abs(rec - x).mean()), metrics.psnr(rec, x)))
        truth_path = truth_by_name.get(path.relative_to(source_dir))
        if truth_path is not None:
            truth = read_raster(truth_path, units.bands) if target.raster else None
            if truth is not None and truth.shape[:2] == y.shape[:2]:
                valid = ~nodata_mask(truth, units.nodata)
                if mask is not None:
                    valid &= ~mask
                pred = units.denormalize(y, "float64")
                preds.append(pred[valid])
                truths.append(truth.astype(np.float64)[valid])
        tick(f"translating {direction}", i + 1, len(sources))
    reals = [to_uint8(target.display(target.load(p))) for p in targets]
    result = set_distance(fakes, reals, extractor, cache, progress=progress)
    result["fid_on"] = shown_as(translator, directions.target(direction))
    if l1s:
        result["cycle_l1"], result["cycle_psnr"] = (float(v) for v in np.mean(l1s, axis=0))
    if preds:
        span = np.asarray(units.high) - np.asarray(units.low)
        pred, truth = np.concatenate(preds)[None], np.concatenate(truths)[None]
        errors = metrics.band_errors(pred, truth, np.ones(pred.shape[:2], bool), span)
        result["paired_count"] = len(preds)
        result.update({f"band_{k}": v for k, v in errors.items() if k in ("rmse", "mae", "psnr")})
        if "sam_degrees" in errors:
            result["sam_degrees"] = errors["sam_degrees"]
        # one number for choosing a checkpoint: PSNR averaged over the bands
        result["paired_psnr"] = float(np.mean(errors["psnr"]))
    return result


def format_bands(r: dict) -> str:
    """The band lines of a raster report, for ``format_report``."""
    if "band_rmse" not in r:
        return f"    FID/KID on {r['fid_on']}"
    rmse = " ".join(f"{v:.4g}" for v in r["band_rmse"])
    psnr = " ".join(f"{v:.1f}" for v in r["band_psnr"])
    sam = f"  SAM {r['sam_degrees']:.2f} deg" if "sam_degrees" in r else ""
    return (
        f"    per band ({r['paired_count']} aligned pairs, data units): RMSE {rmse}; "
        f"PSNR {psnr} dB{sam}\n    FID/KID on {r['fid_on']}"
    )
