"""Translating a raster file of any size into a raster file, tile by tile, with its
coordinates, nodata and the target domain's units kept.

The result is the in-memory tiled translation of ``tiling.py`` (the same tiles,
cross-fade weights and order of sums, so the same numbers), computed in memory
bounded by the tile:

- **Statistics first.** Instance-norm statistics come from the whole raster
  reduced to at most ``tile_stats_size`` pixels on its longer side
  (``rasters.read_decimated``: GDAL's overviews where the file has them, else
  block means read a strip at a time): the small image costs memory, the raster
  does not.
- **Tile by tile.** Each tile's window is read, scaled with the source domain's
  band statistics, padded at the raster's bottom and right edges exactly as the
  whole image would be, translated, and added into an accumulator as large as
  one tile. Columns that no later tile of its row reaches are final for the rows
  that no later row of tiles reaches: they are divided by their weights, scaled
  to the target domain's units and data type, and written at once. The rest
  moves on: to the next tile, or, for the rows the next row of tiles shares,
  into one band of overlap rows across the width.

Peak memory is a tile in and out, the network's activations for one tile, the
overlap rows across the width (bands x overlap x width, small beside a strip),
and GDAL's block cache, held to 256 MB. Pixels that are nodata in the input
are written as nodata. The output is a tiled, deflate-compressed GeoTIFF
(BigTIFF when it might need it) with the input's CRS and geotransform, written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import tempfile
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
    nodata_mask,
    raster_info,
    read_decimated,
    read_invalid,
    read_raster,
)
from cyclegan.errors import ConfigError, DataError
from cyclegan.inference import budget
from cyclegan.inference.budget import check_fits
from cyclegan.inference.raster_values import (
    nodata_value,
    output_scaling,
    source_stats,
    target_stats,
)
from cyclegan.inference.tiling import _ramp, tile_starts
from cyclegan.inference.translate import Translator
from cyclegan.model.networks import padding_mode, padding_to_multiple
from cyclegan.settings import OUTPUT_DTYPES, Tiling

DEFAULT_TILE = 512  # rasters always stream; this bounds memory when --tile is not given
GTIFF_MAX_SIDE = 2**31 - 1


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
    overwrite: bool = False,
    output_nodata: float | None = None,
    cog: bool = False,
    tile_rows: tuple[int, int] | None = None,
) -> Path:
    """Translate raster ``src`` into ``dst`` (see the module's docstring); returns ``dst``.
    ``progress(rows_done, rows)`` after each row of tiles. An existing ``dst`` is
    replaced only with ``overwrite``. An ``output_dtype`` other than the target
    domain's own keeps its units where it can hold them (``output_scaling``);
    ``output_nodata`` replaces the nodata value chosen by ``nodata_value``; ``cog``
    writes a Cloud-Optimized GeoTIFF. The bands carry the target domain's names.

    ``tile_rows`` ``(first, end)`` translates only those rows of the tile grid
    (``tile_grid``) into ``dst``: a raster of their output rows alone, placed where
    they lie, without overviews. It is a process's part of a raster shared among
    processes (``raster_shards.py``), equal to those rows of the whole result."""
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ConfigError(f"{dst} is the input file: translating would overwrite it")
    if (dst.exists() or dst.is_symlink()) and not overwrite:
        raise ConfigError(f"{dst} exists already; pass --overwrite (overwrite=True) to replace it")
    if translator.scale.scale != "native":
        raise ConfigError("--scale training is for pictures; rasters translate at their own scale")
    translator.generator(direction)  # a model without this direction says so now
    info = raster_info(src)
    source, target = source_stats(translator, direction, info), target_stats(translator, direction)
    dtype = output_dtype or target.dtype
    check_raster_job(info, dtype)
    if output_nodata is not None:  # the user's choice: checked against the type
        check_nodata(output_nodata, dtype, "option 'output_nodata'")
        nodata = output_nodata
    else:
        nodata = nodata_value(source, info, target, dtype)
    target = output_scaling(target, dtype)
    tiling = tiling or Tiling()
    ys, tile, overlap = tile_grid(translator, info, tiling)
    multiple = translator.network.size_multiple
    ph, pw = padding_to_multiple(info.height, info.width, multiple)
    height, width = info.height + ph, info.width + pw
    whole = height <= tile and width <= tile
    like, row0 = info, 0
    if tile_rows is not None:  # a part: its rows, placed where they lie
        if whole:
            raise ConfigError(f"{src} is translated in one piece; it has no rows of tiles to share")
        row0, like = _part_of(info, ys, *tile_rows)
    out_count = translator.channels(direction)[1]
    bands_in = translator.channels(direction)[0]
    if whole:
        need = budget.in_memory_bytes(width, height, bands_in, out_count)
    else:
        need = budget.streamed_raster_bytes(width, height, bands_in, out_count, tile, overlap)
    check_fits(
        need,
        f"{src}: translating {info.width}x{info.height} pixels",
        "the overlap rows span its whole width: cut it into narrower pieces "
        "(gdal_translate -srcwin), or give a smaller --tile-overlap",
    )
    how = {**band_layout(translator, direction), "cog": cog, "overviews": tile_rows is None}
    with bounded_cache(), RasterWriter(dst, like, out_count, dtype, nodata, **how) as writer:
        gen = translator.generator(direction)  # (above: a model without it says so early)
        if not whole and tiling.tile_stats_size:
            raw_small = read_decimated(src, tiling.tile_stats_size, source.bands)
            small = array_to_tensor(source.normalize(raw_small)[0])[None]
            gen = translator.tiled_generator(direction, None, tiling.tile_stats_size, small)
        if whole:  # one pass, the image's own statistics: as translate_tensor does
            mode = padding_mode(info.height, info.width, ph, pw)
            x, mask = _read_scaled(src, source, None, ph, pw, mode, info)
            out = translator.translate_tensor(x, direction)
            writer.write(_finish(out[0], mask, target, writer), 0)
            if progress:
                progress(info.height, info.height)
            return dst
        rows = tile_rows or (0, len(ys))
        _stream(translator, gen, src, source, target, info, writer, tile, overlap, progress, rows)
    return dst


def band_layout(translator: Translator, direction: str) -> dict:
    """The output bands' names and colour composite (a picture target's are its own
    three), as ``RasterWriter`` takes them."""
    target = target_stats(translator, direction)
    rgb = (1, 2, 3) if translator.sides(direction)[1].stats is None else target.rgb
    return {"rgb": rgb, "descriptions": target.names}


def tile_grid(translator: Translator, info: RasterInfo, tiling: Tiling) -> tuple[list, int, int]:
    """Where the rows of tiles of ``info`` start (padded raster rows), the tile and the
    overlap: the grid ``translate_raster`` streams through."""
    tile = tiling.tile or DEFAULT_TILE
    overlap = translator.check_tiling(tile, tiling.tile_overlap, tiling.tile_stats_size)
    multiple = translator.network.size_multiple
    ph, _ = padding_to_multiple(info.height, info.width, multiple)
    return tile_starts(info.height + ph, tile, overlap, multiple), tile, overlap


def output_rows(ys: list[int], height: int, first: int, end: int) -> tuple[int, int]:
    """The raster rows that rows of tiles ``[first, end)`` finish (what a part holds):
    from the first one's start to the next one's, or the raster's end."""
    return ys[first], (ys[end] if end < len(ys) else height)


def _part_of(info: RasterInfo, ys: list[int], first: int, end: int) -> tuple[int, RasterInfo]:
    """The first row and the description of the part holding rows of tiles ``[first, end)``."""
    row0, row1 = output_rows(ys, info.height, first, end)
    transform = info.transform
    if transform:  # GDAL order: x = x0 + col dx + row rx; y = y0 + col ry + row dy
        x0, dx, rx, y0, ry, dy = transform
        transform = (x0 + row0 * rx, dx, rx, y0 + row0 * dy, ry, dy)
    return row0, dataclasses.replace(info, height=row1 - row0, transform=transform)


def raster_to_array(translator: Translator, path: Path, direction: str, tiling: Tiling):
    """A raster file translated by ``translate_raster`` (the command line's tiles,
    statistics of valid pixels, nodata) into an ``H x W x C`` float32 array: the target
    domain's units (a picture target: 0 to 1), NaN at nodata. What
    ``Translator.translate(path)`` returns; before 2026-12-06 that was a second engine
    whose statistics counted nodata, differing from the command line by up to 248 levels."""
    info = raster_info(path)
    check_fits(
        budget.in_memory_bytes(info.width, info.height, *translator.channels(direction)),
        f"{path}: {info.width}x{info.height} pixels held in memory",
        "translate it with translate_raster (or cyclegan translate), which streams",
    )
    with tempfile.TemporaryDirectory(prefix="cyclegan-") as tmp:
        out = translate_raster(
            translator, path, Path(tmp) / "out.tif", direction, tiling, "float32"
        )
        arr = read_raster(out).astype(np.float32, copy=False)
    if not translator.sides(direction)[1].raster:
        arr /= 255.0  # a picture target: written on 0-255, returned as 0-1
    return arr


def _read_scaled(src, source: BandStats, window, ph: int, pw: int, mode: str, info: RasterInfo):
    """``window`` ``(row, col, rows, cols)`` of the raster as a ``(1, C, rows + ph,
    cols + pw)`` tensor in [-1, 1], padded at the bottom and right as the whole image
    is where the window reaches the raster's edge, and its nodata mask: the domain's
    nodata, the file's own (which may differ, or be the only one: a scene declaring
    nodata 0 through a domain trained without once had its nodata corner written as
    translated colours under a nodata tag), and the file's mask band if it has one."""
    raw = read_raster(src, source.bands, window)
    arr, mask = source.normalize(raw)
    extra = nodata_mask(raw, info.nodata) if info.nodata is not None else None
    invalid = read_invalid(info, window)
    if invalid is not None:
        extra = invalid if extra is None else extra | invalid
    if extra is not None:
        extra &= ~mask
        arr[extra] = 0.0  # as normalize sets the domain's nodata pixels
        mask |= extra
    x = array_to_tensor(arr)[None]
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, mask


def _finish(out: torch.Tensor, mask, target: BandStats, writer) -> np.ndarray:
    """A ``(C, h, w)`` translation cropped to its mask, in the target's units and the
    writer's data type, nodata set."""
    rows, cols = mask.shape
    arr = target.denormalize(tensor_to_array(out[..., :rows, :cols]), writer.dtype)
    if writer.nodata is not None:
        if np.issubdtype(arr.dtype, np.integer):
            # A valid pixel that came out as the nodata value would read as nodata:
            # moved one level into the valid range, so the mask is the input's.
            hi = dtype_range(writer.dtype)[1]
            clash = arr == writer.nodata
            arr[clash] = writer.nodata + (1 if writer.nodata < hi else -1)
        arr[mask] = writer.nodata
    return arr


def _stream(translator, gen, src, source, target, info, writer, tile, overlap, progress, part):
    """Tile by tile, row of tiles by row of tiles, with the in-memory path's tiles, sums
    and order of sums, holding only what is still being summed: one tile's columns of
    the current row of tiles, and the rows it shares with the next row across the
    width. A tile's columns that no later tile reaches are divided, scaled and written
    as soon as it is done.

    ``part`` ``(first, end)``: the rows of tiles whose finished rows are written (into a
    writer whose row 0 is the first's start). The stream starts at the first row of
    tiles that reaches into them, so their sums are the whole stream's, in its order."""
    multiple = translator.network.size_multiple
    ph, pw = padding_to_multiple(info.height, info.width, multiple)
    height, width = info.height + ph, info.width + pw
    mode = padding_mode(info.height, info.width, ph, pw)
    ys = tile_starts(height, tile, overlap, multiple)
    xs = tile_starts(width, tile, overlap, multiple)
    channels, (first, end) = writer.count, part
    row0 = ys[first]
    start = min(k for k in range(first + 1) if ys[k] + tile > row0)
    carry = torch.zeros(1, channels + 1, 0, width)  # sums and weights of rows shared upward
    for k in range(start, end):
        y = ys[k]
        rows = min(y + tile, height) - y
        rows_in = min(y + tile, info.height) - y  # of them inside the raster
        n = (ys[k + 1] if k + 1 < len(ys) else height) - y  # rows no later row of tiles reaches
        shared = torch.zeros(1, channels + 1, rows - n, width)
        acc = torch.zeros(1, channels + 1, rows, min(tile, width))  # columns [x, x + tile)
        for j, x in enumerate(xs):
            cols = min(x + tile, width) - x
            entering = 0  # the first column not summed by the tile before
            if j > 0:  # move the shared columns to the front
                d = x - xs[j - 1]
                entering = acc.shape[-1] - d
                acc[..., :entering] = acc[..., d:].clone()
                acc[..., entering:] = 0
            acc[:, :, : carry.shape[2], entering:cols] = carry[..., x + entering : x + cols]
            cols_in = min(x + tile, info.width) - x
            piece_in, mask = _read_scaled(
                src,
                source,
                (y, x, rows_in, cols_in),
                rows - rows_in,
                cols - cols_in,
                mode,
                info,
            )
            piece = translator._translate_whole(piece_in, gen).float().cpu()
            weight = _ramp(rows, y, height, overlap)[:, None] * _ramp(cols, x, width, overlap)[None]
            acc[:, :channels, :, :cols] += piece * weight
            acc[:, channels:, :, :cols] += weight
            end = xs[j + 1] if j + 1 < len(xs) else width  # columns no later tile reaches
            done_rows, done_cols = min(n, rows_in), min(end, info.width) - x
            if done_rows > 0 and done_cols > 0 and k >= first:
                block = acc[0, :channels, :done_rows, :done_cols]
                block = block / acc[0, channels:, :done_rows, :done_cols]
                arr = _finish(block, mask[:done_rows, :done_cols], target, writer)
                writer.write(arr, y - row0, x)
            shared[..., x:end] = acc[:, :, n:rows, : end - x]
        carry = shared
        if progress:
            progress(min(y + n, info.height), info.height)
