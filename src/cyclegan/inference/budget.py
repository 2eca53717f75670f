"""Whether a job fits in memory, decided from sizes alone, before any work.

A raster's header or an option can name a size that no machine holds (a header of
2,000,000,000 x 16 pixels, ``bench --size 100000``); the allocation would fail
deep inside NumPy or torch, after minutes of work, with a traceback. Here the
memory a job will need is estimated from its sizes and compared with what the
machine has free (``MemAvailable``, or the physical memory where that is not
known), and a job that cannot fit is refused in one line naming what to lower.

The estimates count the large buffers each job allocates (see each function);
they are lower bounds, so a refusal is certain, and a job that passes may still
need more (the network's own activations, the allocator's slack).
"""

from __future__ import annotations

import os

from cyclegan.errors import TooLarge

FLOAT = 4  # bytes of a float32


def available_bytes() -> int:
    """Memory this process can still use: Linux's MemAvailable, else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63  # unknown: never refuse on a guess


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_fits(need: float, what: str, lower: str, free: int | None = None) -> None:
    """Refuse a job needing ``need`` bytes when the machine (or ``free``: a GPU's free
    memory) has less."""
    free = available_bytes() if free is None else free
    if need > free:
        raise TooLarge(
            f"{what} needs at least {_gib(need)} of memory and this machine has {_gib(free)} "
            f"free; {lower}"
        )


def streamed_raster_bytes(width: int, height: int, bands_in: int, bands_out: int,
                          tile: int, overlap: int) -> float:  # fmt: skip
    """``stream.translate_raster``: the overlap rows across the whole width (their sums
    and weights, twice: the rows shared with the next row of tiles and those carried
    from the last), one tile's accumulator, and one tile read and scaled."""
    sums = (bands_out + 1) * FLOAT
    across = 2 * sums * min(overlap, height) * width
    return across + sums * tile * tile + 2 * bands_in * FLOAT * tile * tile


def in_memory_bytes(width: int, height: int, bands_in: int, bands_out: int) -> float:
    """A whole image or raster in memory (``Translator.translate``): it in float32,
    scaled, and its translation with the tiled path's sums and weights."""
    return FLOAT * width * height * (2 * bands_in + 2 * (bands_out + 1))


def network_bytes(batch: int, channels: int, side: int) -> float:
    """One pass of a generator at ``side`` x ``side`` holds its first feature map,
    ``channels`` (ngf) wide at full resolution, at the least."""
    return FLOAT * batch * channels * side * side
