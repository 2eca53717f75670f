"""A domain: how its files become the [0, 1] arrays the networks see, and back.

Two kinds, decided by the files themselves:

- **pictures** (JPEG, PNG, 8-bit TIFF, ...; 1 or 3 channels): ``imageio.py``
  scales by the data type's range, as the reference does;
- **rasters** (TIFFs of any band count, or of 16-bit, signed or float data, or
  with coordinates): read at full depth by ``rasters.py`` and scaled band by band
  with the domain's ``BandStats`` (``bands.py``), which checkpoints keep.

A ``Domain`` is a small picklable value: data-loader workers, validation, the
sample grids and translation all read a domain's files through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cyclegan.config import TrainConfig
from cyclegan.data.bands import BandStats, display, domain_statistics
from cyclegan.data.imageio import load_image
from cyclegan.data.rasters import is_raster_path, nodata_mask, raster_info, read_raster
from cyclegan.errors import ConfigError, DataError


@dataclass(frozen=True)
class Domain:
    """One side of the translation; ``stats`` is None for a domain of pictures."""

    channels: int
    stats: BandStats | None = None

    @property
    def raster(self) -> bool:
        return self.stats is not None

    def load(self, path: Path, window: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """A file (or a window ``(row, col, height, width)`` of a raster) as float32
        ``H x W x channels`` in [0, 1]."""
        return self.load_with_mask(path, window)[0]

    def load_with_mask(
        self, path: Path, window: tuple[int, int, int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``load``, and the ``H x W`` nodata mask (None for pictures)."""
        if self.stats is None:
            return load_image(path, self.channels), None
        raw = read_raster(path, self.stats.bands, window)
        if raw.shape[2] != self.channels:
            raise DataError(f"{path}: {raw.shape[2]} band(s) where this domain has {self.channels}")
        return self.stats.normalize(raw)

    def display(self, arr: np.ndarray) -> np.ndarray:
        """A [0, 1] array of this domain as an ``H x W x 3`` picture to look at."""
        return display(arr, self.stats.rgb if self.stats else ())

    def describe(self) -> str:
        if self.stats is None:
            return f"{self.channels}-channel pictures"
        s = self.stats
        chosen = f" (bands {','.join(map(str, s.bands))})" if s.bands else ""
        return f"{s.count}-band {s.dtype} rasters{chosen}, scaled by {s.method}"

    def to_dict(self) -> dict:
        return {"channels": self.channels, "stats": self.stats.to_dict() if self.stats else None}

    @classmethod
    def from_dict(cls, values: dict) -> Domain:
        stats = values.get("stats")
        return cls(int(values["channels"]), BandStats.from_dict(stats) if stats else None)


def picture_domains(network) -> dict[str, Domain]:
    """Both domains of a model of pictures (``network``: its ``NetworkConfig``), from
    its channel counts: the default wherever no raster domains are given."""
    return {"A": Domain(network.input_nc), "B": Domain(network.output_nc)}


def holds_rasters(files: list[Path], label: str) -> bool:
    """Whether a domain's files are rasters rather than pictures (see the module's
    docstring); a domain that mixes the two is refused."""
    tiffs = [p for p in files if is_raster_path(p)]
    rasters = []
    for path in tiffs:
        try:
            if not raster_info(path).plain_image:
                rasters.append(path)
        except DataError:
            continue  # unreadable files are reported by the image check
    if rasters and len(tiffs) < len(files):
        other = next(p for p in files if not is_raster_path(p))
        raise DataError(
            f"domain {label} mixes rasters ({rasters[0]}) with pictures ({other}); "
            "give each domain one kind of file"
        )
    return bool(rasters)


def build_domains(
    cfg: TrainConfig,
    files: dict[str, list[Path]],
    warn: Callable[[str], None],
    saved: dict | None = None,
) -> tuple[TrainConfig, dict[str, Domain]]:
    """Each domain of a run, and the configuration with its channel counts set from
    raster domains' band counts. ``saved`` (a checkpoint's domains) is taken as it is:
    a resumed run keeps the statistics it started with."""
    net = cfg.network
    domains = {}
    for label, channels in (("A", net.input_nc), ("B", net.output_nc)):
        options = cfg.domain_options[label]
        if saved and saved.get(label):
            domains[label] = Domain.from_dict(saved[label])
        elif holds_rasters(files[label], label):
            stats = domain_statistics(
                files[label],
                label,
                method=cfg.band_stats,
                clip=cfg.band_clip,
                bands=options.bands,
                nodata=options.nodata,
                stats_file=options.stats_file,
                seed=cfg.seed,
                rgb=options.rgb,
                warn=warn,
            )
            domains[label] = Domain(stats.count, stats)
        else:
            if channels not in (1, 3):
                option = "input_nc" if label == "A" else "output_nc"
                raise ConfigError(
                    f"option {option!r} is {channels}, but domain {label} holds pictures "
                    "(1 or 3 channels); more bands need TIFF rasters"
                )
            domains[label] = Domain(channels)
    network = replace(net, input_nc=domains["A"].channels, output_nc=domains["B"].channels)
    return replace(cfg, network=network), domains


def preview(path: Path) -> np.ndarray:
    """Any image file as ``H x W x 3`` in [0, 1] to look at before training: a picture
    as it is; a raster stretched band by band between the 2nd and 98th percentiles
    of its valid pixels, its first three bands as RGB or its first as gray."""
    if not is_raster_path(path) or raster_info(path).plain_image:
        return load_image(path, 3)
    raw = read_raster(path)
    valid = ~nodata_mask(raw, raster_info(path).nodata)
    pixels = raw[valid].astype(np.float64) if valid.any() else raw.reshape(-1, raw.shape[2])
    low, high = np.percentile(pixels, 2, axis=0), np.percentile(pixels, 98, axis=0)
    arr = np.clip((raw - low) / np.maximum(high - low, 1e-12), 0, 1).astype(np.float32)
    arr[~valid] = 0.0
    return display(arr)
