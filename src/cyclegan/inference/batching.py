"""Which images go through the generator together, so that a GPU gets batches.

A GPU translates a batch of small images in about the time of one, so ``evaluate``
and validation while training hand the translator runs of consecutive images of one
size (``one_size_batches``; ``translate`` batches its files itself: ``pictures.py``),
and ``serve`` on a GPU translates the uploads that wait together (``SharedBatches``).
A batch holds at most ``batch_size`` images and ``MAX_BATCH_PIXELS`` pixels, so that
a folder of large images does not take the device's memory: images of 2048 x 2048
go one by one (``translate --batch-size N`` given by the user is kept as given).
Instance norm works on each image alone, so batching changes a translation only by
the rounding of another kernel choice: bit-equal on the Zen 4 CPU it was measured
on; the tests allow one 8-bit level.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import torch

MAX_BATCH_PIXELS = 8 * 512 * 512  # eight 512 px images, or 32 of 256 px
GPU_BATCH = 8  # what ``translate`` batches on a GPU unless told (a CPU: 1)


def default_batch(asked: int | None, device: torch.device) -> tuple[int, int | None]:
    """``translate``'s batch size and bound in pixels: ``asked``, unbounded, as the
    user said; else 8 on a GPU (where a batch of small images takes about the time of
    one) and 1 on a CPU (where it takes as long as its images one by one), within
    ``MAX_BATCH_PIXELS``."""
    if asked is not None:
        return asked, None
    return (GPU_BATCH if device.type == "cuda" else 1), MAX_BATCH_PIXELS


def fitting(size: Sequence[int], batch_size: int, max_pixels: int | None) -> int:
    """How many images of ``size`` (``(height, width, ...)``) one batch may hold."""
    if max_pixels is None:
        return batch_size
    return max(1, min(batch_size, max_pixels // max(1, size[0] * size[1])))


def one_size_batches(
    sizes: Sequence[tuple[int, ...]], batch_size: int, max_pixels: int | None = MAX_BATCH_PIXELS
) -> list[range]:
    """The images ``sizes`` (``(height, width, ...)``, anything after the two sides
    must match too) cut into batches of consecutive images of one size and at most
    ``max_pixels`` pixels (None: no bound): index ranges, in order, every image in
    exactly one."""
    batches: list[range] = []
    start = 0
    while start < len(sizes):
        size = tuple(sizes[start])
        fits = fitting(size, batch_size, max_pixels)
        end = start + 1
        while end < len(sizes) and end - start < fits and tuple(sizes[end]) == size:
            end += 1
        batches.append(range(start, end))
        start = end
    return batches


class SharedBatches:
    """Concurrent calls to ``translate`` (a ``(1, C, H, W)`` image and a direction in,
    its translation out), run one batch at a time: a caller that gets the device takes
    every waiting image of its own size and direction along, up to the pixel bound,
    and hands each its own result. Nobody waits for company, so a lone image runs at
    once; what waited behind a running batch leaves in the next one. ``serve`` uses
    it on a GPU, where a batch takes about the time of one image; on a CPU a batch
    takes as long as its images one by one, and the first would wait for the last,
    so there ``together=False`` runs each alone, in turn. ``alone=True`` in a call
    keeps that image out of batches (``serve``'s tiled uploads). A batch that runs
    out of device memory is run again one image at a time.
    """

    def __init__(self, translate: Callable[[torch.Tensor, str], torch.Tensor], together=True):
        self.translate, self.together = translate, together
        self.device = threading.Lock()  # one batch at a time
        self.waiting: list[_Waiting] = []
        self.waiting_lock = threading.Lock()
        self.sizes: list[int] = []  # the size of every batch run, for tests and benchmarks

    def __call__(self, x: torch.Tensor, direction: str, alone: bool = False) -> torch.Tensor:
        mine = _Waiting(x, direction, alone or not self.together)
        with self.waiting_lock:
            self.waiting.append(mine)
        with self.device:
            if not mine.done:  # else an earlier caller's batch took it along
                self._run(self._take(mine))
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _take(self, mine: _Waiting) -> list[_Waiting]:
        with self.waiting_lock:
            self.waiting.remove(mine)
            if mine.key is None:
                return [mine]
            fits = fitting(mine.x.shape[-2:], 1 + len(self.waiting), MAX_BATCH_PIXELS)
            along = [w for w in self.waiting if w.key == mine.key][: fits - 1]
            self.waiting = [w for w in self.waiting if w not in along]
        return [mine, *along]

    def _run(self, batch: list[_Waiting]) -> None:
        self.sizes.append(len(batch))
        try:
            out = self.translate(torch.cat([w.x for w in batch]), batch[0].direction)
            for w, y in zip(batch, out.split(1), strict=True):
                w.result = y
        except torch.OutOfMemoryError as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # what fits alone must not fail for its company: each again, alone
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                for w in batch:
                    self._run([w])
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            for w in batch:
                w.error = exc
        for w in batch:
            w.done = True


class _Waiting:
    """One caller's image, and what became of it."""

    def __init__(self, x: torch.Tensor, direction: str, alone: bool):
        self.x, self.direction = x, direction
        self.key = None if alone else (direction, tuple(x.shape))  # None: batched with none
        self.result: torch.Tensor | None = None
        self.error: BaseException | None = None
        self.done = False
