"""One large raster shared among the processes of a job: each translates a block of
rows of tiles into a part of its own, then the first assembles the parts into one
GeoTIFF.

Each part is exact: ``translate_raster(tile_rows=...)`` starts its stream at the
first row of tiles that reaches into the part, so every sum (and the order of the
sums) is the one-process stream's, and the assembled pixels equal it. The price is
that row of tiles, computed twice: one per process boundary.

Why one GeoTIFF rather than a VRT mosaic over the parts: a VRT refers to its parts
by path, so moving or copying the output without them breaks it, and many readers
(image libraries, browsers, map servers without GDAL) cannot open a VRT at all.
Assembling costs the first process one read and one compressed write of the
output, a strip at a time in bounded memory: small beside the translation itself
(docs/benchmarks.md).

Parts are kept in the manifest's ``parts/`` folder under names that say which
input (its size and time), which job and which rows, each written under a
temporary name and renamed when complete: a rerun after a kill reuses every
finished part and redoes only the others. They are removed once assembled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cyclegan.data.raster_writer import RasterWriter
from cyclegan.data.rasters import bounded_cache, is_raster_path, raster_info, read_raster
from cyclegan.errors import CycleGANError
from cyclegan.inference.manifest import Item
from cyclegan.inference.stream import band_layout, output_rows, tile_grid, translate_raster
from cyclegan.inference.translate import Translator
from cyclegan.model.layout import ManifestFiles
from cyclegan.settings import ImageOutput, Tiling

STRIP_BYTES = 64 * 2**20  # what assembling holds in memory at once


def shardable(translator: Translator, src: Path, direction: str, tiling: Tiling) -> bool:
    """Whether ``src`` streams as a raster in more than one row of tiles."""
    if not is_raster_path(src):
        return False
    try:
        info = raster_info(src)
    except (CycleGANError, OSError):  # unreadable: the translation itself reports it
        return False
    if not (translator.sides(direction)[0].raster or info.georeferenced):
        return False
    return len(tile_grid(translator, info, tiling)[0]) > 1


def share_rows(rows_of_tiles: int, world: int) -> list[tuple[int, int]]:
    """Rows of tiles ``[first, end)`` of each process: as even as whole rows allow."""
    return [(r * rows_of_tiles // world, (r + 1) * rows_of_tiles // world) for r in range(world)]


def part_path(output_dir: Path, item: Item, job: str, first: int, end: int) -> Path:
    """Where rows of tiles ``[first, end)`` of ``item`` are kept until assembled."""
    key = hashlib.sha256(f"{item.key}|{item.size}|{item.mtime_ns}|{job}".encode()).hexdigest()
    name = f"{Path(item.key).stem}-{key[:12]}-rows{first:06d}-{end:06d}.tif"
    return ManifestFiles(output_dir).parts / name


def rows_of_tiles(translator: Translator, item: Item, tiling: Tiling) -> int:
    return len(tile_grid(translator, raster_info(item.src), tiling)[0])


def parts_of(translator: Translator, item: Item, tiling: Tiling, world: int) -> list[tuple]:
    """Every process's rows of tiles, ``(first, end)``, empty ones left out."""
    spans = share_rows(rows_of_tiles(translator, item, tiling), world)
    return [(f, e) for f, e in spans if e > f]


def translate_part(
    translator: Translator,
    item: Item,
    output_dir: Path,
    direction: str,
    output: ImageOutput,
    tiling: Tiling,
    job: str,
    rows: tuple[int, int],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, int]:
    """This process's part (rows of tiles ``rows``): its path and its pixels (0 when a
    finished part of an earlier try is reused)."""
    path = part_path(output_dir, item, job, *rows)
    if path.exists():
        return path, 0
    translate_raster(
        translator,
        item.src,
        path,
        direction,
        tiling,
        output.output_dtype,
        progress,
        overwrite=True,
        output_nodata=output.output_nodata,
        tile_rows=rows,
    )
    info = raster_info(path)
    return path, info.width * info.height


def assemble(
    translator: Translator,
    item: Item,
    parts: list[Path],
    direction: str,
    output: ImageOutput,
    tiling: Tiling,
    world: int,
) -> None:
    """The parts, in row order, into ``item.dst``: one GeoTIFF with the input's
    coordinates, written as ``translate_raster`` writes (tiled, deflate, overviews or
    COG, band names), atomically. The parts are removed once it is in place."""
    info = raster_info(item.src)
    ys, _, _ = tile_grid(translator, info, tiling)
    first = raster_info(parts[0])
    how = {**band_layout(translator, direction), "cog": output.cog}
    with (
        bounded_cache(),
        RasterWriter(item.dst, info, first.count, first.dtype, first.nodata, **how) as writer,
    ):
        spans = parts_of(translator, item, tiling, world)
        for part, (f, e) in zip(parts, spans, strict=True):
            row0, row1 = output_rows(ys, info.height, f, e)
            strip = max(
                1, STRIP_BYTES // (info.width * first.count * np.dtype(first.dtype).itemsize)
            )
            for r in range(0, row1 - row0, strip):
                rows = min(strip, row1 - row0 - r)
                writer.write(read_raster(part, None, (r, 0, rows, info.width)), row0 + r)
    for part in parts:
        part.unlink(missing_ok=True)
