"""Which images go through the generator together, so that a GPU gets batches.

A GPU translates a batch of small images in about the time of one, so ``evaluate``
and validation while training hand the translator runs of consecutive images of one
size (``translate`` batches its files itself: ``pictures.py``). A batch holds at most
``batch_size`` images and ``MAX_BATCH_PIXELS`` pixels, so that a folder of large
images does not take the device's memory: images of 2048 x 2048 go one by one.
Instance norm works on each image alone, so batching changes a translation only by
the rounding of another kernel choice (none on this project's CPUs: tested).
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_BATCH_PIXELS = 8 * 512 * 512  # eight 512 px images, or 32 of 256 px


def one_size_batches(sizes: Sequence[tuple[int, ...]], batch_size: int) -> list[range]:
    """The images ``sizes`` (``(height, width, ...)``, anything after the two sides
    must match too) cut into batches of consecutive images of one size: index ranges,
    in order, every image in exactly one."""
    batches: list[range] = []
    start = 0
    while start < len(sizes):
        size = tuple(sizes[start])
        fits = max(1, min(batch_size, MAX_BATCH_PIXELS // max(1, size[0] * size[1])))
        end = start + 1
        while end < len(sizes) and end - start < fits and tuple(sizes[end]) == size:
            end += 1
        batches.append(range(start, end))
        start = end
    return batches
