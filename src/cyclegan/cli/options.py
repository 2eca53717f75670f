"""The ``cyclegan`` command line: every subcommand's options, generated from data.

Options come from dataclass fields and their metadata (help, choices, the
reference's spelling): ``train``'s from ``TrainConfig`` and ``NetworkConfig``, the
other commands' from ``settings.py`` (``Hardware``, ``Tiling``, ``ImageOutput``,
``Server``, ``Bench``, ``Evaluation``) and ``demo.Demo``, each group a section of
the command's help. Each option is spelled in kebab case (``--n-epochs-decay``,
``--net-g``) and also accepts the reference's spelling (``--n_epochs_decay``,
``--netG``, ``--no_flip``), so its users' commands carry over. Options not given
stay out of the parsed namespace (``SUPPRESS``), so the dataclasses' defaults are
the only defaults and a resumed run can tell which options the user really
passed; ``from_args`` builds a dataclass from what was given. What is left
written by hand is what belongs to one command alone (its inputs and outputs).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from cyclegan.apps.demo import Demo
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.settings import (
    MODEL_HELP,
    Bench,
    Evaluation,
    Hardware,
    ImageOutput,
    Server,
    Tiling,
)

_NETWORK_FIELDS = {f.name for f in dataclasses.fields(NetworkConfig)}
# Architecture options a reference .pth needs when translating with it.
# The training options shown under "data and run" in train's help; the rest under
# "objective, schedule and bookkeeping", and NetworkConfig's under "networks".
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
    many = str(f.type).startswith("tuple")  # several values: --infer-sizes 256 512
    parser.add_argument(
        *names,
        dest=f.name,
        type=f.metadata.get("kind") or type(default),
        choices=choices,
        default=argparse.SUPPRESS,
        required=f.default is dataclasses.MISSING,
        nargs="+" if many else None,
        help=help_text,
        metavar=f.metadata.get("metavar") or (f.name.upper() if choices is None else None),
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


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    title: str | None = None,
    only: tuple[str, ...] | None = None,
) -> None:
    """One option per field of the dataclass ``cls`` (in a help group ``title``)."""
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(cls):
        if only is None or f.name in only:
            _add_field(group, f)


def from_args(cls: type, args: argparse.Namespace):
    """The ``cls`` the parsed options describe; options not given keep its defaults."""
    return cls(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    )


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=MODEL_HELP)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bar (there is none anyway when stderr is not a terminal)",
    )


def _add_train(sub) -> None:
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
        if f.name != "network":
            _add_field(groups["data" if f.name in TRAIN_DATA_OPTIONS else "train"], f)
    for f in dataclasses.fields(NetworkConfig):
        _add_field(groups["net"], f)


def _add_translate(sub) -> None:
    tr = sub.add_parser(
        "translate",
        help="translate an image or a folder of images",
        description="Translate images with a trained model, at their own size.",
    )
    _add_model(tr)
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
    add_options(tr, ImageOutput, "files written")
    add_options(tr, Tiling, "tiling (large images)")
    add_options(tr, Hardware, "hardware")
    tr.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the generator: a compile first (tens of seconds on a CPU), "
        "then faster images; for long jobs of whole images",
    )
    _add_reference_architecture(tr)


def _add_export(sub) -> None:
    ex = sub.add_parser(
        "export",
        help="write a generator as an ONNX model (any image size)",
        description="Export one direction's generator to ONNX, with the padding to its size "
        "multiple inside the graph, and check the file against PyTorch in onnxruntime. "
        "Needs the export extra: pip install 'cyclegan[export]'.",
    )
    _add_model(ex)
    _add_direction(ex)
    add_quiet(ex)
    ex.add_argument("--output", required=True, type=Path, help="the .onnx file to write")
    ex.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime check against PyTorch"
    )
    _add_reference_architecture(ex)


def _add_serve(sub) -> None:
    sv = sub.add_parser(
        "serve",
        help="a web page that translates uploaded images",
        description="Serve a page (and a small HTTP API) that translates the images "
        "dropped on it, both directions. Needs the serve extra: pip install 'cyclegan[serve]'.",
    )
    _add_model(sv)
    add_options(sv, Server, "server")
    add_options(sv, Tiling, "tiling (large uploads)")
    add_options(sv, Hardware, "hardware")
    add_access_options(sv)
    _add_reference_architecture(sv)


def _add_bench(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="time training and inference against fp32 eager",
        description="Time the fast path against the plain float32 form "
        "of the same step, side by side in one run.",
    )
    add_options(bench, Bench)
    add_options(bench, Hardware, "hardware")
    bench.add_argument("--json", action="store_true", help="print one JSON object")


def _add_evaluate(sub) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="FID/KID, cycle and paired metrics; best checkpoint",
        description="Evaluate a model on a dataset's test folders, or compare "
        "two folders of images (--fake, --real).",
    )
    ev.add_argument("--model", help=MODEL_HELP)
    ev.add_argument("--data", type=Path, help="dataset folder with testA/testB")
    ev.add_argument("--fake", type=Path, help="folder of generated images (with --real)")
    ev.add_argument("--real", type=Path, help="folder of real images (with --fake)")
    _add_direction(ev, both=True)
    add_quiet(ev)
    add_options(ev, Evaluation)
    add_options(ev, Hardware, "hardware")
    ev.add_argument("--out", type=Path, help="also write the JSON report here")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_report(sub) -> None:
    rep = sub.add_parser(
        "report",
        help="rebuild a run's loss curves and index.html",
        description="Rebuild RUN/losses.png and RUN/index.html from the run "
        "folder (they are also refreshed after every epoch).",
    )
    rep.add_argument("run", type=Path, help="the run folder")


def _add_results(sub) -> None:
    res = sub.add_parser(
        "results",
        help="a page of every test image translated both ways",
        description="Translate a dataset's test folders both ways and write "
        "an HTML page: input | translation | reconstruction.",
    )
    _add_model(res)
    res.add_argument("--data", required=True, type=Path, help="dataset folder")
    add_options(res, Evaluation, only=("split",))
    res.add_argument("--out", required=True, type=Path, help="folder for the page")
    add_options(res, Hardware, "hardware")
    add_quiet(res)


def _add_demo(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="train and test a small model on generated data",
        description="Draw scenes of shapes in two styles (A: by day; B: a night negative with "
        "outlines), train a small CycleGAN on different scenes of each, then translate "
        "held-out scenes whose true translation is known and print how close it comes, next "
        "to an untrained model and the input unchanged. About 2 to 5 minutes on 2 CPU cores.",
    )
    add_options(demo, Demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclegan", description="Unpaired image-to-image translation with CycleGAN."
    )
    parser.add_argument(
        "--version", action="version", version=_version(), help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_train(sub)
    _add_translate(sub)
    _add_export(sub)
    _add_serve(sub)
    _add_bench(sub)
    _add_evaluate(sub)
    _add_report(sub)
    _add_results(sub)
    from cyclegan.curate.cli import add_parser as add_curate_parser

    add_curate_parser(sub)
    _add_demo(sub)
    for p in all_parsers(parser):
        p.formatter_class = _HelpFormatter
    return parser
