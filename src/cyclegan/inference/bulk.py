"""Translating many files as one job, in one process or many (torchrun): every input
translated once, by one process, and a rerun doing only what is left.

    torchrun --standalone --nproc_per_node 4 -m cyclegan translate --input DIR --output OUT

How it runs:

1. **The plan**, on the first process alone, holding the output folder's lock
   (``manifest.output_lock``): the same checks as one process (no input is
   overwritten, the bit depth fits), then the manifest (``manifest.open_job``)
   says which inputs are done already; the rest is sent to every process.
2. **The split**: each process reads the image headers of every N-th pending
   item (a million headers read by one process would keep the others waiting),
   and all of them gather the pixel counts. Each then deals the items out by the
   same rule, so all agree without another message: largest first, each to the
   process with the fewest pixels so far (longest-processing-time-first; the
   heaviest process ends within one item of the lightest). No item is repeated to
   even the shares out, as ``DistributedSampler`` pads with duplicates, and none
   is left out: the shares are a partition of the pending items. A process
   translates its share's TIFFs and videos one at a time, then its pictures in
   input order, in batches of ``--batch-size``, read and written while the
   translator works (``pictures.py``).
3. **One large raster** alone (a single scene, more than one row of tiles) is
   shared by rows of tiles instead (``raster_shards.py``).
4. **The summary**: each process's items, pixels, time and failures are gathered
   to the first, which prints them. A file that cannot be read is recorded as
   failed and skipped; the others go on.

Every output is the one a one-process run writes: the same code translates it, at
the same batch composition where ``--batch-size`` is 1 (the default), so with the
same threads per process the files are byte-equal (a different thread count may
split a reduction differently: equal on the machine of docs/benchmarks.md, not
promised); larger batches mix different images per batch on different process
counts, which can move a pixel by one level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cyclegan.data.imageio import image_size
from cyclegan.data.rasters import is_raster_path, raster_info
from cyclegan.data.video import is_video_file, probe
from cyclegan.errors import CycleGANError, DataError, OtherProcessFailed
from cyclegan.inference import manifest, raster_shards
from cyclegan.inference.files import check_outputs, output_path, translate_items
from cyclegan.inference.manifest import Item, Records
from cyclegan.inference.translate import Translator
from cyclegan.model import distributed
from cyclegan.model.distributed import Context
from cyclegan.settings import ImageOutput, Tiling, VideoOutput


@dataclass
class Share:
    """What one process did."""

    rank: int
    items: int = 0
    pixels: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input, why)
    notes: list[str] = field(default_factory=list)  # what a video left out or could not decode


@dataclass
class JobSummary:
    """What the whole job did, every process's share in rank order."""

    total: int  # inputs of the job
    already_done: int  # skipped: done by an earlier run
    shares: list[Share]
    seconds: float  # from the plan to the last process's end

    @property
    def items(self) -> int:
        return sum(s.items for s in self.shares)

    @property
    def pixels(self) -> int:
        return sum(s.pixels for s in self.shares)

    @property
    def failures(self) -> list[tuple[str, str]]:
        return sorted(f for s in self.shares for f in s.failures)

    @property
    def notes(self) -> list[str]:
        return sorted(n for s in self.shares for n in s.notes)


def balance(pixels: list[int], world: int) -> list[list[int]]:
    """Item indices per process: the largest first, each to the least loaded (ties:
    the lowest index, the lowest rank), each process's list in input order."""
    loads, shares = [0] * world, [[] for _ in range(world)]
    for i in sorted(range(len(pixels)), key=lambda i: (-pixels[i], i)):
        rank = min(range(world), key=lambda r: (loads[r], r))
        shares[rank].append(i)
        loads[rank] += max(pixels[i], 1)  # an unreadable file still costs a try
    return [sorted(s) for s in shares]


def pixel_count(path: Path) -> int:
    """Width x height (x frames) from the file's header (0 when it cannot be read:
    the translation reports why)."""
    try:
        if is_video_file(path):
            info = probe(path)
            return info.width * info.height * max(info.frames, 1)
        if is_raster_path(path):
            info = raster_info(path)
            return info.width * info.height
        width, height = image_size(path)
        return width * height
    except (CycleGANError, OSError):
        return 0


def translate_job(
    translator: Translator,
    inputs: list[Path],
    root: Path | None,
    output_dir: Path,
    direction: str,
    output: ImageOutput,
    tiling: Tiling,
    ctx: Context,
    described: dict,
    on_item: Callable[[int, int], None] | None = None,
    on_file_progress: Callable[[Path, int, int], None] | None = None,
    video: VideoOutput | None = None,
) -> JobSummary:
    """Translate ``inputs`` (below ``root``) into ``output_dir`` as this process's part
    of the job (see the module's docstring); every process calls it. ``described``
    goes into the manifest for people (model path, input). ``on_item(done, of)``
    after each of this process's items, ``on_file_progress`` as ``translate_files``'s;
    ``video``: how videos are written (each video is one item, of one process)."""
    if tiling.tile is not None:  # options first, then files
        translator.check_tiling(tiling.tile, tiling.tile_overlap, tiling.tile_stats_size)
    video = video or VideoOutput()
    has_videos = any(is_video_file(src) for src in inputs)
    identity = manifest.job_identity(
        translator, direction, output, tiling, video if has_videos else None
    )
    job = manifest.job_id(identity)
    start = time.perf_counter()
    lock = manifest.output_lock(output_dir) if ctx.is_main else None
    try:
        plan = (
            _plan(
                translator,
                inputs,
                root,
                output_dir,
                direction,
                output,
                video,
                identity,
                described,
                lock,
            )  # fmt: skip
            if ctx.is_main
            else None
        )
        plan = distributed.broadcast_object(plan, ctx)
        if "error" in plan:
            raise CycleGANError(plan["error"]) if ctx.is_main else OtherProcessFailed()
        pending = plan["pending"]
        work = _Work(translator, output_dir, root, direction, output, tiling, video,
                     Records(output_dir, job, ctx.rank))  # fmt: skip
        if (
            len(pending) == 1
            and ctx.active
            and raster_shards.shardable(translator, pending[0].src, direction, tiling)
        ):
            share = _share_raster(work, pending[0], ctx, job, on_file_progress)
        else:
            pixels = _gathered_pixels(pending, ctx)
            mine = [pending[i] for i in balance(pixels, ctx.world)[ctx.rank]]
            sizes = {item.key: pixels[i] for i, item in enumerate(pending)}
            share = _share_items(work, mine, sizes, ctx.rank, on_item, on_file_progress)
        shares = distributed.gather_objects(share, ctx)
    finally:
        if lock is not None:
            lock.release()
    total, pending_count = plan["total"], len(plan["pending"])
    return JobSummary(total, total - pending_count, shares, time.perf_counter() - start)


def _plan(translator, inputs, root, output_dir, direction, output, video, identity, described,
          lock):  # fmt: skip
    """The first process's plan: what is left to do, or the error that stops the job."""
    existed, locked = output_dir.exists(), False
    try:
        lock.acquire()
        locked = True
        check_outputs(translator, inputs, output_dir, direction, root, output, video)
        items = [
            Item.of(src, output_path(src, output_dir, root, output, video), _key(src, root))
            for src in inputs
        ]
        pending = manifest.open_job(output_dir, identity, items, described, output.overwrite)
    except (CycleGANError, OSError) as exc:
        lock.release()
        if locked:  # a refused job leaves nothing behind (and another job's lock alone)
            manifest.remove_if_unused(output_dir, existed)
        return {"error": str(exc)}
    return {"pending": pending, "total": len(items)}


def _key(src: Path, root: Path | None) -> str:
    return (src.relative_to(root) if root else Path(src.name)).as_posix()


def _gathered_pixels(pending: list[Item], ctx: Context) -> list[int]:
    """Every pending item's pixels, each process reading every N-th header."""
    mine = [pixel_count(item.src) for item in pending[ctx.rank :: ctx.world]]
    pixels = [0] * len(pending)
    for rank, counts in enumerate(distributed.gather_objects(mine, ctx)):
        pixels[rank :: ctx.world] = counts
    return pixels


@dataclass(frozen=True)
class _Work:
    """What every item of a job is translated with, and where its records go."""

    translator: Translator
    output_dir: Path
    root: Path | None
    direction: str
    output: ImageOutput
    tiling: Tiling
    video: VideoOutput
    records: Records


def _share_items(work: _Work, mine: list[Item], sizes: dict, rank: int, on_item, on_file_progress):
    """Translate this process's items, recording each: each TIFF and video alone (a
    TIFF may be a raster, which streams by itself and may fail halfway: then it alone
    failed), then the pictures in batches of ``--batch-size``, in input order."""
    share, start, finished = Share(rank), time.perf_counter(), 0
    records, by_src, began = work.records, {item.src: item for item in mine}, {}

    def started(sources):
        for src in sources:
            records.started(by_src[src])
            began[src] = time.perf_counter()

    def done(src, dst, error):
        nonlocal finished
        item, finished = by_src[src], finished + 1
        if error:
            records.failed(item, error)
            share.failures.append((item.key, error))
        else:
            seconds = time.perf_counter() - began.get(src, start)
            records.done(item, sizes[item.key], seconds)
            share.items, share.pixels = share.items + 1, share.pixels + sizes[item.key]
        if on_item:
            on_item(finished, len(mine))

    def translate(sources, on_start=None):
        translate_items(work.translator, sources, work.output_dir, work.direction,
                        work.root, work.output, work.tiling, done, on_file_progress,
                        work.video, share.notes.append, on_start)  # fmt: skip

    alone = {item.key for item in mine if is_raster_path(item.src) or is_video_file(item.src)}
    for item in (item for item in mine if item.key in alone):
        started([item.src])
        try:
            translate([item.src])
        except DataError as exc:  # a raster that fails while it streams
            done(item.src, None, str(exc))
    pictures = [item.src for item in mine if item.key not in alone]
    if pictures:  # one call, so that reading and writing overlap across its batches
        translate(pictures, on_start=started)
    share.seconds = time.perf_counter() - start
    return share


def _share_raster(work: _Work, item: Item, ctx: Context, job: str, on_file_progress) -> Share:
    """This process's rows of one large raster; the first process assembles the parts."""
    share, start = Share(ctx.rank), time.perf_counter()
    translator, tiling, records = work.translator, work.tiling, work.records
    spans = raster_shards.share_rows(
        raster_shards.rows_of_tiles(translator, item, tiling), ctx.world
    )
    first, end = spans[ctx.rank]
    if ctx.is_main:
        records.started(item)
    outcome = None
    if end > first:
        rows = (lambda d, t: on_file_progress(item.src, d, t)) if on_file_progress else None
        try:
            path, pixels = raster_shards.translate_part(
                translator,
                item,
                work.output_dir,
                work.direction,
                work.output,
                tiling,
                job,
                (first, end),
                rows,
            )
            outcome, share.pixels = str(path), pixels
        except DataError as exc:
            share.failures.append((item.key, str(exc)))
    outcomes = distributed.gather_objects((end > first, outcome), ctx)
    if ctx.is_main:
        parts = [Path(o) for used, o in outcomes if used and o is not None]
        if len(parts) == sum(used for used, _ in outcomes):
            raster_shards.assemble(
                translator, item, parts, work.direction, work.output, tiling, ctx.world
            )
            records.done(item, pixel_count(item.src), time.perf_counter() - start)
            share.items = 1
        else:
            records.failed(item, "a part could not be translated")
    share.seconds = time.perf_counter() - start
    return share
