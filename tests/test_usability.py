"""What a new user meets first: --version, help for every option, progress bars on a
terminal (and silence elsewhere), the demo's honest verdict, a Translator that says
what it is."""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from conftest import run_main, subprocess_env, write_images
from cyclegan import __version__
from cyclegan.apps.demo import LEARNED_MAE, verdict
from cyclegan.cli.main import build_parser, main
from cyclegan.cli.options import all_parsers


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("cyclegan ") and "torch" in out and __version__ in out


def _options():
    for parser in all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            yield parser.prog, action


def test_every_option_of_every_command_has_help():
    missing = [
        f"{prog} {'/'.join(a.option_strings) or a.dest}"
        for prog, a in _options()
        if not a.help or (a.help == argparse.SUPPRESS and a.option_strings[0].count("_") == 0)
    ]
    assert not missing, missing


def test_help_states_defaults_and_never_an_empty_one():
    for parser in all_parsers(build_parser()):
        text = parser.format_help()
        assert "(default: )" not in text, parser.prog
    train_help = next(p for p in all_parsers(build_parser()) if p.prog == "cyclegan train")
    text = " ".join(train_help.format_help().split())
    assert "(default: 2e-4)" in text or "(default: 0.0002)" in text
    translate = next(p for p in all_parsers(build_parser()) if p.prog == "cyclegan translate")
    assert "(default: AtoB)" in " ".join(translate.format_help().split())


def test_results_names_the_folders_it_looks_for(tiny_run, tmp_path, capsys):
    write_images(tmp_path / "data" / "trainA", 1)
    write_images(tmp_path / "data" / "trainB", 1)
    code = main(
        [
            "results",
            "--model",
            str(tiny_run),
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "testA/ and testB/" in err and "--split train" in err


def test_translator_repr_says_model_directions_device_precision(tiny_run):
    from cyclegan.inference.translate import load_translator

    text = repr(load_translator(tiny_run, device="cpu", precision="fp32"))
    for needle in ("checkpoints", "AtoB+BtoA", "resnet_6blocks", "device=cpu", "fp32"):
        assert needle in text, text


def _on_terminal(args: list[str]) -> str:
    """Run ``python -m cyclegan ARGS`` with stderr on a pseudo-terminal; its output."""
    main_fd, child_fd = pty.openpty()
    # A new pseudo-terminal is 0 columns wide; give it a real width, as a terminal has.
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cyclegan", *args],
        stdout=subprocess.PIPE,
        stderr=child_fd,
        env=subprocess_env(),
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # the terminal closes with the process
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(main_fd)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_translate_draws_a_bar_on_a_terminal_and_not_with_quiet(tiny_run, tmp_path):
    images = tmp_path / "in"
    write_images(images, 3)
    args = ["translate", "--model", str(tiny_run), "--input", str(images)]
    shown = _on_terminal([*args, "--output", str(tmp_path / "a")])
    assert "translating AtoB" in shown and "3/3" in shown
    quiet = _on_terminal([*args, "--output", str(tmp_path / "b"), "--quiet"])
    assert "translating" not in quiet and "3/3" not in quiet


def test_no_bar_when_stderr_is_not_a_terminal(tiny_run, tmp_path):
    images = tmp_path / "in"
    write_images(images, 2)
    result = run_main(  # in this process: its stderr is a buffer, not a terminal
        "translate", "--model", str(tiny_run), "--input", str(images), "--output",
        str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""


def test_demo_verdict_is_honest():
    good = {"AtoB_mae": LEARNED_MAE - 1, "BtoA_mae": 3.0}
    bad = {"AtoB_mae": LEARNED_MAE + 1, "BtoA_mae": 3.0}
    assert verdict(good, 1000, 1000, 120, 15)[0].startswith("Learned")
    lines = verdict(bad, 1000, 1000, 120, 15)
    assert lines[0].startswith("NOT LEARNED YET") and "--steps 2000" in lines[1]
    starved = verdict(bad, 43, 1000, 240, 4)
    assert starved[0].startswith("STOPPED EARLY: 43 of 1000 steps")
    assert "has not learned" in starved[1]
    # 43 steps in 4 minutes: 1000 steps need about 93 minutes
    assert "--minutes 93" in starved[2]


@pytest.mark.slow
def test_demo_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    """A 20-step demo runs through every stage and says it has not learned yet."""
    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "held-out test scenes" in out and "NOT LEARNED YET" in out
    assert len(list((tmp_path / "demo" / "translations" / "AtoB").iterdir())) == 8
    assert (tmp_path / "demo" / "run" / "index.html").is_file()
    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "20"]) == 1  # no overwrite
    mine = tmp_path / "mine" / "data" / "trainA" / "0000.png"  # a user's own files
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"precious")
    assert main(["demo", "--out", str(tmp_path / "mine"), "--steps", "20"]) == 1
    assert mine.read_bytes() == b"precious"
