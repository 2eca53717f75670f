"""Pictures through a translator in batches, reading and writing overlapped with it.

Decoding a PNG or JPEG and encoding the result take milliseconds of CPU per image;
on a GPU the translation of a 256 px image takes less. Done one after the other,
the device waits for the files. So three things run at once: a reader thread
decodes the batch after the one being translated, the caller's thread translates
(where torch runs, and where every callback is called), and a writer thread
encodes and writes the batch before. Pillow, NumPy and torch let go of Python's
lock while they work, so threads are enough.

Nothing changes in what is written: each batch is the same images (those of one
size share a call, as before) and goes through the same ``translate_tensor``, so
the files are byte-equal to one-after-the-other's. At most one batch is read ahead
and two wait to be written, so memory stays a few batches. A file that cannot be
read is reported through ``on_done(src, None, reason)`` and skipped; an error while
writing (a full disk) stops the work, as it would without the threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from cyclegan.data.imageio import array_to_tensor, load_image, save_image, tensor_to_array
from cyclegan.errors import DataError
from cyclegan.inference.batching import MAX_BATCH_PIXELS, one_size_batches
from cyclegan.inference.translate import Translator
from cyclegan.settings import ImageOutput, Tiling

WRITES_WAITING = 2  # batches encoded behind the one being translated, at most

Done = Callable[[Path, Path | None, str | None], None]


def translate_picture_batches(
    translator: Translator,
    batches: Sequence[Sequence[Path]],
    direction: str,
    destination: Callable[[Path], Path],
    output: ImageOutput,
    tiling: Tiling,
    on_done: Done | None = None,
    on_start: Callable[[Sequence[Path]], None] | None = None,
    overlap: bool = True,
    max_batch_pixels: int | None = MAX_BATCH_PIXELS,
) -> list[Path]:
    """Translate ``batches`` of picture files, each to ``destination(src)``; returns
    the written paths. ``on_start(batch)`` when a batch starts being read,
    ``on_done(src, dst, error)`` when a file is written or failed, in input order
    within a batch (see the module's docstring). ``overlap=False`` reads and writes
    on the caller's thread, one after the other (what ``benchmarks/picture_overlap.py``
    compares against). The images of one size in a batch go through the translator
    together, ``max_batch_pixels`` at most (None: all)."""
    threads = ThreadPoolExecutor if overlap else _OneAfterTheOther
    in_nc, _ = translator.channels(direction)

    def read(batch: Sequence[Path]) -> list[tuple[Path, np.ndarray | None, str | None]]:
        loaded = []
        for src in batch:
            try:
                loaded.append((src, load_image(src, in_nc, output.max_pixels), None))
            except DataError as exc:
                loaded.append((src, None, str(exc)))
        return loaded

    def write(group: list[Path], images: torch.Tensor) -> list[tuple[Path, Path]]:
        written = []
        for src, img in zip(group, images, strict=True):
            dst = destination(src)
            save_image(tensor_to_array(img), dst, bit_depth=output.bit_depth)
            written.append((src, dst))
        return written

    written: list[Path] = []
    waiting: deque[Future] = deque()

    def report(future: Future) -> None:
        for src, dst in future.result():
            written.append(dst)
            if on_done:
                on_done(src, dst, None)

    with threads(1, "cyclegan-read") as reader, threads(1, "cyclegan-write") as writer:
        ahead = _start(reader, read, batches, 0, on_start)
        for index in range(len(batches)):
            loaded = ahead.result()
            ahead = _start(reader, read, batches, index + 1, on_start)
            by_size: dict[tuple, list] = {}
            for src, arr, error in loaded:
                if error is not None:
                    if on_done:
                        on_done(src, None, error)
                    continue
                by_size.setdefault(arr.shape, []).append((src, arr))
            for same_size in by_size.values():  # within the pixel bound (batching.py)
                sizes = [a.shape for _, a in same_size]
                for part in one_size_batches(sizes, len(same_size), max_batch_pixels):
                    group = [same_size[i] for i in part]
                    batch = torch.stack([array_to_tensor(arr) for _, arr in group])
                    out = translator.translate_tensor(batch, direction, **tiling.arguments)
                    waiting.append(writer.submit(write, [src for src, _ in group], out))
                    while len(waiting) > WRITES_WAITING or (waiting and waiting[0].done()):
                        report(waiting.popleft())
        while waiting:
            report(waiting.popleft())
    return written


def _start(reader: ThreadPoolExecutor, read, batches, index: int, on_start) -> Future | None:
    """Begin reading batch ``index`` (None past the last)."""
    if index >= len(batches):
        return None
    if on_start:
        on_start(batches[index])
    return reader.submit(read, batches[index])


class _OneAfterTheOther:
    """An executor that runs each task at once, on the caller's thread."""

    def __init__(self, *args):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the result
            future.set_exception(exc)
        return future
