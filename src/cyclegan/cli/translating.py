"""What ``cyclegan translate`` and ``cyclegan progress`` do: a translation job
(``inference/bulk.py``) over images, rasters and videos, its summary, and how far
a running job has come. Under torchrun every process runs ``run_translate``; only
the first draws progress and prints.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cyclegan.cli.options import from_args, reference_network
from cyclegan.cli.progress import TaskProgress
from cyclegan.errors import CycleGANError
from cyclegan.settings import Hardware, ImageOutput, Scale, Tiling, VideoOutput


def run_translate(args: argparse.Namespace) -> int:
    """A translation job (``inference/bulk.py``): under torchrun every process runs
    this, and only the first draws progress and prints the summary."""
    from cyclegan.data.video import is_video_file
    from cyclegan.inference.bulk import translate_job
    from cyclegan.inference.files import check_no_overlap, collect_inputs
    from cyclegan.inference.translate import load_translator
    from cyclegan.model import distributed
    from cyclegan.model.precision import pick_device

    hardware = from_args(Hardware, args)
    output, tiling = from_args(ImageOutput, args), from_args(Tiling, args)
    video = from_args(VideoOutput, args)
    # A job's processes wait for the slowest at its end: a day, not the default half hour.
    ctx, device = distributed.setup(pick_device(hardware.device), timeout_minutes=24 * 60)
    try:
        translator = load_translator(
            args.model, reference_network(args), str(device), hardware.precision,
            averaged=not args.raw_weights,
        )  # fmt: skip
        translator.at_scale(from_args(Scale, args))
        files, root = collect_inputs(args.input)
        if args.input.is_file() and args.output.suffix and not args.output.is_dir():
            raise CycleGANError(
                f"--output {args.output} must be a folder (the file keeps its name)"
            )
        check_no_overlap(args.input, args.output, args.allow_overlap)
        bar = TaskProgress(args.quiet or not ctx.is_main)
        stage = f"translating {args.direction}" + (
            f" (process 0 of {ctx.world})" if ctx.active else ""
        )
        summary = translate_job(
            translator.compile() if args.compile else translator,
            files,
            root,
            args.output,
            args.direction,
            output,
            tiling,
            ctx,
            {
                "model_path": str(Path(args.model).resolve()),
                "input": str(args.input.resolve()),
                "processes": ctx.world,
            },
            on_item=bar.of(stage),
            on_file_progress=lambda src, done, total: bar(
                f"translating {src.name} ({'frames' if is_video_file(src) else 'rows'})",
                done,
                total,
            ),
            video=video,
        )
        bar.close()
    finally:
        distributed.teardown(ctx)
    if not ctx.is_main:  # the first process speaks, and its exit code tells
        return 0
    _print_summary(summary, args.direction, args.output)
    if video.flicker:
        _print_flicker(files, root, args.output, output, video)
    return 1 if summary.failures else 0


def _print_summary(summary, direction: str, output: Path) -> None:
    """What the job did: items and pixel rate overall and per process, and each failure."""
    rate = summary.pixels / summary.seconds / 1e6 if summary.seconds else 0.0
    line = (
        f"translated {summary.items} file(s) {direction} into {output}: "
        f"{summary.pixels / 1e6:.2f} Mpixel in {summary.seconds:.1f} s ({rate:.2f} Mpixel/s)"
    )
    if summary.already_done:
        line += f"; {summary.already_done} of {summary.total} done before, left as they were"
    print(line)
    if len(summary.shares) > 1:
        for share in summary.shares:
            each = share.pixels / share.seconds / 1e6 if share.seconds else 0.0
            print(
                f"  process {share.rank}: {share.items} file(s), {share.pixels / 1e6:.2f} Mpixel "
                f"in {share.seconds:.1f} s ({each:.2f} Mpixel/s)"
            )
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    if summary.failures:
        print(
            f"{len(summary.failures)} file(s) could not be translated (the others were); "
            "rerun the same command to retry them:",
            file=sys.stderr,
        )
    for key, why in summary.failures:
        print(_failure_line(key, why), file=sys.stderr)


def _print_flicker(files, root, output_dir, output, video) -> None:
    """Each translated video's flicker against its input (``evaluation/flicker.py``)."""
    from cyclegan.data.video import is_video_file
    from cyclegan.evaluation.flicker import flicker, flicker_line
    from cyclegan.inference.files import output_path

    for src in files:
        dst = output_path(src, output_dir, root, output, video)
        if is_video_file(src) and dst.exists():
            print(flicker_line(str(dst), flicker(src, dst)))


def _failure_line(key: str, why: str) -> str:
    """A file that could not be translated: its reason names it, as a rule; else both."""
    return f"failed: {why if key in why else f'{key}: {why}'}"


def run_progress(args: argparse.Namespace) -> int:
    from cyclegan.inference.manifest import progress

    state = progress(args.output)
    job, items, done = state["job"], state["items"], state["done"]
    identity = job["identity"]
    print(
        f"{args.output}: {done} of {items} done ({100 * done / max(items, 1):.1f}%), "
        f"{len(state['failed'])} failed; {identity['direction']} with {job.get('model_path')}, "
        f"started {time.strftime('%Y-%m-%d %H:%M', time.localtime(job['started']))} "
        f"with {job.get('processes', 1)} process(es)"
    )
    left = items - done - len(state["failed"])
    if state["per_second"] and left > 0:
        print(
            f"{state['per_second']:.1f} files/s over the last minute; "
            f"about {left / state['per_second']:.0f} s left"
        )
    if state["last_record_age"] is not None:
        print(f"last record {state['last_record_age']:.0f} s ago")
    for key, why in state["failed"]:
        print(_failure_line(key, why))
    return 0
