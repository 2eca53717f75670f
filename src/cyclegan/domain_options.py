"""One domain's raster options, parsed: what ``TrainConfig.domain_options`` gives for
each side from the flat ``--bands-a``, ``--nodata-a``, ``--stats-a``, ``--rgb-a``
(and ``-b``) fields, which stay flat so that saved runs read as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from cyclegan.errors import ConfigError


@dataclass(frozen=True)
class DomainOptions:
    """One domain's raster options as ``TrainConfig.domain_options`` parses them from
    the flat ``--bands-a``, ``--nodata-a``, ``--stats-a``, ``--rgb-a`` (and ``-b``)."""

    bands: tuple[int, ...] | None  # 1-based bands read from each file (None: all)
    nodata: float | None  # None: the files' own
    stats_file: str  # "": statistics computed from the files
    rgb: tuple[int, ...]  # the bands shown as red, green, blue (): the first three


def parse_bands(text: str, what: str) -> tuple[int, ...] | None:
    """``"4,3,2"`` -> (4, 3, 2); empty -> None. Bands count from 1, as in GDAL."""
    if not text.strip():
        return None
    try:
        bands = tuple(int(b) for b in text.replace(" ", "").split(","))
    except ValueError:
        raise ConfigError(f"option {what!r} is {text!r}: give band numbers like 4,3,2") from None
    if any(b < 1 for b in bands):
        raise ConfigError(f"option {what!r} is {text!r}: bands count from 1")
    return bands


def parse_nodata(text: str, what: str) -> float | None:
    """``""`` -> None (the file's own), else a number or ``nan``."""
    if not str(text).strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"option {what!r} is {text!r}: give a number or nan") from None
