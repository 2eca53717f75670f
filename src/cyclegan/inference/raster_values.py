"""How a raster's values become the network's and back: the source domain's band
statistics (or, for a model of pictures, the data type's range), the target's, the
nodata value written, and the scaling into the chosen output data type."""

from __future__ import annotations

import numpy as np

from cyclegan import directions
from cyclegan.data.bands import BandStats, dtype_limits
from cyclegan.data.rasters import RasterInfo, check_nodata, dtype_range
from cyclegan.errors import ConfigError, DataError
from cyclegan.inference.translate import Translator


def source_stats(translator: Translator, direction: str, info: RasterInfo) -> BandStats:
    """How the input raster scales: its domain's statistics, or for a model trained on
    pictures, the data type's range (a 3-band 8-bit GeoTIFF through an RGB model)."""
    label = directions.source(direction)
    domain = translator.domains[label]
    if domain.stats is not None:
        stats = domain.stats
        count = len(stats.bands) if stats.bands else info.count
        if stats.bands and max(stats.bands) > info.count:
            raise DataError(
                f"{info.path}: has {info.count} band(s); the model reads bands "
                f"{','.join(map(str, stats.bands))} of domain {label}"
            )
        if count != domain.channels:
            raise DataError(
                f"{info.path}: {info.count} band(s), but domain {label} of this model has "
                f"{domain.channels}"
            )
        return stats
    if info.count != domain.channels:
        raise DataError(
            f"{info.path}: {info.count} band(s), but this model translates "
            f"{domain.channels}-channel images of domain {label}"
        )
    lo, hi = dtype_limits(info.dtype)
    return BandStats((lo,) * info.count, (hi,) * info.count, info.dtype, info.nodata, None, "dtype")


def target_stats(translator: Translator, direction: str) -> BandStats:
    """How the output scales back: the target domain's statistics, or 8-bit for pictures."""
    domain = translator.sides(direction)[1]
    if domain.stats is not None:
        return domain.stats
    n, (lo, hi) = domain.channels, dtype_limits("uint8")
    return BandStats((lo,) * n, (hi,) * n, "uint8", None, None, "dtype")


def nodata_value(source: BandStats, info: RasterInfo, target: BandStats, dtype: str):
    """The nodata value written, None when the input has none: the target domain's own
    when it has one; else NaN in a float output (any number could be a real value);
    else the input's when the output type holds it; else the type's minimum."""
    floating = dtype.startswith("float")
    has_none = source.nodata is None and info.nodata is None and not info.masked
    if has_none and not info.dtype.startswith("float"):
        return None
    if target.nodata is not None:
        try:
            check_nodata(target.nodata, dtype, "output")
            return target.nodata
        except ConfigError:
            pass
    if floating:
        return float("nan")
    value = source.nodata if source.nodata is not None else info.nodata
    if value is not None and not np.isnan(value):
        try:
            check_nodata(value, dtype, "output")
            return value
        except ConfigError:
            pass
    return dtype_range(dtype)[0]


def output_scaling(target: BandStats, dtype: str) -> BandStats:
    """How the network's [0, 1] becomes the written values: the target domain's units
    where ``dtype`` holds them (any float type; an integer type whose range contains
    every band's low to high: dB in int16), else ``dtype``'s whole range (dB, or
    uint16 reflectance, written as uint8: once clipped to a constant)."""
    if dtype == target.dtype or not np.issubdtype(np.dtype(dtype), np.integer):
        return target
    lo, hi = dtype_range(dtype)
    if lo <= min(target.low) and max(target.high) <= hi:
        return target
    n = target.count
    return BandStats((lo,) * n, (hi,) * n, dtype, None, None, "dtype", target.rgb, target.names)
