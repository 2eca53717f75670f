"""Bad input on the command line, generated: every numeric option of every command with
values a tired or hostile user types. Each must end with exit 1 and one ``error:`` line
naming the option (or argparse's exit 2 for what is not a number at all), never a
traceback, never a silent success that did nothing."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import write_images
from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig, TrainConfig

BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e30", "abc", ""]

TRAIN_NUMERIC = [
    f.name
    for cls in (TrainConfig, NetworkConfig)
    for f in dataclasses.fields(cls)
    if (isinstance(f.default, int | float) and not isinstance(f.default, bool)
        or f.metadata.get("kind") in (int, float))  # None: "decided later"
    and f.metadata.get("choices") is None
]  # fmt: skip


def _run(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as stop:  # argparse: not a number, not a choice
        code = stop.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("name", TRAIN_NUMERIC)
def test_train_numeric_options(tmp_path, capsys, name, value):
    # A dataset that does not exist: a value that is fine gets that error instead.
    args = ["train", "--data", str(tmp_path / "none"), "--run", str(tmp_path / "run")]
    code, err = _run([*args, f"{_option(name)}={value}"], capsys)
    assert code in (1, 2), (name, value)
    if code == 1:
        assert err.startswith("error: ") and (name in err or "does not exist" in err), err
    assert not (tmp_path / "run" / "checkpoints").exists()


TRANSLATE_NUMERIC = ["--batch-size", "--tile", "--tile-overlap", "--tile-stats-size",
                     "--max-pixels"]  # fmt: skip


@pytest.mark.parametrize("value", ["nan", "-1", "0", "abc", "-5"])
@pytest.mark.parametrize("option", TRANSLATE_NUMERIC)
def test_translate_numeric_options(tiny_run, tmp_path, capsys, option, value):
    images = tmp_path / "in"
    write_images(images, 2, size=(40, 36))
    out = tmp_path / "out"
    args = ["translate", "--model", str(tiny_run), "--input", str(images), "--output", str(out)]
    code, err = _run([*args, f"{option}={value}"], capsys)
    if code == 0:  # a value that makes sense here (a tile of 0 px does not)
        assert len(list(out.glob("*.png"))) == 2, (option, value)
        return
    assert code in (1, 2), (option, value)
    if code == 1:
        assert err.startswith("error: ") and option.lstrip("-").split("-")[0] in err, err


TRANSLATE = "translate --model {run} --input {tmp} --output {tmp}/o"


@pytest.mark.parametrize(
    "command",
    [
        "demo --steps 0",
        "demo --kind eo --steps 0",
        "demo --steps -3",
        "demo --minutes nan",
        "demo --minutes 0",
        "demo --minutes -1",
        "evaluate --model {run}",  # no --data
        "evaluate --fake {tmp}",  # no --real
        "evaluate --model {tmp}/none --data {tmp}",
        "results --model {tmp}/none --data {tmp} --out {tmp}/o",
        "export --model {run} --output {tmp}/model.txt",
        "export --model {tmp}/none.pth --output {tmp}/m.onnx",
        "serve --model {tmp}/none",
        "serve --model {run} --queue -1",
        "serve --model {run} --tile 3",  # was: a 500 for every large upload
        "serve --model {run} --port 70000",
        "bench --steps 0",
        "bench --size -8",
        "bench --infer-sizes 64 0",
        "report {tmp}",
        "translate --model {run} --input {tmp}/none --output {tmp}/o",
        f"{TRANSLATE} --direction sideways",
        f"{TRANSLATE} --format gif",
        f"{TRANSLATE} --bit-depth 12",
        "curate export {tmp}/none --out {tmp}/o",
        "curate init {tmp}/p --source {tmp}/none",
        "curate init {tmp}/p --source {tmp} --calibration -1",
        "curate init {tmp}/p --source {tmp} --min-size 0",
        "curate init {tmp}/p --source {tmp} --taxonomy {tmp}/none.json",
        "train --resume",
        "train --run {tmp}/none --resume",
        "train --data {tmp}",
        "nonsense",
        "",
    ],
    ids=lambda command: command[:50],
)
def test_other_commands_refuse_bad_input_clearly(tiny_run, tmp_path, capsys, command):
    args = command.split()
    filled = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(tiny_run)) for a in args]
    code, err = _run(filled, capsys)
    assert code in (1, 2), (args, err)
    if code == 1:
        assert err.startswith("error: ") and "\n" not in err.strip(), err
