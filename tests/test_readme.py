"""The README runs as written: every ``cyclegan`` command in its shell blocks parses
with today's options, every ``pip install`` names files and extras that exist, and
every Python block compiles and imports only what the package has.

The commands' data (``datasets/horse2zebra``, ``runs/h2z``) are placeholders a user
fills in; what the README promises about them is tested end to end elsewhere
(test_cli, test_report, test_evaluate, test_export, test_serve).
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import tomllib

import pytest

from conftest import REPO
from cyclegan.cli.main import build_parser

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S)
SHELL = [body for lang, body in BLOCKS if lang in ("bash", "sh", "shell")]
PYTHON = [body for lang, body in BLOCKS if lang == "python"]


def _commands() -> list[list[str]]:
    """Every command of every shell block, split at ``&&``, comments and ``...`` dropped."""
    commands = []
    for block in SHELL:
        for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            for part in line.split("&&"):
                words = [w for w in shlex.split(part) if w != "..."]
                if words:
                    commands.append(words)
    return commands


def _cyclegan_args(words: list[str]) -> list[str] | None:
    """The arguments given to cyclegan, however it is started; None for other commands."""
    for i, word in enumerate(words):
        if word.endswith("cyclegan") and (i == 0 or words[i - 1] != "-m"):
            return words[i + 1 :]
        if word == "cyclegan" and i and words[i - 1] == "-m":
            return words[i + 1 :]
    return None


CYCLEGAN = [args for words in _commands() if (args := _cyclegan_args(words)) is not None]


def test_the_readme_has_what_this_test_reads():
    assert len(CYCLEGAN) > 20 and len(PYTHON) >= 2


@pytest.mark.parametrize("args", CYCLEGAN, ids=[" ".join(a)[:60] for a in CYCLEGAN])
def test_every_cyclegan_command_parses(args):
    try:
        build_parser().parse_args(args)
    except SystemExit as stop:  # argparse exits 2 on a bad option; --version exits 0
        assert stop.code == 0, " ".join(args)


def test_every_pip_install_names_what_exists():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pips = [
        words[i:]
        for words in _commands()
        for i, word in enumerate(words)
        if word == "pip" or word.endswith("/pip")
    ]
    assert pips
    for words in pips:
        for i, word in enumerate(words):
            if word in ("-c", "-r"):
                assert (REPO / words[i + 1]).is_file(), words
            if match := re.fullmatch(r"\.\[([\w,]+)\]", word):  # -e '.[curate,serve]'
                for extra in match.group(1).split(","):
                    assert extra in extras, (extra, words)


def test_the_quickstart_activates_the_environment_before_bare_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in quickstart


@pytest.mark.parametrize("block", PYTHON, ids=[f"python{i}" for i in range(len(PYTHON))])
def test_every_python_block_compiles_and_imports_what_exists(block):
    tree = ast.parse(block)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] == "cyclegan":
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
