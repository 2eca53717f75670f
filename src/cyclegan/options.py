"""The ``cyclegan`` command line: every subcommand's options, in one parser.

Training options are generated from the fields of ``TrainConfig`` and
``NetworkConfig`` here and nowhere else. Each is spelled in kebab case
(``--n-epochs-decay``, ``--net-g``) and also accepts the reference's spelling
(``--n_epochs_decay``, ``--netG``, ``--no_flip``), so its users' commands carry
over. Options not given stay out of the parsed namespace (``SUPPRESS``), so the
dataclasses' defaults are the only defaults and a resumed run can tell which
options the user really passed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from cyclegan.config import DEVICES, GENERATORS, PRECISIONS, NetworkConfig, TrainConfig
from cyclegan.demo import DEMO_MINUTES, DEMO_STEPS

DEVICE_HELP = "where the networks run; auto: a CUDA GPU when there is one, else the CPU"
PRECISION_HELP = "arithmetic; auto: bf16 where the hardware has it natively, else fp32"
_NETWORK_FIELDS = {f.name for f in dataclasses.fields(NetworkConfig)}
# Architecture options a reference .pth needs when translating with it.
TRANSLATE_NETWORK_FIELDS = ("net_g", "ngf", "norm", "input_nc", "output_nc", "dropout")


def _kebab(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_field(parser: argparse._ActionsContainer, f: dataclasses.Field) -> None:
    """One option for one config field, with its reference spelling as an alias."""
    ref, help_text = f.metadata.get("ref"), f.metadata.get("help", "")
    choices = f.metadata.get("choices")
    default = f.default if f.default is not dataclasses.MISSING else None
    # An empty default means "none": say so rather than print "(default: )".
    help_text = f"{help_text} (default: {default})" if default not in ("", None) else help_text
    if isinstance(default, bool):
        parser.add_argument(
            _kebab(f.name),
            dest=f.name,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=help_text,
        )
        if ref and ref.startswith("no_"):
            parser.add_argument(
                "--" + ref,
                dest=f.name,
                action="store_false",
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
            )
        return
    names = [_kebab(f.name), *f.metadata.get("aliases", ())]
    if ref and "--" + ref not in names:
        names.append("--" + ref)
    if ref and _kebab(ref) not in names:
        names.append(_kebab(ref))
    parser.add_argument(
        *names,
        dest=f.name,
        type=type(default),
        choices=choices,
        default=argparse.SUPPRESS,
        help=help_text,
        metavar=f.name.upper() if choices is None else None,
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    given = {
        k: v
        for k, v in vars(args).items()
        if k in {f.name for f in dataclasses.fields(TrainConfig)} | _NETWORK_FIELDS
    }
    network = NetworkConfig(**{k: v for k, v in given.items() if k in _NETWORK_FIELDS})
    return TrainConfig(
        network=network, **{k: v for k, v in given.items() if k not in _NETWORK_FIELDS}
    )


def _add_reference_architecture(parser: argparse.ArgumentParser) -> None:
    """The options that describe a reference ``.pth`` generator (checkpoints carry theirs)."""
    group = parser.add_argument_group("architecture of a reference .pth (ignored for checkpoints)")
    for f in dataclasses.fields(NetworkConfig):
        if f.name in TRANSLATE_NETWORK_FIELDS:
            _add_field(group, f)


def reference_network(args: argparse.Namespace) -> NetworkConfig:
    """The network those options describe (the reference's defaults where not given)."""
    return NetworkConfig(
        **{k: getattr(args, k) for k in TRANSLATE_NETWORK_FIELDS if hasattr(args, k)}
    )


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
            or isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


def all_parsers(parser: argparse.ArgumentParser):
    """The parser and every sub-command's parser below it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases repeat a parser
                yield from all_parsers(child)


def _version() -> str:
    import torch

    from cyclegan import __version__

    return f"cyclegan {__version__} (torch {torch.__version__})"


def _add_direction(parser: argparse.ArgumentParser, both: bool = False) -> None:
    parser.add_argument(
        "--direction",
        default="both" if both else "AtoB",
        choices=("AtoB", "BtoA", "both") if both else ("AtoB", "BtoA"),
        help="AtoB: domain A (trainA) in, domain B out; BtoA: the other way"
        + ("; both: each in turn" if both else ""),
    )


def add_access_options(parser: argparse.ArgumentParser) -> None:
    """Who may use a server: its access token and the host names it answers to."""
    parser.add_argument(
        "--token",
        default=os.environ.get("CYCLEGAN_TOKEN"),
        help="access token every request must carry (open /?token=TOKEN in the browser; "
        "scripts send Authorization: Bearer TOKEN) (default: $CYCLEGAN_TOKEN, else none)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name this server may be reached by, besides loopback and --host "
        "(repeat for several; for a proxy or the machine's name)",
    )


def add_device_precision(parser: argparse.ArgumentParser) -> None:
    """Where the networks run and in which arithmetic (every command that runs them)."""
    parser.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bar (there is none anyway when stderr is not a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclegan", description="Unpaired image-to-image translation with CycleGAN."
    )
    parser.add_argument(
        "--version", action="version", version=_version(), help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a CycleGAN on two folders of images",
        description="Train a CycleGAN. Options keep the reference's names.",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --run from its latest checkpoint"
    )
    groups = {
        "data": train.add_argument_group("data and run"),
        "net": train.add_argument_group("networks"),
        "train": train.add_argument_group("objective, schedule and bookkeeping"),
    }
    for f in dataclasses.fields(TrainConfig):
        if f.name == "network":
            continue
        group = (
            "data"
            if f.name
            in (
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
            else "train"
        )
        _add_field(groups[group], f)
    for f in dataclasses.fields(NetworkConfig):
        _add_field(groups["net"], f)

    tr = sub.add_parser(
        "translate",
        help="translate an image or a folder of images",
        description="Translate images with a trained model, at their own size.",
    )
    tr.add_argument(
        "--model",
        required=True,
        help="run folder, checkpoint folder, or reference generator .pth file",
    )
    _add_direction(tr)
    add_quiet(tr)
    tr.add_argument("--input", required=True, type=Path, help="an image file or a folder")
    tr.add_argument("--output", required=True, type=Path, help="folder for the translations")
    tr.add_argument(
        "--allow-overlap",
        action="store_true",
        help="let --output be inside --input (or the same folder); an input file is still "
        "never overwritten",
    )
    tr.add_argument(
        "--format",
        default=None,
        choices=("png", "jpg", "webp", "bmp", "tiff"),
        help="output format (default: the input's)",
    )
    tr.add_argument("--batch-size", type=int, default=1, help="images of equal size per batch")
    tr.add_argument(
        "--bit-depth",
        type=int,
        default=8,
        choices=(8, 16),
        help="16: write 16-bit files (--format tiff, or png for grayscale) (default: 8)",
    )
    tr.add_argument(
        "--tile",
        type=int,
        default=None,
        help="translate images larger than this many pixels on a side in blended tiles "
        "of this size, to bound memory (e.g. 512; default: whole images)",
    )
    tr.add_argument(
        "--tile-overlap",
        type=int,
        default=None,
        help="pixels that neighbouring tiles share and cross-fade over "
        "(default: an eighth of --tile)",
    )
    tr.add_argument(
        "--tile-stats-size",
        type=int,
        default=1024,
        help="with --tile: instance-norm statistics come from the whole image scaled to "
        "at most this many pixels on its longer side; 0: each tile's own (default: 1024)",
    )
    add_device_precision(tr)
    tr.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse images larger than this (default: Pillow's bomb limit)",
    )
    tr.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator: a compile first (tens of seconds on a CPU), "
        "then faster images; for long jobs of whole images",
    )
    _add_reference_architecture(tr)

    ex = sub.add_parser(
        "export",
        help="write a generator as an ONNX model (any image size)",
        description="Export one direction's generator to ONNX, with the padding to its size "
        "multiple inside the graph, and check the file against PyTorch in onnxruntime. "
        "Needs the export extra: pip install 'cyclegan[export]'.",
    )
    ex.add_argument(
        "--model", required=True, help="run folder, checkpoint folder or reference .pth file"
    )
    _add_direction(ex)
    add_quiet(ex)
    ex.add_argument("--output", required=True, type=Path, help="the .onnx file to write")
    ex.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime check against PyTorch"
    )
    _add_reference_architecture(ex)

    sv = sub.add_parser(
        "serve",
        help="a web page that translates uploaded images",
        description="Serve a page (and a small HTTP API) that translates the images "
        "dropped on it, both directions. Needs the serve extra: pip install 'cyclegan[serve]'.",
    )
    sv.add_argument("--model", required=True, help="run folder, checkpoint folder or .pth file")
    sv.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reachable from others")
    sv.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    add_device_precision(sv)
    sv.add_argument(
        "--tile",
        type=int,
        default=None,
        help="translate uploads larger than this many pixels on a side in tiles "
        "(default: whole images)",
    )
    sv.add_argument(
        "--max-pixels", type=int, default=40_000_000, help="refuse larger uploads (pixels)"
    )
    sv.add_argument(
        "--queue",
        type=int,
        default=4,
        help="translations that may wait behind the running one; more get 503 at once",
    )
    add_access_options(sv)
    _add_reference_architecture(sv)

    bench = sub.add_parser(
        "bench",
        help="time training and inference against fp32 eager",
        description="Time the fast path against the plain float32 form "
        "of the same step, side by side in one run.",
    )
    bench.add_argument("--size", type=int, default=256, help="image side in pixels")
    bench.add_argument(
        "--net-g",
        "--netG",
        dest="net_g",
        default="resnet_9blocks",
        choices=GENERATORS,
        help="the generator to time",
    )
    bench.add_argument("--batch-size", type=int, default=1, help="images per training step")
    add_device_precision(bench)
    bench.add_argument("--steps", type=int, default=3, help="timed repetitions (median)")
    bench.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    bench.add_argument(
        "--infer-sizes", type=int, nargs="+", default=None, help="inference sizes (default: --size)"
    )
    bench.add_argument("--no-baseline", action="store_true", help="time the fast path only")
    bench.add_argument(
        "--compile", action="store_true", help="also time inference under torch.compile"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")

    ev = sub.add_parser(
        "evaluate",
        help="FID/KID, cycle and paired metrics; best checkpoint",
        description="Evaluate a model on a dataset's test folders, or compare "
        "two folders of images (--fake, --real).",
    )
    ev.add_argument("--model", help="run folder, checkpoint folder or reference .pth")
    ev.add_argument("--data", type=Path, help="dataset folder with testA/testB")
    ev.add_argument("--fake", type=Path, help="folder of generated images (with --real)")
    ev.add_argument("--real", type=Path, help="folder of real images (with --fake)")
    ev.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which folders of --data to translate and compare: testA/testB or trainA/trainB",
    )
    _add_direction(ev, both=True)
    add_quiet(ev)
    ev.add_argument(
        "--checkpoints",
        choices=("latest", "all"),
        default="latest",
        help="all: evaluate every checkpoint of a run and name the best",
    )
    ev.add_argument(
        "--metric",
        default="fid",
        choices=("fid", "kid", "cycle_l1", "paired_psnr", "paired_ssim"),
        help="what --checkpoints all picks the best by",
    )
    add_device_precision(ev)
    ev.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "cyclegan" / "features",
        help="where Inception features are kept (by content hash)",
    )
    ev.add_argument("--out", type=Path, help="also write the JSON report here")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rep = sub.add_parser(
        "report",
        help="rebuild a run's loss curves and index.html",
        description="Rebuild RUN/losses.png and RUN/index.html from the run "
        "folder (they are also refreshed after every epoch).",
    )
    rep.add_argument("run", type=Path, help="the run folder")

    res = sub.add_parser(
        "results",
        help="a page of every test image translated both ways",
        description="Translate a dataset's test folders both ways and write "
        "an HTML page: input | translation | reconstruction.",
    )
    res.add_argument("--model", required=True, help="run folder, checkpoint folder or .pth")
    res.add_argument("--data", required=True, type=Path, help="dataset folder")
    res.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which folders of --data to show: testA/testB or trainA/trainB",
    )
    res.add_argument("--out", required=True, type=Path, help="folder for the page")
    add_device_precision(res)
    add_quiet(res)

    from cyclegan.curate.cli import add_parser as add_curate_parser

    add_curate_parser(sub)

    demo = sub.add_parser(
        "demo",
        help="train and test a small model on generated data",
        description="Draw scenes of shapes in two styles (A: by day; B: a night negative with "
        "outlines), train a small CycleGAN on different scenes of each, then translate "
        "held-out scenes whose true translation is known and print how close it comes, next "
        "to an untrained model and the input unchanged. About 2 to 5 minutes on 2 CPU cores.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo_run"), help="a new folder for it")
    demo.add_argument(
        "--steps",
        type=int,
        default=DEMO_STEPS,
        help="training steps; the default learned the translation on every seed and both CPU "
        "kinds tried (docs/benchmarks.md)",
    )
    demo.add_argument(
        "--minutes",
        type=float,
        default=DEMO_MINUTES,
        help="stop training after this long even if the steps are not done (a busy or slow "
        "machine); the demo then says so",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the scenes and the training")
    for p in all_parsers(parser):
        p.formatter_class = _HelpFormatter
    return parser
