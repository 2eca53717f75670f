"""The command line end to end: what a user types, what files appear, what errors say."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import DATASETS, TINY_CLI, need, run_main, start_training, subprocess_env
from cyclegan.cli.main import main

TINY = [*TINY_CLI, "--n-epochs", "1", "--n-epochs-decay", "1"]
_cli = run_main  # in this process where a separate one is not the point


def _process(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """``python -m cyclegan ARGS`` in a fresh process: a user's first command, whole."""
    env = subprocess_env()
    return subprocess.run(
        [sys.executable, "-m", "cyclegan", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        **kwargs,
    )


@pytest.mark.slow
def test_train_then_translate_writes_the_expected_files(tiny_data, tmp_path):
    run = tmp_path / "run"
    result = _process("train", "--data", str(tiny_data), "--run", str(run), *TINY)
    assert result.returncode == 0, result.stderr
    assert "done: " in result.stdout and "resume" not in result.stderr
    assert re.search(r"training on cpu \(.+\): .+\n\d+ A / \d+ B images, \d+ steps per epoch, "
                     r"2 epochs, data read in this process\n", result.stderr)  # fmt: skip
    # the default saves every 5 epochs and at the end: here only the end
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_0002", "latest"]
    out = tmp_path / "out"
    result = _cli(
        "translate",
        "--model",
        str(run),
        "--direction",
        "BtoA",
        "--input",
        str(tiny_data / "testB"),
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "cyclegan-manifest",
        "img_000.png",
        "img_001.png",
    ]
    assert Image.open(out / "img_000.png").size == (45, 30)


@pytest.mark.parametrize(
    "setup,needle",
    [
        (lambda d: (d / "trainB").rename(d / "other"), "found"),
        (lambda d: [p.unlink() for p in (d / "trainA").iterdir()], "contains no images"),
        (lambda d: (d / "trainA" / "zero.png").write_bytes(b""), "zero.png: empty file"),
        (
            lambda d: (d / "trainA" / "cut.png").write_bytes(
                (d / "trainA" / "img_000.png").read_bytes()[:200]
            ),
            "cut.png: broken or truncated",
        ),
        (lambda d: (d / "trainB" / "readme.txt").write_text("hi"), "readme.txt: not an image"),
    ],
)
def test_bad_data_is_one_clear_line_not_a_traceback(tiny_data, tmp_path, capsys, setup, needle):
    setup(tiny_data)
    code = main(["train", "--data", str(tiny_data), "--run", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err
    assert code == 1 and needle in err and "Traceback" not in err


def test_skip_bad_images_trains_and_lists_them(tiny_data, tmp_path, capsys):
    (tiny_data / "trainA" / "zero.png").write_bytes(b"")
    code = main(
        [
            "train",
            "--data",
            str(tiny_data),
            "--run",
            str(tmp_path / "r"),
            *TINY,
            "--max-iters",
            "1",
            "--skip-bad-images",
        ]
    )
    assert code == 0
    assert "skipping 1 unusable file(s) of domain A" in capsys.readouterr().err


def test_decompression_bomb_is_refused_with_its_name(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50 * 50)
    Image.new("RGB", (60, 60)).save(tiny_data / "trainB" / "bomb.png")
    code = main(["train", "--data", str(tiny_data), "--run", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err
    assert code == 1 and "bomb.png" in err and "decompression bomb" in err


def test_bad_options_and_models_are_clear(tiny_data, tmp_path, capsys):
    assert (
        main(
            ["train", "--data", str(tiny_data), "--run", str(tmp_path / "r"), "--crop-size", "300"]
        )
        == 1
    )
    assert "'crop_size' (300) is larger than 'load_size' (286)" in capsys.readouterr().err
    assert (
        main(
            [
                "translate",
                "--model",
                str(tmp_path / "none"),
                "--input",
                str(tiny_data),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "no such model" in capsys.readouterr().err
    assert main(["train", "--run", str(tmp_path / "fresh"), "--resume"]) == 1
    assert "no checkpoint to resume from" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_saves_and_says_how_to_resume(tiny_data, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "cyclegan",
        "train",
        "--data",
        str(tiny_data),
        "--run",
        str(run),
        *TINY,
        "--n-epochs",
        "1000",
        "--log-every",
        "1",
    ]
    proc = start_training(cmd, run, threads=2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and f"cyclegan train --run {run} --resume" in err
    assert (run / "checkpoints" / "latest").is_file()
    resumed = _cli("train", "--run", str(run), "--resume", "--max-iters", "12")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr


@pytest.mark.slow
def test_horse2zebra_few_steps_then_unsplash_keeps_sizes(tmp_path):
    data = need(DATASETS / "horse2zebra")
    photos = need(DATASETS / "unsplash_demo")
    run = tmp_path / "h2z"
    result = _cli(
        "train",
        "--data",
        str(data),
        "--run",
        str(run),
        "--ngf",
        "8",
        "--ndf",
        "8",
        "--load-size",
        "143",
        "--crop-size",
        "128",
        "--max-iters",
        "3",
        "--num-workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    result = _cli(
        "translate",
        "--model",
        str(run),
        "--input",
        str(photos),
        "--output",
        str(out),
        "--batch-size",
        "4",
    )
    assert result.returncode == 0, result.stderr
    sources = sorted(p for p in Path(photos).rglob("*.jpg"))
    assert len(sources) == 15
    for src in sources:
        dst = out / src.relative_to(photos)
        assert Image.open(dst).size == Image.open(src).size, src.name
