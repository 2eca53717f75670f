"""One training sample of a domain, as the run sees it.

Preprocessing, as in the reference (``--preprocess``): ``resize_and_crop``
(bicubic to load_size x load_size, random crop_size crop), ``crop``,
``scale_width`` (width to load_size, keep aspect), ``scale_width_and_crop``,
``none``; then a random horizontal flip unless turned off. Where a mode leaves
the size free (``none``, ``scale_width``), sides are rounded to the generator's
multiple (4 for ResNets), so the cycle's output matches its input.

A raster scene cropped by windows (``crop``) is read one window at a time,
never whole, so scenes far larger than memory train with no export step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cyclegan.config import TrainConfig
from cyclegan.data.domain import Domain
from cyclegan.data.imageio import resize
from cyclegan.data.rasters import raster_info


def _round_to(x: int, multiple: int) -> int:
    return max(multiple, int(round(x / multiple)) * multiple)


def preprocess(
    arr: np.ndarray, cfg: TrainConfig, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The reference's training transform on one ``H x W x C`` image.

    Without ``rng``, its deterministic view: the centre crop and no flip. That is
    the image as the run sees it, the same every time: what the sample grids show.
    """
    mode, load, crop = cfg.preprocess, cfg.load_size, cfg.crop_size
    multiple = cfg.network.size_multiple
    h, w = arr.shape[:2]
    if mode == "resize_and_crop":
        arr = resize(arr, load, load)
    elif mode.startswith("scale_width"):
        new_h = max(int(load * h / w), crop)
        if mode == "scale_width":
            arr = resize(arr, _round_to(load, multiple), _round_to(new_h, multiple))
        else:
            arr = resize(arr, load, new_h)
    elif mode == "none":
        arr = resize(arr, _round_to(w, multiple), _round_to(h, multiple))
    if "crop" in mode:
        h, w = arr.shape[:2]
        top = int(rng.integers(0, h - crop + 1)) if rng is not None else (h - crop) // 2
        left = int(rng.integers(0, w - crop + 1)) if rng is not None else (w - crop) // 2
        arr = arr[top : top + crop, left : left + crop]
    if rng is not None and cfg.flip and rng.random() < 0.5:
        arr = arr[:, ::-1]
    return arr


SCENE_TRIES = 10  # windows drawn before settling for the one with the least nodata
MOSTLY_NODATA = 0.5  # a window with more nodata than this share is drawn again


def windowed_size(path: Path, domain: Domain, cfg: TrainConfig) -> tuple[int, int] | None:
    """``(height, width)`` of a raster that is read by windows (``--preprocess crop``);
    None for a file that is read whole."""
    if not domain.raster or cfg.preprocess != "crop":
        return None
    info = raster_info(path)
    return info.height, info.width


def scene_windows(size: tuple[int, int] | None, crop: int) -> int:
    """How many samples an epoch takes from a file of ``windowed_size`` ``size``: one from
    a file read whole; from a raster read by windows, as many crop windows as fit."""
    return 1 if size is None else max(1, (size[0] // crop) * (size[1] // crop))


def _start(length: int, crop: int, rng: np.random.Generator | None) -> int:
    return int(rng.integers(0, length - crop + 1)) if rng is not None else (length - crop) // 2


def load_sample(
    domain: Domain,
    path: Path,
    cfg: TrainConfig,
    rng: np.random.Generator | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """One training image of ``domain`` as the run sees it (``preprocess``). A raster
    cropped by windows is read one window at a time, so a scene far larger than
    memory trains as well as a chip: a random window (``rng``; None: the centre),
    drawn again while it is mostly nodata. ``size``: its ``windowed_size``, when the
    caller knows it (the data loader does), so that the file is opened once."""
    size = size or windowed_size(path, domain, cfg)
    if size is None:
        return preprocess(domain.load(path), cfg, rng)
    (height, width), crop = size, cfg.crop_size
    best = None
    for _ in range(SCENE_TRIES if rng is not None else 1):
        top, left = _start(height, crop, rng), _start(width, crop, rng)
        arr, mask = domain.load_with_mask(path, (top, left, crop, crop))
        share = float(mask.mean())
        if best is None or share < best[1]:
            best = (arr, share)
        if share <= MOSTLY_NODATA:
            break
    return preprocess(best[0], cfg, rng)
