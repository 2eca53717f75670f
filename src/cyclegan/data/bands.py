"""Band statistics: how a raster domain's data units become the network's [0, 1] and
back, and the domain that reads its files with them.

A picture's pixels have a natural range (0-255). A raster's do not: uint16
reflectance may use 0-4000 of 0-65535, SAR amplitude has a long bright tail,
and bands differ from each other. So each domain of rasters gets, per band, a
``low`` and a ``high`` value, mapped to 0 and 1 (then [-1, 1] for the network),
with values outside clipped:

- ``percentile`` (default): the ``clip`` and ``100 - clip`` percentiles of a
  seeded sample of the domain's valid pixels (0.5 and 99.5 by default), robust
  to a few saturated or dead pixels;
- ``minmax``: the sample's minimum and maximum;
- ``dtype``: the data type's range (what pictures get; floats: 0 to 1);
- ``given``: read from a file, this toolkit's ``band_stats.json`` or
  arcgis.learn's ``esri_normalization_stats*.json`` (its band minima and maxima).

Nodata pixels (the file's nodata value, NaN, or the one given) are left out of
the statistics, enter the network as 0 (the band's low end), and are written
back as nodata. Statistics are saved with every checkpoint: translation scales
its input with the source domain's and writes the target domain's units and data
type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.data.rasters import (
    RasterInfo,
    check_nodata,
    dtype_range,
    nodata_mask,
    raster_info,
    read_decimated,
    read_raster,
)
from cyclegan.errors import ConfigError, DataError

SAMPLE_FILES = 64  # files read for the statistics, at most
SAMPLE_PIXELS = 200_000  # valid pixels per band, at most, spread over those files
SAMPLE_SIDE = 1024  # larger files are read decimated to this longer side


@dataclass(frozen=True)
class BandStats:
    """One domain's scaling, band by band; see the module's docstring."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    dtype: str  # the domain's data type: what its translations are written in
    nodata: float | None = None
    bands: tuple[int, ...] | None = None  # 1-based bands taken from each file (None: all)
    method: str = "percentile"
    rgb: tuple[int, ...] = ()  # bands (1-based, after selection) shown as red, green, blue
    names: tuple[str, ...] = ()  # the bands' descriptions in the training files, if any

    def __post_init__(self) -> None:
        if len(self.low) != len(self.high) or not self.low:
            raise ConfigError("band statistics need one low and one high value per band")
        bad = [
            i + 1
            for i, (lo, hi) in enumerate(zip(self.low, self.high, strict=True))
            if not (math.isfinite(lo) and math.isfinite(hi))
        ]
        if bad:
            raise ConfigError(f"band statistics of band(s) {bad} are not finite numbers")

    @property
    def count(self) -> int:
        return len(self.low)

    def _span(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.asarray(self.low, np.float32)
        span = np.asarray(self.high, np.float32) - low
        return low, np.where(span > 0, span, np.float32(1.0))  # a constant band: no division by 0

    def normalize(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data units ``H x W x C`` -> float32 in [0, 1], and the ``H x W`` nodata mask."""
        mask = nodata_mask(raw, self.nodata)
        low, span = self._span()
        arr = raw.astype(np.float32)  # one copy, then in place: strips of a raster are large
        arr -= low
        arr /= span
        np.clip(arr, 0.0, 1.0, out=arr)
        arr[mask] = 0.0  # also replaces NaN
        return arr, mask

    def denormalize(self, arr: np.ndarray, dtype: str | None = None) -> np.ndarray:
        """[0, 1] ``H x W x C`` -> this domain's units in ``dtype`` (default: its own),
        rounded and clipped to what an integer type holds."""
        dtype = dtype or self.dtype
        low, span = self._span()
        out = np.clip(arr, 0.0, 1.0)  # one copy, then in place
        out *= span
        out += low
        if np.issubdtype(np.dtype(dtype), np.integer):
            lo, hi = dtype_range(dtype)
            np.clip(np.rint(out, out=out), lo, hi, out=out)
        return out.astype(dtype, copy=False)

    def to_dict(self) -> dict:
        return {
            "low": list(self.low),
            "high": list(self.high),
            "dtype": self.dtype,
            "nodata": _json_number(self.nodata),
            "bands": list(self.bands) if self.bands else None,
            "method": self.method,
            "rgb": list(self.rgb),
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, values: dict) -> BandStats:
        nodata = values.get("nodata")
        return cls(
            tuple(float(v) for v in values["low"]),
            tuple(float(v) for v in values["high"]),
            str(values["dtype"]),
            float("nan") if nodata == "nan" else nodata,
            tuple(values["bands"]) if values.get("bands") else None,
            str(values.get("method", "given")),
            tuple(values.get("rgb") or ()),
            tuple(values.get("names") or ()),  # absent before 2026-12-06
        )


def dtype_limits(dtype: str) -> tuple[float, float]:
    """The ``dtype`` scaling: an integer type's whole range; floats taken as 0 to 1."""
    return (0.0, 1.0) if np.issubdtype(np.dtype(dtype), np.floating) else dtype_range(dtype)


def _json_number(value: float | None):
    return "nan" if value is not None and math.isnan(value) else value


def sample_statistics(
    files: list[Path],
    bands: tuple[int, ...] | None,
    nodata: float | None,
    method: str,
    clip: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band (low, high) from a seeded sample of ``files``' valid pixels."""
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(files), min(len(files), SAMPLE_FILES), replace=False))
    per_file = max(SAMPLE_PIXELS // len(picks), 1)
    samples = []
    for i in picks:
        info = raster_info(files[i])
        if max(info.width, info.height) > SAMPLE_SIDE:
            # nearest, not average: averaging would blend nodata into valid values
            raw = read_decimated(files[i], SAMPLE_SIDE, bands, nearest=True)
        else:
            raw = read_raster(files[i], bands)
        valid = ~nodata_mask(raw, nodata if nodata is not None else info.nodata)
        pixels = raw.reshape(-1, raw.shape[2])[valid.reshape(-1)].astype(np.float64)
        if len(pixels) > per_file:
            pixels = pixels[rng.choice(len(pixels), per_file, replace=False)]
        samples.append(pixels)
    data = np.concatenate(samples)
    if not len(data):
        raise DataError(f"{files[0].parent}: every sampled pixel is nodata")
    if method == "minmax":
        return data.min(axis=0), data.max(axis=0)
    return np.percentile(data, clip, axis=0), np.percentile(data, 100 - clip, axis=0)


def read_stats_file(path: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) from this toolkit's statistics file or arcgis.learn's."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: statistics file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: not a readable statistics JSON file ({exc})"[:300]) from None
    try:
        if isinstance(values, dict) and "low" in values:
            low, high = values["low"], values["high"]
        else:  # arcgis.learn: {"batch_stats_for_norm_pct_N": {"band_min_values": [...], ...}}
            entries = [
                v
                for k, v in sorted(values.items())
                if k.startswith("batch_stats_for_norm_pct_") and v.get("band_min_values")
            ]
            low, high = entries[-1]["band_min_values"], entries[-1]["band_max_values"]
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise ConfigError(
            f"{path}: no band statistics in it (expected 'low' and 'high', or arcgis.learn's "
            "'band_min_values' and 'band_max_values')"
        ) from None
    if low.shape != (count,) or high.shape != (count,):
        raise ConfigError(
            f"{path}: statistics for {low.size} band(s), but the domain has {count} band(s)"
        )
    return low, high


def _check_files(infos: list[RasterInfo], domain: str, warn: Callable[[str], None]) -> RasterInfo:
    """One domain's files agree on their bands (an error) and data type and coordinate
    system (warnings); returns the first file's description."""
    first = infos[0]
    for info in infos:
        if info.count != first.count:
            raise DataError(
                f"domain {domain}: {info.path} has {info.count} band(s) but {first.path} has "
                f"{first.count}; every file of a domain needs the same bands"
            )
    other = next((info for info in infos if info.dtype != first.dtype), None)
    if other is not None:
        warn(
            f"domain {domain}: {other.path} is {other.dtype}, {first.path} is {first.dtype}; "
            "they share one scaling"
        )
    crs = {info.crs for info in infos if info.crs}
    if len(crs) > 1:
        warn(f"domain {domain}: its files are in {len(crs)} different coordinate systems")
    return first


def domain_statistics(
    files: list[Path],
    domain: str,
    *,
    method: str,
    clip: float,
    bands: tuple[int, ...] | None,
    nodata: float | None,
    stats_file: str,
    seed: int,
    rgb: tuple[int, ...] = (),
    warn: Callable[[str], None] = print,
) -> BandStats:
    """Check a raster domain's files and compute (or read) its statistics.

    Every file is opened (headers only): band counts must agree, selected bands
    exist, data types be readable; differing CRSs are worth a warning.
    """
    first = _check_files([raster_info(p) for p in files], domain, warn)
    if bands and max(bands) > first.count:
        raise ConfigError(
            f"option 'bands_{domain.lower()}' asks for band {max(bands)}, but the files of "
            f"domain {domain} have {first.count} band(s) (e.g. {first.path})"
        )
    nodata = nodata if nodata is not None else first.nodata
    check_nodata(nodata, first.dtype, f"domain {domain} ({first.path})")
    count = len(bands) if bands else first.count
    names = first.descriptions  # the first file's, as it is for the data type and nodata
    if names and bands:
        names = tuple(names[b - 1] for b in bands)
    if rgb and max(rgb) > count:
        raise ConfigError(f"option 'rgb_{domain.lower()}': band {max(rgb)} of {count}")
    if stats_file:
        low, high = read_stats_file(Path(stats_file), count)
        method = "given"
    elif method == "dtype":
        low, high = (np.full(count, v) for v in dtype_limits(first.dtype))
    else:
        low, high = sample_statistics(files, bands, nodata, method, clip, seed)
    return BandStats(
        tuple(float(v) for v in low),
        tuple(float(v) for v in high),
        first.dtype,
        nodata,
        bands,
        method if method != "percentile" else f"percentile {clip:g}-{100 - clip:g}",
        rgb,
        names,
    )


def display(arr: np.ndarray, rgb: tuple[int, ...] = ()) -> np.ndarray:
    """A [0, 1] image of any band count as one to look at (``H x W x 3``): three of its
    bands (``rgb``, 1-based; default the first three) as red, green and blue, or its
    first band as gray. The stretch is the domain's own scaling (percentiles by
    default), the same for every image, so that images compare."""
    channels = arr.shape[2]
    if channels < 3:
        return np.repeat(arr[..., :1], 3, axis=2)
    if channels == 3 and not rgb:
        return arr
    return np.ascontiguousarray(arr[..., [b - 1 for b in (rgb or (1, 2, 3))]])
