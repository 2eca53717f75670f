"""Raster files: multi-band TIFF and GeoTIFF at full depth, read by window, written
with their coordinates.

``imageio.py`` turns pictures into [0, 1] arrays by their data type's range. A
raster is data in units (reflectance, decibels, counts), of any band count, in
uint8, uint16, int16, uint32, int32 or float32, and often with a *nodata*
value and a place on Earth (CRS and geotransform). This module reads and
writes such files as they are; ``bands.py`` scales them.

Two readers, one interface:

- **rasterio** (the ``geo`` extra; its wheels bundle GDAL): windows, overviews,
  CRS, geotransform, nodata; needed to write georeferenced output and to
  stream rasters larger than memory.
- **tifffile** (always installed): plain multi-band TIFFs, read whole. A file
  that carries georeferencing but no rasterio is refused with the install line
  rather than translated into a file that has lost its coordinates.

Arrays are ``H x W x C`` in the file's data type. Files are written by
``raster_writer.py``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.errors import ConfigError, DataError

RASTER_EXTENSIONS = (".tif", ".tiff")
DTYPES = ("uint8", "uint16", "int16", "uint32", "int32", "float32", "float64")
GEO_HINT = "install the geo extra: pip install -c constraints.txt 'cyclegan[geo]'"
GEO_TAGS = (33550, 33922, 34264, 34735)  # pixel scale, tie points, transform, GeoKeys
GDAL_NODATA_TAG = 42113


def have_rasterio() -> bool:
    try:
        import rasterio  # noqa: F401
    except ImportError:
        return False
    return True


def is_raster_path(path: Path) -> bool:
    return Path(path).suffix.lower() in RASTER_EXTENSIONS


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file is, without its pixels."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    crs: str | None = None  # WKT, or None for a plain TIFF
    transform: tuple[float, ...] | None = None  # GDAL order: (x0, dx, rx, y0, ry, dy)
    georeferenced: bool = False
    masked: bool = False  # a mask band (GDAL's per-dataset mask, or alpha) marks nodata
    descriptions: tuple[str, ...] = ()  # the bands' names ("B04", "VV", ...), when given

    @property
    def plain_image(self) -> bool:
        """An 8-bit gray or RGB(A) picture without coordinates: what ``imageio`` reads."""
        return self.dtype == "uint8" and self.count in (1, 3, 4) and not self.georeferenced


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """GDAL warns about every TIFF without coordinates; that is normal here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not georeferenced.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="rasterio")
        yield


GDAL_CACHE_MB = 256  # GDAL's own default is 5% of the machine's memory, per process


def bounded_cache() -> contextlib.AbstractContextManager:
    """GDAL's block cache held to ``GDAL_CACHE_MB`` while a raster streams through: its
    default (5% of memory) would be most of a streamed translation's footprint."""
    if not have_rasterio():
        return contextlib.nullcontext()
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


def raster_info(path: Path) -> RasterInfo:
    """A raster's size, bands, data type, nodata and georeferencing; a ``DataError``
    naming the file when it cannot be read as one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if have_rasterio():
        import rasterio
        from rasterio.enums import MaskFlags

        try:
            with quiet(), rasterio.open(path) as src:
                geo = src.crs is not None or not src.transform.is_identity
                mask_kinds = {MaskFlags.per_dataset, MaskFlags.alpha}
                masked = any(mask_kinds & set(flags) for flags in src.mask_flag_enums)
                return RasterInfo(
                    path,
                    src.width,
                    src.height,
                    src.count,
                    src.dtypes[0],
                    src.nodata,
                    src.crs.to_wkt() if src.crs else None,
                    tuple(src.transform.to_gdal()) if geo else None,
                    geo,
                    masked,
                    tuple(d or "" for d in src.descriptions) if any(src.descriptions) else (),
                )
        except rasterio.errors.RasterioIOError as exc:
            raise DataError(f"{path}: not a raster GDAL can read ({exc})") from None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            tags = {t.code: t.value for t in page.tags}
            nodata = tags.get(GDAL_NODATA_TAG)
            shape = page.shape
            count = 1 if len(shape) == 2 else (shape[0] if page.axes.startswith("S") else shape[-1])
            return RasterInfo(
                path,
                page.imagewidth,
                page.imagelength,
                int(count),
                str(page.dtype),
                float(str(nodata).strip("\x00")) if nodata is not None else None,
                georeferenced=any(code in tags for code in GEO_TAGS),
            )
    except Exception as exc:  # tifffile raises many kinds for a damaged file
        raise DataError(f"{path}: broken or unreadable TIFF ({exc})") from None


def check_readable(info: RasterInfo) -> None:
    """Refuse a data type this toolkit does not scale."""
    if info.dtype not in DTYPES:
        raise DataError(f"{info.path}: data type {info.dtype}; supported: {', '.join(DTYPES)}")


def read_raster(
    path: Path,
    bands: tuple[int, ...] | None = None,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Pixels as ``H x W x C`` in the file's data type: ``bands`` (1-based, in this
    order; None: all), ``window`` ``(row, col, height, width)`` (None: everything)."""
    path = Path(path)
    if have_rasterio():
        import rasterio
        from rasterio.windows import Window

        try:
            with quiet(), rasterio.open(path) as src:
                indexes = list(bands) if bands else None
                win = Window(window[1], window[0], window[3], window[2]) if window else None
                data = src.read(indexes, window=win)
        except rasterio.errors.RasterioIOError as exc:
            raise DataError(f"{path}: cannot read its pixels ({exc})") from None
        return np.moveaxis(data, 0, -1)
    data = _read_tifffile(path)
    if bands:
        data = data[..., [b - 1 for b in bands]]
    if window:
        r, c, h, w = window
        data = data[r : r + h, c : c + w]
    return data


def read_invalid(info: RasterInfo, window: tuple[int, int, int, int] | None = None):
    """``H x W`` True where the file's mask band says no data; None when it has none."""
    if not info.masked:
        return None
    import rasterio
    from rasterio.windows import Window

    with quiet(), rasterio.open(info.path) as src:
        win = Window(window[1], window[0], window[3], window[2]) if window else None
        return (src.read_masks(window=win) == 0).any(axis=0)


def _read_tifffile(path: Path) -> np.ndarray:
    import tifffile

    info = raster_info(path)
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            data = page.asarray()
            planar = page.axes.startswith("S")
    except Exception as exc:
        raise DataError(f"{path}: broken or truncated TIFF ({exc})") from None
    if data.ndim == 2:
        return data[..., None]
    return np.moveaxis(data, 0, -1) if planar and info.count > 1 else data


def read_decimated(
    path: Path, longest: int, bands: tuple[int, ...] | None = None, nearest: bool = False
) -> np.ndarray:
    """The whole raster reduced by a whole factor so that its longer side is at most
    ``longest`` pixels, as float32 ``H x W x C`` in the file's units: each cell the mean
    of the valid pixels of its ``f x f`` block (NaN where none is valid), or with
    ``nearest`` the block's first pixel. A file with overviews is read from them by
    GDAL; any other is read a strip at a time, so this costs memory for the small
    image and one strip, and one pass over the file."""
    info = raster_info(path)
    factor = max(1, math.ceil(max(info.width, info.height) / longest))
    h, w = -(-info.height // factor), -(-info.width // factor)
    if factor == 1:
        return read_raster(path, bands).astype(np.float32)
    if have_rasterio() and not nearest:
        import rasterio
        from rasterio.enums import Resampling

        with quiet(), rasterio.open(path) as src:
            if src.overviews(1):
                count = len(bands) if bands else info.count
                data = src.read(
                    list(bands) if bands else None,
                    out_shape=(count, h, w),
                    resampling=Resampling.average,
                    out_dtype="float32",
                )
                return np.moveaxis(data, 0, -1)
    strip = factor * max(1, 512 // factor)  # rows per read: whole blocks of cells
    cells = []
    for row in range(0, info.height, strip):
        raw = read_raster(path, bands, (row, 0, min(strip, info.height - row), info.width))
        if nearest:
            cells.append(raw[::factor, ::factor].astype(np.float32))
            continue
        cells.append(_block_means(raw, info.nodata, factor))
    return np.concatenate(cells)


def _block_means(raw: np.ndarray, nodata: float | None, factor: int) -> np.ndarray:
    """Means of the valid pixels of each ``factor x factor`` block (partial blocks at the
    edges included), NaN where a block has none."""
    import torch
    import torch.nn.functional as F

    valid = torch.from_numpy(~nodata_mask(raw, nodata))[None, None].float()
    data = torch.from_numpy(raw.astype(np.float32)).permute(2, 0, 1)[None] * valid
    data = torch.nan_to_num(data)  # NaN is nodata too, and now weighs nothing
    # The same window sizes divide both means, so their ratio is sum over count.
    sums = F.avg_pool2d(data, factor, ceil_mode=True)
    counts = F.avg_pool2d(valid, factor, ceil_mode=True)
    return (sums / counts)[0].permute(1, 2, 0).numpy()  # 0 / 0: NaN, no valid pixel


def dtype_range(dtype: str) -> tuple[float, float]:
    if np.issubdtype(np.dtype(dtype), np.integer):
        limits = np.iinfo(dtype)
    else:
        limits = np.finfo(dtype)
    return float(limits.min), float(limits.max)


def check_nodata(nodata: float | None, dtype: str, what: str) -> None:
    """A nodata value must be one the data type can hold (NaN only in a float type)."""
    if nodata is None:
        return
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    if np.isnan(nodata):
        if not floating:
            raise ConfigError(f"{what}: nodata NaN cannot be stored in {dtype} data")
        return
    low, high = dtype_range(dtype)
    if not low <= nodata <= high or (not floating and nodata != int(nodata)):
        raise ConfigError(
            f"{what}: nodata {nodata:g} is outside what {dtype} holds ({low:g} to {high:g})"
        )


def nodata_mask(raw: np.ndarray, nodata: float | None) -> np.ndarray:
    """``H x W`` True where any band holds nodata (NaN counts as nodata in float data)."""
    mask = np.zeros(raw.shape[:2], bool)
    if np.issubdtype(raw.dtype, np.floating):
        mask |= np.isnan(raw).any(axis=2)
    if nodata is not None and not np.isnan(nodata):
        mask |= (raw == nodata).any(axis=2)
    return mask
