"""Translating files and folders: which files an ``--input`` names, where each
translation goes, and the guards that keep every input file safe. Pictures go in
batches, read and written while the translator works (``pictures.py``); rasters
stream (``stream.py``), videos stream frame by frame (``video.py``).

Outputs keep their input's name (and sub-folder below a folder input), in the
input's format or the one asked for. Before any work, every output is checked
against every input: a translation never writes over an input file, and an
output folder inside the input folder is refused unless asked for. An output file
that exists already is refused unless ``--overwrite`` (``check_new_outputs``: the
rule of every command that writes files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from cyclegan import directions
from cyclegan.data.imageio import check_bit_depth, is_image_file
from cyclegan.data.rasters import is_raster_path, raster_info
from cyclegan.data.video import is_video_file
from cyclegan.errors import ConfigError, DataError
from cyclegan.inference.batching import default_batch
from cyclegan.inference.pictures import translate_picture_batches
from cyclegan.inference.raster_values import source_stats, target_stats
from cyclegan.inference.stream import check_raster_job, translate_raster
from cyclegan.inference.translate import Translator
from cyclegan.inference.video import translate_video, video_suffix
from cyclegan.settings import ImageOutput, Tiling, VideoOutput


def translate_files(
    translator: Translator,
    inputs: list[Path],
    output_dir: Path,
    direction: str,
    root: Path | None = None,
    output: ImageOutput | None = None,
    tiling: Tiling | None = None,
    on_done: Callable[[Path, Path | None, str | None], None] | None = None,
    on_file_progress: Callable[[Path, int, int], None] | None = None,
    video: VideoOutput | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[Path]:
    """Translate files into ``output_dir``, keeping their names (and sub-folders below
    ``root``); ``output`` says in which format, bit depth and batches (images of equal
    size share one, as do a video's frames), ``tiling`` how large images are split,
    ``video`` how videos are written.

    Rasters (a model of raster domains, or a georeferenced TIFF) stream into
    GeoTIFFs (``stream.py``) and videos into videos (``video.py``), reporting
    ``on_file_progress(src, done, total)`` in rows of tiles or frames, and what a
    video left out or could not decode through ``on_note(text)``. A file that cannot
    be read is reported through ``on_done(src, None, reason)`` and skipped; the
    others are still translated. Returns the written paths.
    """
    output, tiling = output or ImageOutput(), tiling or Tiling()
    if tiling.tile is not None:  # options first, then files
        translator.check_tiling(tiling.tile, tiling.tile_overlap, tiling.tile_stats_size)
    existing = check_outputs(translator, inputs, output_dir, direction, root, output, video)
    check_new_outputs(existing, output.overwrite)
    return translate_items(translator, inputs, output_dir, direction, root, output, tiling,
                           on_done, on_file_progress, video, on_note)  # fmt: skip


def check_outputs(
    translator: Translator,
    inputs: list[Path],
    output_dir: Path,
    direction: str,
    root: Path | None,
    output: ImageOutput,
    video: VideoOutput | None = None,
) -> list[Path]:
    """Before any work: every picture's output can hold the bit depth, and no output is
    an input file (refused). Returns the outputs that exist already."""
    out_nc = translator.channels(direction)[1]
    originals = {Path(p).resolve() for p in inputs}
    existing = []
    for src in inputs:
        dst = output_path(src, output_dir, root, output, video)
        raster = is_raster_path(src) and translator.sides(direction)[0].raster
        if not (raster or is_video_file(src)):  # (theirs: the data type; 8-bit video)
            check_bit_depth(dst, output.bit_depth, out_nc)
        if dst.resolve() in originals:
            raise ConfigError(
                f"{dst} is an input file: translating would overwrite it. Choose another "
                "--output folder or --format"
            )
        if dst.exists() or dst.is_symlink():
            existing.append(dst)
    return existing


def translate_items(
    translator: Translator,
    inputs: list[Path],
    output_dir: Path,
    direction: str,
    root: Path | None,
    output: ImageOutput,
    tiling: Tiling,
    on_done: Callable[[Path, Path | None, str | None], None] | None = None,
    on_file_progress: Callable[[Path, int, int], None] | None = None,
    video: VideoOutput | None = None,
    on_note: Callable[[str], None] | None = None,
    on_start: Callable[[list[Path]], None] | None = None,
) -> list[Path]:
    """``translate_files`` after its checks: existing outputs are replaced (atomically).
    ``on_start(batch)`` when a batch of pictures starts being read."""
    videos = [src for src in inputs if is_video_file(src)]
    batch, max_pixels = default_batch(output.batch_size, translator.device)
    output = replace(output, batch_size=batch)
    written = []
    for src in videos:  # one at a time, streamed (video.py)
        dst = output_path(src, output_dir, root, output, video)
        frames = (lambda d, t, src=src: on_file_progress(src, d, t)) if on_file_progress else None
        try:
            done = translate_video(translator, src, dst, direction, tiling, video,
                                   output.batch_size, frames, max_pixels)  # fmt: skip
        except DataError as exc:
            if on_done is None:
                raise
            on_done(src, None, str(exc))
            continue
        for note in done.notes:
            if on_note:
                on_note(note)
        written.append(dst)
        if on_done:
            on_done(src, dst, None)
    pictures_and_rasters = [src for src in inputs if not is_video_file(src)]
    rasters, pictures = _split_rasters(translator, direction, pictures_and_rasters, output, on_done)
    for src in rasters:  # one at a time, streamed (stream.py)
        dst = output_path(src, output_dir, root, output)
        rows = (lambda d, t, src=src: on_file_progress(src, d, t)) if on_file_progress else None
        written.append(
            translate_raster(
                translator,
                src,
                dst,
                direction,
                tiling,
                output.output_dtype,
                rows,
                overwrite=True,  # (existing outputs were checked by the caller)
                output_nodata=output.output_nodata,
                cog=output.cog,
            )
        )
        if on_done:
            on_done(src, dst, None)
    written += _translate_pictures(translator, pictures, output_dir, direction, root, output,
                                   tiling, on_done, on_start, max_pixels)  # fmt: skip
    return written


def _translate_pictures(translator, pictures, output_dir, direction, root, output, tiling, on_done,
                        on_start=None, max_pixels=None):  # fmt: skip
    """Pictures in batches of ``output.batch_size`` files (and at most ``max_pixels``),
    reading and writing overlapped with the translation (``pictures.py``); returns the
    written."""
    return translate_picture_batches(
        translator,
        list(_chunks(pictures, output.batch_size)),
        direction,
        lambda src: output_path(src, output_dir, root, output),
        output,
        tiling,
        on_done,
        on_start,
        max_batch_pixels=max_pixels,
    )


def _split_rasters(translator, direction, inputs, output, on_done):
    """(rasters, pictures) among ``inputs``, each raster checked before any is written;
    a raster that cannot be translated is reported through ``on_done`` and left out."""
    raster_model = translator.sides(direction)[0].raster
    rasters, pictures = [], []
    for src in inputs:
        try:
            if not is_raster_path(src):
                if raster_model:
                    raise DataError(
                        f"{src}: this model translates rasters of domain "
                        f"{directions.source(direction)}; give TIFF files"
                    )
                pictures.append(src)
                continue
            info = raster_info(src)
            if not raster_model and not info.georeferenced:
                pictures.append(src)  # a plain TIFF picture: imageio reads it
                continue
            if output.format not in (None, "tiff"):
                raise ConfigError(f"{src}: rasters are written as GeoTIFF, not {output.format}")
            source_stats(translator, direction, info)
            check_raster_job(info, output.output_dtype or target_stats(translator, direction).dtype)
            rasters.append(src)
        except DataError as exc:
            if on_done is None:
                raise
            on_done(src, None, str(exc))
    return rasters, pictures


def output_path(
    src: Path,
    output_dir: Path,
    root: Path | None,
    output: ImageOutput,
    video: VideoOutput | None = None,
) -> Path:
    """Where a translation is written: the same relative path, the extension of the
    format asked for (``--format`` for pictures, ``--video-format`` for videos)."""
    dst = output_dir / (src.relative_to(root) if root else Path(src.name))
    if is_video_file(src):
        return dst.with_suffix(video_suffix(src, video or VideoOutput()))
    return dst.with_suffix("." + output.format.lower().lstrip(".")) if output.format else dst


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), max(size, 1)):
        yield items[i : i + size]


def check_new_outputs(existing: list[Path], overwrite: bool) -> None:
    """The one rule for files a command writes: one that exists already is replaced
    only with ``--overwrite``; without it the command refuses before any work,
    naming it. (An input file is never replaced, with or without it.)"""
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more files" if len(existing) > 1 else ""
        them = "them" if more else "it"
        raise ConfigError(
            f"{existing[0]}{more} exist{'' if more else 's'} already; pass --overwrite to "
            f"replace {them}, or choose another --output"
        )


def collect_inputs(path: Path) -> tuple[list[Path], Path | None]:
    """The image and video files a ``--input`` names, and the root their relative paths
    start from."""
    path = Path(path)
    if path.is_file():
        return [path], None
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and (is_image_file(p) or is_video_file(p))
        )
        if not files:
            raise DataError(f"{path}: no image or video files in this folder")
        return files, path
    raise DataError(f"{path}: no such file or folder")


def check_no_overlap(input_path: Path, output_dir: Path, allowed: bool = False) -> None:
    """Refuse an output folder that is, or lies inside, an input folder, or holds it:
    translations would land among the originals, or be read as inputs next time.
    ``allowed`` lets them share a tree; overwriting an input file is refused anyway,
    file by file, in ``translate_files``."""
    src = Path(input_path).resolve()
    out = Path(output_dir).resolve()
    if allowed or not src.is_dir():  # one file: only writing over it would harm
        return
    if out.is_relative_to(src) or src.is_relative_to(out):  # the same folder is both
        raise ConfigError(
            f"--output {output_dir} overlaps --input {input_path}: the translations would "
            "mix with the originals. Choose an output folder outside the input, or pass "
            "--allow-overlap (input files are never overwritten)"
        )
