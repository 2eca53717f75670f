"""The ``cyclegan`` command line: every subcommand's options, one function each, and
how the command table (``main.COMMANDS``) becomes the parser.

The options themselves are generated from dataclasses (``options.py``); written
here by hand is only what belongs to one command alone (its inputs and outputs).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cyclegan.apps.demo import Demo
from cyclegan.cli.options import (
    HelpFormatter,
    add_access_options,
    add_direction,
    add_field,
    add_model,
    add_options,
    add_overwrite,
    add_quiet,
    add_reference_architecture,
    all_parsers,
)
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.presets import PRESETS
from cyclegan.settings import (
    Bench,
    Evaluation,
    Hardware,
    ImageOutput,
    Scale,
    Server,
    Tiling,
    VideoOutput,
)

# train's help groups, by the first field of each in TrainConfig's order (a field joins
# the group of the section it is declared in); NetworkConfig's fields are "networks".
TRAIN_SECTIONS = {"data": "data", "band_stats": "raster", "gan_mode": "train", "val_images": "val"}


def _version() -> str:
    import torch

    from cyclegan import __version__

    return f"cyclegan {__version__} (torch {torch.__version__})"


def add_train(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="a recipe for a kind of data, under the options given with it (README, "
        "Training recipes): paper (the defaults), small-data, cpu-trial",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --run from its latest checkpoint"
    )
    groups = {
        "data": train.add_argument_group("data and run"),
        "net": train.add_argument_group("networks"),
        "train": train.add_argument_group("objective, schedule and bookkeeping"),
        "val": train.add_argument_group("validation while training, the best checkpoint"),
        "raster": train.add_argument_group(
            "raster domains (multi-band, 16-bit, float, GeoTIFF; docs/rasters.md)"
        ),
    }
    group = "data"
    for f in dataclasses.fields(TrainConfig):
        group = TRAIN_SECTIONS.get(f.name, group)
        if f.name != "network":
            add_field(groups[group], f)
    for f in dataclasses.fields(NetworkConfig):
        add_field(groups["net"], f)


def add_translate(tr: argparse.ArgumentParser) -> None:
    add_model(tr)
    add_direction(tr)
    add_quiet(tr)
    tr.add_argument(
        "--input", required=True, type=Path, help="an image, raster or video file, or a folder"
    )
    tr.add_argument("--output", required=True, type=Path, help="folder for the translations")
    tr.add_argument(
        "--allow-overlap",
        action="store_true",
        help="let --output be inside --input (or the same folder); an input file is still "
        "never overwritten",
    )
    add_options(tr, ImageOutput, "files written")
    add_options(tr, VideoOutput, "videos (docs/video.md; needs the video extra)")
    add_options(tr, Tiling, "tiling (large images)")
    add_options(tr, Scale, "scale")
    add_options(tr, Hardware, "hardware")
    tr.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator: a compile first (tens of seconds on a CPU), "
        "then faster images; for long jobs of whole images",
    )
    add_reference_architecture(tr)


def add_export(ex: argparse.ArgumentParser) -> None:
    add_model(ex)
    add_direction(ex)
    add_quiet(ex)
    ex.add_argument("--output", required=True, type=Path, help="the .onnx file to write")
    add_overwrite(ex)
    ex.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime check against PyTorch"
    )
    add_reference_architecture(ex)


def add_serve(sv: argparse.ArgumentParser) -> None:
    add_model(sv)
    add_options(sv, Server, "server")
    add_options(sv, Tiling, "tiling (large uploads)")
    add_options(sv, Scale, "scale")
    add_options(sv, Hardware, "hardware")
    add_access_options(sv)
    add_reference_architecture(sv)


def add_bench(bench: argparse.ArgumentParser) -> None:
    add_options(bench, Bench)
    add_options(bench, Hardware, "hardware")
    bench.add_argument("--json", action="store_true", help="print one JSON object")


def add_evaluate(ev: argparse.ArgumentParser) -> None:
    add_model(ev, required=False)
    ev.add_argument("--data", type=Path, help="dataset folder with testA/testB")
    ev.add_argument(
        "--fake",
        type=Path,
        help="folder of generated images (with --real), or a translated video (with --video)",
    )
    ev.add_argument("--real", type=Path, help="folder of real images (with --fake)")
    ev.add_argument(
        "--video",
        type=Path,
        help="a video; with --fake, its translation: how much that flickers (docs/video.md)",
    )
    add_direction(ev, both=True)
    add_quiet(ev)
    add_options(ev, Evaluation)
    add_options(ev, Scale, "scale")
    add_options(ev, Hardware, "hardware")
    ev.add_argument("--out", type=Path, help="also write the JSON report here")
    add_overwrite(ev)
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_report(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("run", type=Path, help="the run folder")


def add_progress(prog: argparse.ArgumentParser) -> None:
    prog.add_argument("output", type=Path, help="the --output folder of a translation")


def add_results(res: argparse.ArgumentParser) -> None:
    add_model(res)
    res.add_argument("--data", required=True, type=Path, help="dataset folder")
    add_options(res, Evaluation, only=("split",))
    add_options(res, Scale, "scale")
    res.add_argument(
        "--out", required=True, type=Path, help="folder for the page (not a run folder)"
    )
    add_overwrite(res)
    add_options(res, Hardware, "hardware")
    add_quiet(res)


def add_demo(demo: argparse.ArgumentParser) -> None:
    add_options(demo, Demo)


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help and description, the function that
    adds its options and the one that runs it; or, for a command of steps (curate),
    its steps instead of a function that runs it."""

    name: str
    help: str
    description: str | None
    options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int] | None = None
    steps: tuple[Command, ...] = ()


def add_commands(sub, commands: tuple[Command, ...]) -> None:
    """A parser for each command of the table, each knowing the function that runs it
    (``args._handler``), so that the parser and the dispatch come from the one table."""
    for cmd in commands:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help)
        cmd.options(p)
        if cmd.steps:
            steps = p.add_subparsers(dest=f"{cmd.name}_step", required=True, metavar="STEP")
            add_commands(steps, cmd.steps)
        else:
            p.set_defaults(_handler=cmd.run)  # not "run": train has --run


def build_parser(commands: tuple[Command, ...]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclegan", description="Unpaired image-to-image translation with CycleGAN."
    )
    parser.add_argument(
        "--version", action="version", version=_version(), help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(sub, commands)
    for p in all_parsers(parser):
        p.formatter_class = HelpFormatter
    return parser
