"""The ``cyclegan`` command line: every subcommand's parser, one function each.

The options themselves are generated from dataclasses (``options.py``); written
here by hand is only what belongs to one command alone (its inputs and outputs).
"""

from __future__ import annotations

import argparse
import dataclasses
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
from cyclegan.settings import (
    MODEL_HELP,
    Bench,
    Evaluation,
    Hardware,
    ImageOutput,
    Scale,
    Server,
    Tiling,
)

# The training options shown under "data and run" in train's help; the rest under
# "objective, schedule and bookkeeping", and NetworkConfig's under "networks".
TRAIN_VALIDATION_OPTIONS = ("val_images", "val_every", "val_budget", "val_metric", "early_stop")
TRAIN_RASTER_OPTIONS = ("band_stats", "band_clip", "bands_a", "bands_b", "nodata_a", "nodata_b",
                        "stats_a", "stats_b", "rgb_a", "rgb_b")  # fmt: skip
TRAIN_DATA_OPTIONS = (
    "data",
    "run",
    "preprocess",
    "load_size",
    "crop_size",
    "flip",
    "max_dataset_size",
    "skip_bad_images",
    "num_workers",
)


def _version() -> str:
    import torch

    from cyclegan import __version__

    return f"cyclegan {__version__} (torch {torch.__version__})"


def _add_train(train: argparse.ArgumentParser) -> None:
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
    group_of = {
        **dict.fromkeys(TRAIN_DATA_OPTIONS, "data"),
        **dict.fromkeys(TRAIN_VALIDATION_OPTIONS, "val"),
        **dict.fromkeys(TRAIN_RASTER_OPTIONS, "raster"),
    }
    for f in dataclasses.fields(TrainConfig):
        if f.name != "network":
            add_field(groups[group_of.get(f.name, "train")], f)
    for f in dataclasses.fields(NetworkConfig):
        add_field(groups["net"], f)


def _add_translate(tr: argparse.ArgumentParser) -> None:
    add_model(tr)
    add_direction(tr)
    add_quiet(tr)
    tr.add_argument("--input", required=True, type=Path, help="an image file or a folder")
    tr.add_argument("--output", required=True, type=Path, help="folder for the translations")
    tr.add_argument(
        "--allow-overlap",
        action="store_true",
        help="let --output be inside --input (or the same folder); an input file is still "
        "never overwritten",
    )
    add_options(tr, ImageOutput, "files written")
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


def _add_export(ex: argparse.ArgumentParser) -> None:
    add_model(ex)
    add_direction(ex)
    add_quiet(ex)
    ex.add_argument("--output", required=True, type=Path, help="the .onnx file to write")
    add_overwrite(ex)
    ex.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime check against PyTorch"
    )
    add_reference_architecture(ex)


def _add_serve(sv: argparse.ArgumentParser) -> None:
    add_model(sv)
    add_options(sv, Server, "server")
    add_options(sv, Tiling, "tiling (large uploads)")
    add_options(sv, Scale, "scale")
    add_options(sv, Hardware, "hardware")
    add_access_options(sv)
    add_reference_architecture(sv)


def _add_bench(bench: argparse.ArgumentParser) -> None:
    add_options(bench, Bench)
    add_options(bench, Hardware, "hardware")
    bench.add_argument("--json", action="store_true", help="print one JSON object")


def _add_evaluate(ev: argparse.ArgumentParser) -> None:
    ev.add_argument("--model", help=MODEL_HELP)
    ev.add_argument("--data", type=Path, help="dataset folder with testA/testB")
    ev.add_argument("--fake", type=Path, help="folder of generated images (with --real)")
    ev.add_argument("--real", type=Path, help="folder of real images (with --fake)")
    add_direction(ev, both=True)
    add_quiet(ev)
    add_options(ev, Evaluation)
    add_options(ev, Scale, "scale")
    add_options(ev, Hardware, "hardware")
    ev.add_argument("--out", type=Path, help="also write the JSON report here")
    add_overwrite(ev)
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_report(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("run", type=Path, help="the run folder")


def _add_results(res: argparse.ArgumentParser) -> None:
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


def _add_demo(demo: argparse.ArgumentParser) -> None:
    add_options(demo, Demo)


# Every subcommand but curate (curate/cli.py): its one-line help, its description,
# and the function that adds its options.
COMMANDS = {
    "train": (
        "train a CycleGAN on two folders of images",
        "Train a CycleGAN. Options keep the reference's names.",
        _add_train,
    ),
    "translate": (
        "translate an image or a folder of images",
        "Translate images with a trained model, at their own size.",
        _add_translate,
    ),
    "export": (
        "write a generator as an ONNX model (any image size)",
        "Export one direction's generator to ONNX, with the padding to its size "
        "multiple inside the graph, and check the file against PyTorch in onnxruntime. "
        "Needs the export extra: pip install 'cyclegan[export]'.",
        _add_export,
    ),
    "serve": (
        "a web page that translates uploaded images",
        "Serve a page (and a small HTTP API) that translates the images "
        "dropped on it, both directions. Needs the serve extra: pip install 'cyclegan[serve]'.",
        _add_serve,
    ),
    "bench": (
        "time training and inference against fp32 eager",
        "Time the fast path against the plain float32 form "
        "of the same step, side by side in one run.",
        _add_bench,
    ),
    "evaluate": (
        "FID/KID, cycle and paired metrics; best checkpoint",
        "Evaluate a model on a dataset's test folders, or compare "
        "two folders of images (--fake, --real).",
        _add_evaluate,
    ),
    "report": (
        "rebuild a run's loss curves and index.html",
        "Rebuild RUN/losses.png and RUN/index.html from the run "
        "folder (they are also refreshed after every epoch).",
        _add_report,
    ),
    "results": (
        "a page of every test image translated both ways",
        "Translate a dataset's test folders both ways and write "
        "an HTML page: input | translation | reconstruction.",
        _add_results,
    ),
    "demo": (
        "train and test a small model on generated data",
        "Draw scenes of shapes in two styles (A: by day; B: a night negative with "
        "outlines), train a small CycleGAN on different scenes of each, then translate "
        "held-out scenes whose true translation is known and print how close it comes, next "
        "to an untrained model and the input unchanged. About 2 to 5 minutes on 2 CPU cores.",
        _add_demo,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclegan", description="Unpaired image-to-image translation with CycleGAN."
    )
    parser.add_argument(
        "--version", action="version", version=_version(), help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, (help_text, description, add) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=description))
    from cyclegan.curate.cli import add_parser as add_curate_parser

    add_curate_parser(sub)
    for p in all_parsers(parser):
        p.formatter_class = HelpFormatter
    return parser
