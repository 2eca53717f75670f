"""Writing a raster window by window, safely: the one place raster files are written.

With rasterio (the ``geo`` extra), a tiled, deflate-compressed GeoTIFF with the
coordinates of the raster it was made from, its bands' descriptions, a true colour
interpretation and, when larger than a few blocks, averaged overviews; or, asked
(``cog``), the same as a Cloud-Optimized GeoTIFF, whose overviews always exist and
whose layout lets a reader fetch any part with a few ranged requests. Without
rasterio, a plain TIFF by tifffile. Either way the file appears under its name only
when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cyclegan.data import rasters
from cyclegan.data.rasters import GDAL_NODATA_TAG, GEO_HINT, RasterInfo, quiet
from cyclegan.errors import ConfigError

# The COG's creation options: deflate as the plain output, averaged overviews (the
# driver's default is nearest), BigTIFF when the file might need it.
COG_OPTIONS = {"COMPRESS": "DEFLATE", "BIGTIFF": "IF_SAFER", "OVERVIEW_RESAMPLING": "AVERAGE",
               "NUM_THREADS": "ALL_CPUS"}  # fmt: skip


class RasterWriter:
    """Writes a raster window by window under a temporary name, renamed into place
    only when every window is written: a failure leaves no partial file under the
    final name (``close(ok=False)`` removes the temporary one).

    With rasterio: a tiled, deflate-compressed GeoTIFF with ``like``'s CRS and
    geotransform (BigTIFF when it might exceed 4 GiB). Without: a plain TIFF
    written whole by tifffile, buffered in memory.
    """

    def __init__(
        self,
        path: Path,
        like: RasterInfo,
        count: int,
        dtype: str,
        nodata: float | None,
        block: int = 256,
        rgb: tuple[int, ...] = (),
        descriptions: tuple[str, ...] = (),
        cog: bool = False,
        overviews: bool = True,
    ):
        self.path, self.like, self.count, self.dtype, self.nodata = (
            Path(path),
            like,
            count,
            dtype,
            nodata,
        )
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self.cog, self.overviews = cog, overviews  # overviews: none for a temporary part
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._dst = None
        self._buffer = None
        if rasters.have_rasterio():  # looked up here, so that tests can take it away
            import rasterio
            from rasterio.transform import Affine

            profile = {
                "driver": "GTiff",
                "width": like.width,
                "height": like.height,
                "count": count,
                "dtype": dtype,
                "nodata": nodata,
                "tiled": True,
                "blockxsize": block,
                "blockysize": block,
                "compress": "deflate",
                "bigtiff": "IF_SAFER",
                # GDAL compresses blocks in worker threads while translation goes on
                "num_threads": "ALL_CPUS",
            }
            if like.crs:
                profile["crs"] = like.crs
            if like.transform:
                profile["transform"] = Affine.from_gdal(*like.transform)
            if tuple(rgb) == (1, 2, 3) and count == 3 and dtype == "uint8":
                profile["photometric"] = "RGB"
            with quiet():
                self._dst = rasterio.open(self.tmp, "w", **profile)
                self._dst.colorinterp = _colour_interpretation(count, rgb)
                if any(descriptions):
                    self._dst.descriptions = tuple(descriptions)
            self.block = block
        elif cog:
            raise ConfigError(f"a Cloud-Optimized GeoTIFF ({self.path}): {GEO_HINT}")
        elif like.georeferenced:
            raise ConfigError(f"{like.path} is georeferenced; to keep its coordinates, {GEO_HINT}")
        else:
            self._buffer = np.zeros((like.height, like.width, count), dtype)

    def write(self, block: np.ndarray, row: int, col: int = 0) -> None:
        """Write ``block`` (``h x w x count``, in the output data type) with its top left
        corner at (``row``, ``col``)."""
        h, w = block.shape[:2]
        if self._dst is not None:
            from rasterio.windows import Window

            self._dst.write(np.moveaxis(block, -1, 0), window=Window(col, row, w, h))
        else:
            self._buffer[row : row + h, col : col + w] = block

    def close(self, ok: bool = True) -> None:
        """Finish the file and rename it into place (``ok``), or remove it."""
        try:
            if self._dst is not None:
                if ok and self.overviews and not self.cog:  # (the COG driver builds its own)
                    self._build_overviews()
                self._dst.close()
                if ok and self.cog:
                    self._rewrite_as_cog()
            elif ok:
                self._write_tifffile()
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def _build_overviews(self) -> None:
        """Reduced copies (2x, 4x, ... down to one block) inside the file, averaged, so a
        GIS opens a large result quickly; none for a raster of a few blocks."""
        from rasterio.enums import Resampling

        factors, side = [], max(self.like.width, self.like.height)
        while side // (2 ** (len(factors) + 1)) >= self.block and side > 4 * self.block:
            factors.append(2 ** (len(factors) + 1))
        if factors:
            self._dst.build_overviews(factors, Resampling.average)
            self._dst.update_tags(ns="rio_overview", resampling="average")

    def _rewrite_as_cog(self) -> None:
        """GDAL writes a COG only as a copy of a finished raster: the tiled GeoTIFF just
        written is copied into the COG layout (overviews first, then the blocks, in
        order), still under a temporary name."""
        from rasterio.shutil import copy

        cog = self.tmp.with_name(f"{self.tmp.name}.cog")
        try:
            with quiet():
                copy(self.tmp, cog, driver="COG", **COG_OPTIONS, BLOCKSIZE=self.block)
            os.replace(cog, self.tmp)
        finally:
            cog.unlink(missing_ok=True)

    def _write_tifffile(self) -> None:
        import tifffile

        extratags = []
        if self.nodata is not None:
            extratags.append((GDAL_NODATA_TAG, "s", 0, f"{self.nodata:g}", True))
        tiled = min(self._buffer.shape[:2]) >= 256
        one = self.count == 1  # tifffile stores H x W x 1 as 1-sample pages otherwise
        tifffile.imwrite(
            self.tmp,
            self._buffer[..., 0] if one else self._buffer,
            photometric="rgb" if self.count == 3 and self.dtype == "uint8" else "minisblack",
            planarconfig=None if one else "contig",
            tile=(256, 256) if tiled else None,
            compression="zlib",
            extratags=extratags,
            bigtiff=self._buffer.nbytes > 2**32 - 2**25,
        )

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.close(ok=kind is None)


def _colour_interpretation(count: int, rgb: tuple[int, ...]) -> list:
    """True colour interpretations: the bands of the RGB composite (``rgb``, 1-based) as
    red, green and blue (a 4-band B, G, R, NIR output with composite 3, 2, 1 reads as
    blue, green, red, undefined), gray for one band, undefined otherwise. (A GeoTIFF
    cannot store band 1 as undefined when no composite is known: GDAL reads it as
    gray.)"""
    from rasterio.enums import ColorInterp

    if count == 1:
        return [ColorInterp.gray]
    bands = [ColorInterp.undefined] * count
    if len(rgb) == 3 and all(1 <= b <= count for b in rgb):
        for band, colour in zip(
            rgb, (ColorInterp.red, ColorInterp.green, ColorInterp.blue), strict=True
        ):
            bands[band - 1] = colour
    return bands
