"""Translating a raster file of any size into a raster file, window by window, with
its coordinates, nodata and the target domain's units kept.

The result is the in-memory tiled translation of ``tiling.py``, computed in a
bounded amount of memory:

- **Statistics first.** Instance-norm statistics come from the whole raster
  read decimated (GDAL averages, from overviews where the file has them) to at
  most ``tile_stats_size`` pixels on its longer side: the small image costs
  memory, the raster does not.
- **One strip of tiles at a time.** For each row of tiles (the same tiles,
  starts and cross-fade weights as in memory) the strip of the raster it covers is
  read, scaled with the source domain's band statistics, padded at the raster's
  bottom and right edges exactly as the whole image would be, translated tile by
  tile and added into an accumulator of the strip's height. Rows that no later
  tile reaches are final: they are divided by their weights, scaled to the
  target domain's units and data type, and written.

Peak memory is one strip of input (bands x tile x width), one of output, and the
network's activations for one tile, whatever the raster's height. Pixels that
are nodata in the input are written as nodata. The output is a tiled, deflate-
compressed GeoTIFF (BigTIFF when it might need it) with the input's CRS and
geotransform, written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cyclegan.data.bands import BandStats
from cyclegan.data.imageio import array_to_tensor, tensor_to_array
from cyclegan.data.raster_writer import RasterWriter
from cyclegan.data.rasters import (
    RasterInfo,
    bounded_cache,
    check_nodata,
    check_readable,
    dtype_range,
    raster_info,
    read_decimated,
    read_raster,
)
from cyclegan.errors import ConfigError, DataError
from cyclegan.inference.tiling import _ramp, tile_starts
from cyclegan.inference.translate import Translator
from cyclegan.model.networks import padding_to_multiple
from cyclegan.settings import OUTPUT_DTYPES, Tiling

DEFAULT_TILE = 512  # rasters always stream; this bounds memory when --tile is not given
GTIFF_MAX_SIDE = 2**31 - 1


def source_stats(translator: Translator, direction: str, info: RasterInfo) -> BandStats:
    """How the input raster scales: its domain's statistics, or for a model trained on
    pictures, the data type's range (a 3-band 8-bit GeoTIFF through an RGB model)."""
    label = direction[0]
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
    lo, hi = dtype_range(info.dtype) if info.dtype != "float32" else (0.0, 1.0)
    if info.dtype in ("uint8", "uint16"):
        lo = 0.0
    return BandStats((lo,) * info.count, (hi,) * info.count, info.dtype, info.nodata, None, "dtype")


def target_stats(translator: Translator, direction: str) -> BandStats:
    """How the output scales back: the target domain's statistics, or 8-bit for pictures."""
    domain = translator.domains[direction[-1]]
    if domain.stats is not None:
        return domain.stats
    n = domain.channels
    return BandStats((0.0,) * n, (255.0,) * n, "uint8", None, None, "dtype")


def output_nodata(source: BandStats, info: RasterInfo, target: BandStats, dtype: str):
    """The nodata value written, None when the input has none: the target domain's own
    when it has one; else NaN in a float output (any number could be a real value);
    else the input's when the output type holds it; else the type's minimum."""
    floating = dtype.startswith("float")
    if source.nodata is None and info.nodata is None and not info.dtype.startswith("float"):
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


def check_raster_job(info: RasterInfo, dtype: str) -> None:
    """What the output cannot hold is refused before anything is written."""
    check_readable(info)
    if dtype not in OUTPUT_DTYPES:
        raise ConfigError(f"option 'output_dtype' is {dtype!r}; use {', '.join(OUTPUT_DTYPES)}")
    if max(info.width, info.height) > GTIFF_MAX_SIDE:
        raise DataError(f"{info.path}: {info.width}x{info.height} is larger than a TIFF holds")


def translate_raster(
    translator: Translator,
    src: Path,
    dst: Path,
    direction: str = "AtoB",
    tiling: Tiling | None = None,
    output_dtype: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Translate raster ``src`` into ``dst`` (see the module's docstring); returns ``dst``.
    ``progress(rows_done, rows)`` after each strip."""
    src, dst = Path(src), Path(dst)
    if translator.scale.scale != "native":
        raise ConfigError("--scale training is for pictures; rasters translate at their own scale")
    translator.generator(direction)  # a model without this direction says so now
    info = raster_info(src)
    source, target = source_stats(translator, direction, info), target_stats(translator, direction)
    dtype = output_dtype or target.dtype
    check_raster_job(info, dtype)
    nodata = output_nodata(source, info, target, dtype)
    tiling = tiling or Tiling()
    tile = tiling.tile or DEFAULT_TILE
    overlap = translator.check_tiling(tile, tiling.tile_overlap, tiling.tile_stats_size)
    multiple = translator.network.size_multiple
    ph, pw = padding_to_multiple(info.height, info.width, multiple)
    height, width = info.height + ph, info.width + pw
    whole = height <= tile and width <= tile
    out_count = translator.channels(direction)[1]
    with bounded_cache(), RasterWriter(dst, info, out_count, dtype, nodata) as writer:
        gen = translator.generator(direction)
        if not whole and tiling.tile_stats_size:
            raw_small = read_decimated(src, tiling.tile_stats_size, source.bands)
            small = array_to_tensor(source.normalize(raw_small)[0])[None]
            gen = translator.tiled_generator(direction, None, tiling.tile_stats_size, small)
        if whole:  # one pass, the image's own statistics: as translate_tensor does
            x, mask = _read_scaled(src, source, 0, info.height, info.width, ph, pw)
            out = translator.translate_tensor(x, direction)
            writer.write(_finish(out[0], mask, target, dtype, nodata, info), 0)
            if progress:
                progress(info.height, info.height)
            return dst
        _stream(translator, gen, src, source, target, info, writer, tile, overlap, progress)
    return dst


def _read_scaled(src, source: BandStats, row: int, rows: int, width: int, ph: int, pw: int):
    """Rows ``[row, row + rows)`` as a ``(1, C, rows + ph, width + pw)`` tensor in [-1, 1],
    padded at the bottom (``ph``) and right (``pw``) as the whole image is, and their mask."""
    arr, mask = source.normalize(read_raster(src, source.bands, (row, 0, rows, width)))
    x = array_to_tensor(arr)[None]
    if ph or pw:
        h, w = x.shape[-2:]
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, mask


def _finish(out: torch.Tensor, mask, target: BandStats, dtype: str, nodata, info) -> np.ndarray:
    """A ``(C, h, w)`` translation cropped to the raster, in the target's units, nodata set."""
    arr = target.denormalize(tensor_to_array(out[..., : mask.shape[0], : info.width]), dtype)
    if nodata is not None:
        arr[mask] = nodata
    return arr


def _stream(translator, gen, src, source, target, info, writer, tile, overlap, progress) -> None:
    """The strips of tiles (see the module's docstring). Each strip starts where the rows
    already written end, so the accumulators hold one strip's rows: the rows the next
    strip shares are moved to the top, the rest written."""
    multiple = translator.network.size_multiple
    ph, pw = padding_to_multiple(info.height, info.width, multiple)
    height, width = info.height + ph, info.width + pw
    ys = tile_starts(height, tile, overlap, multiple)
    xs = tile_starts(width, tile, overlap, multiple)
    dtype, nodata = writer.dtype, writer.nodata
    total = torch.zeros(1, writer.count, min(tile, height), width)
    weights = torch.zeros(1, 1, min(tile, height), width)
    for k, y in enumerate(ys):
        rows_in = min(y + tile, info.height) - y  # rows of this strip inside the raster
        pad_rows = min(y + tile, height) - y - rows_in
        strip, mask = _read_scaled(src, source, y, rows_in, info.width, pad_rows, pw)
        for x in xs:
            piece = translator._translate_whole(strip[..., :, x : x + tile], gen).float().cpu()
            h, w = piece.shape[-2:]
            window = _ramp(h, y, height, overlap)[:, None] * _ramp(w, x, width, overlap)[None]
            total[..., :h, x : x + w] += piece * window
            weights[..., :h, x : x + w] += window
        done = ys[k + 1] if k + 1 < len(ys) else height  # rows no later tile reaches
        n, rows = done - y, strip.shape[-2]
        real = min(n, rows_in)
        if real > 0:
            block = total[0, :, :real] / weights[0, :, :real]
            writer.write(_finish(block, mask[:real], target, dtype, nodata, info), y)
        keep = rows - n  # shared with the next strip
        total[:, :, :keep] = total[:, :, n:rows].clone()
        weights[:, :, :keep] = weights[:, :, n:rows].clone()
        total[:, :, keep:].zero_()
        weights[:, :, keep:].zero_()
        if progress:
            progress(min(done, info.height), info.height)
