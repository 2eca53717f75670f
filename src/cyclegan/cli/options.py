"""Command-line options generated from data: one option per dataclass field.

``train``'s options come from ``TrainConfig`` and ``NetworkConfig``, the other
commands' from ``settings.py`` and ``apps.demo.Demo``, each group a section of the
command's help (``parser.py`` puts them together). Each option is spelled in kebab
case (``--n-epochs-decay``, ``--net-g``) and also accepts the reference's spelling
(``--n_epochs_decay``, ``--netG``, ``--no_flip``), so its users' commands carry
over. Options not given stay out of the parsed namespace (``SUPPRESS``), so the
dataclasses' defaults are the only defaults and a resumed run can tell which
options the user really passed; ``from_args`` builds a dataclass from what was given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.presets import preset_options
from cyclegan.settings import (
    MODEL_HELP,
)

_NETWORK_FIELDS = {f.name for f in dataclasses.fields(NetworkConfig)}
# Architecture options a reference .pth needs when translating with it.
TRANSLATE_NETWORK_FIELDS = ("net_g", "ngf", "norm", "input_nc", "output_nc", "dropout")


def _kebab(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_field(parser: argparse._ActionsContainer, f: dataclasses.Field) -> None:
    """One option for one config field, with its reference spelling as an alias."""
    ref, help_text = f.metadata.get("ref"), f.metadata.get("help", "")
    choices = f.metadata.get("choices")
    if choices:  # None stands for "not given" (the default), never a value to type
        choices = tuple(c for c in choices if c is not None)
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
    """The run's options: those given, over ``--preset``'s (``presets.py``) if named."""
    given = {
        k: v
        for k, v in vars(args).items()
        if k in {f.name for f in dataclasses.fields(TrainConfig)} | _NETWORK_FIELDS
    }
    if getattr(args, "preset", None):
        given = preset_options(args.preset, given)
    network = NetworkConfig(**{k: v for k, v in given.items() if k in _NETWORK_FIELDS})
    return TrainConfig(
        network=network, **{k: v for k, v in given.items() if k not in _NETWORK_FIELDS}
    )


def add_reference_architecture(parser: argparse.ArgumentParser) -> None:
    """The options that describe a reference ``.pth`` generator (checkpoints carry theirs)."""
    group = parser.add_argument_group("architecture of a reference .pth (ignored for checkpoints)")
    for f in dataclasses.fields(NetworkConfig):
        if f.name in TRANSLATE_NETWORK_FIELDS:
            add_field(group, f)


def reference_network(args: argparse.Namespace) -> NetworkConfig:
    """The network those options describe (the reference's defaults where not given)."""
    return NetworkConfig(
        **{k: getattr(args, k) for k in TRANSLATE_NETWORK_FIELDS if hasattr(args, k)}
    )


class HelpFormatter(argparse.HelpFormatter):
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


def add_direction(parser: argparse.ArgumentParser, both: bool = False) -> None:
    parser.add_argument(
        "--direction",
        default="both" if both else "AtoB",
        choices=("AtoB", "BtoA", "both") if both else ("AtoB", "BtoA"),
        help="AtoB: domain A (trainA) in, domain B out; BtoA: the other way"
        + ("; both: each in turn" if both else ""),
    )


def access_token(args: argparse.Namespace) -> str | None:
    """``--token``, else ``$CYCLEGAN_TOKEN`` as it is when the command runs (the parser
    is built once a process), else None."""
    return args.token if args.token is not None else os.environ.get("CYCLEGAN_TOKEN")


def add_access_options(parser: argparse.ArgumentParser) -> None:
    """Who may use a server: its access token and the host names it answers to."""
    parser.add_argument(
        "--token",
        default=None,  # $CYCLEGAN_TOKEN, read when the command runs: access_token
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
            add_field(group, f)


def from_args(cls: type, args: argparse.Namespace):
    """The ``cls`` the parsed options describe; options not given keep its defaults."""
    return cls(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    )


def add_model(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--model", required=required, help=MODEL_HELP)
    parser.add_argument(
        "--raw-weights",
        action="store_true",
        help="a model trained with --ema: its generators' last weights, not their "
        "average (which is the default)",
    )


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bar (there is none anyway when stderr is not a terminal)",
    )


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    """The one rule for files a command writes (``files.check_new_outputs``)."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that exist already (without it they are refused, named)",
    )
