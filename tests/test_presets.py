"""Training recipes (``--preset``, ``presets.py``): each resolves to the options it
documents, the options given win, and the run records the resolved ones."""

from __future__ import annotations

import json

import pytest

from conftest import TINY_CLI, run_main
from cyclegan.config import TrainConfig
from cyclegan.errors import ConfigError
from cyclegan.presets import PRESETS, preset_config


def test_each_preset_resolves_to_its_documented_options():
    assert preset_config("paper") == TrainConfig()  # the paper's settings are the defaults
    small = preset_config("small-data", data="d", run="r")
    assert (small.diffaug, small.ema) == ("color,translation,cutout", 0.999)
    trial = preset_config("cpu-trial")
    assert (trial.network.net_g, trial.network.ngf, trial.crop_size) == ("resnet_6blocks", 32, 128)
    assert (trial.n_epochs, trial.n_epochs_decay, trial.val_metric) == (5, 5, "cycle_l1")
    assert set(PRESETS) == {"paper", "small-data", "cpu-trial"}


def test_options_given_win_over_the_preset():
    assert preset_config("small-data", ema=0.99).ema == 0.99
    assert preset_config("cpu-trial", ngf=8).network.ngf == 8
    with pytest.raises(ConfigError, match="option 'preset' is 'huge'"):
        preset_config("huge")


def test_a_run_records_the_resolved_options(tiny_data, tmp_path):
    run = tmp_path / "run"
    result = run_main("train", "--data", str(tiny_data), "--run", str(run), *TINY_CLI,
                      "--preset", "small-data", "--ema", "0.9", "--max-iters", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "preset small-data: --diffaug color,translation,cutout --ema 0.999" in result.stdout
    options = json.loads((run / "options.json").read_text())
    assert (options["diffaug"], options["ema"]) == ("color,translation,cutout", 0.9)
    again = run_main("train", "--run", str(run), "--resume", "--preset", "paper")
    assert again.returncode == 1 and "--preset is for a new run" in again.stderr
