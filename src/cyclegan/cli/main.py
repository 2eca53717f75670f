"""The ``cyclegan`` command: a thin shell over the library.

``COMMANDS`` is the one table of subcommands: each one's name, help, the function
that adds its options (``parser.py``) and the one that runs it (``handlers.py``;
translate and progress: ``translating.py``; curate's steps: ``curate.py``). The
parser and the dispatch both come from it.
Only the ``cli`` package prints or sets exit codes:

====  ==========================================================
0     done
1     a user error (bad option, data or model): one line, no traceback
2     the command line itself is malformed (argparse)
130   stopped by Ctrl-C after saving a checkpoint (143: SIGTERM)
====  ==========================================================
"""

from __future__ import annotations

import argparse
import functools
import sys

import torch

from cyclegan.cli import handlers, parser, translating
from cyclegan.cli.curate import CURATE
from cyclegan.cli.parser import Command
from cyclegan.errors import CycleGANError, OtherProcessFailed

# Every subcommand: its name, one-line help, description, options and what it does.
COMMANDS = (
    Command(
        "train",
        "train a CycleGAN on two folders of images",
        "Train a CycleGAN. Options keep the reference's names.",
        parser.add_train,
        handlers.run_train,
    ),
    Command(
        "translate",
        "translate images, rasters and videos (a file or a folder)",
        "Translate images with a trained model, at their own size; rasters stay "
        "georeferenced, videos keep their timing and sound.",
        parser.add_translate,
        translating.run_translate,
    ),
    Command(
        "progress",
        "how far a translation into a folder has come",
        "Read a translation's manifest (OUT/cyclegan-manifest) and say how many of its "
        "files are done, which failed and how fast it goes; safe while the job runs.",
        parser.add_progress,
        translating.run_progress,
    ),
    Command(
        "export",
        "write a generator as an ONNX model (any image size)",
        "Export one direction's generator to ONNX, with the padding to its size "
        "multiple inside the graph, and check the file against PyTorch in onnxruntime. "
        "Needs the export extra: pip install 'cyclegan[export]'.",
        parser.add_export,
        handlers.run_export,
    ),
    Command(
        "serve",
        "a web page that translates uploaded images",
        "Serve a page (and a small HTTP API) that translates the images "
        "dropped on it, both directions. Needs the serve extra: pip install 'cyclegan[serve]'.",
        parser.add_serve,
        handlers.run_serve,
    ),
    Command(
        "bench",
        "time training and inference against fp32 eager",
        "Time the fast path against the plain float32 form "
        "of the same step, side by side in one run.",
        parser.add_bench,
        handlers.run_bench,
    ),
    Command(
        "evaluate",
        "FID/KID, cycle and paired metrics; best checkpoint",
        "Evaluate a model on a dataset's test folders, or compare "
        "two folders of images (--fake, --real).",
        parser.add_evaluate,
        handlers.run_evaluate,
    ),
    Command(
        "report",
        "rebuild a run's loss curves and index.html",
        "Rebuild RUN/losses.png and RUN/index.html from the run "
        "folder (they are also refreshed after every epoch).",
        parser.add_report,
        handlers.run_report,
    ),
    Command(
        "results",
        "a page of every test image translated both ways",
        "Translate a dataset's test folders both ways and write "
        "an HTML page: input | translation | reconstruction.",
        parser.add_results,
        handlers.run_results,
    ),
    Command(
        "demo",
        "train and test a small model on generated data",
        "Draw scenes of shapes in two styles (A: by day; B: a night negative with "
        "outlines), train a small CycleGAN on different scenes of each, then translate "
        "held-out scenes whose true translation is known and print how close it comes, next "
        "to an untrained model and the input unchanged. About 2 to 5 minutes on 2 CPU cores.",
        parser.add_demo,
        handlers.run_demo,
    ),
    CURATE,
)


# What to lower when the accelerator runs out of memory, by command: said in one line
# instead of the allocator's traceback.
MEMORY_ADVICE = {
    "train": "--batch-size or --crop-size, or use --precision bf16 or fp16",
    "translate": "--batch-size, or --tile (large images go through in tiles)",
    "serve": "--tile, or use --precision bf16 or fp16",
    "bench": "--batch-size, --size, --infer-sizes or --infer-batch",
    "evaluate": "--batch-size, or use --precision bf16 or fp16",
}


def out_of_memory_line(command: str) -> str:
    advice = MEMORY_ADVICE.get(command, "the image size, or use --precision bf16 or fp16")
    return f"error: the device ran out of memory; lower {advice}"


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole table, built once a process (about 12 ms: every option
    of every command): ``main`` runs many times in a notebook or a test session, and
    parsing never changes a parser."""
    return parser.build_parser(COMMANDS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._handler(args)
    except OtherProcessFailed:  # the first process of the job has said why
        return 1
    except CycleGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the file system said no (permissions, a full disk): not a bug
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except torch.OutOfMemoryError:  # CUDA's (and other accelerators') allocator
        print(out_of_memory_line(args.command), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
