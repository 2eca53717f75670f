"""The generators' weight average (``--ema``, ``model/ema.py``): the average it claims,
kept in every checkpoint, resumed bitwise, and what translation uses by default."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conftest import run_main, tiny_config
from cyclegan.errors import ConfigError
from cyclegan.inference.translate import load_translator
from cyclegan.model.ema import WeightAverage, decay_at
from cyclegan.training.trainer import train


def test_the_average_is_the_hand_computed_one():
    """Three updates of a one-weight module, worked out by hand with the warm-up:
    d1 = min(0.9, 2/11), d2 = min(0.9, 3/12), d3 = min(0.9, 4/13)."""
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    average = WeightAverage(net, decay=0.9)
    expected = 1.0
    for value, d in ((3.0, 2 / 11), (-1.0, 3 / 12), (5.0, 4 / 13)):
        with torch.no_grad():
            net.weight.fill_(value)
        average.update(net)
        expected = d * expected + (1 - d) * value
    assert average.updates == 3
    assert average.average.weight.item() == pytest.approx(expected, rel=1e-6)
    assert decay_at(0.9, 1000) == 0.9 and decay_at(0.999, 90) == pytest.approx(0.91)
    assert not average.average.weight.requires_grad


def test_buffers_are_copied_not_averaged():
    net = nn.BatchNorm2d(2)
    average = WeightAverage(net, decay=0.99)
    with torch.no_grad():
        net.running_mean.fill_(7.0)
    average.update(net)
    assert torch.equal(average.average.running_mean, net.running_mean)


def _ema_files(folder):
    return {name: load_file(folder / f"{name}_ema.safetensors") for name in ("g_ab", "g_ba")}


def test_a_run_with_ema_keeps_resumes_and_translates_with_its_averages(tiny_data, tmp_path):
    unbroken = train(tiny_config(tiny_data, tmp_path / "a", pool_size=2, ema=0.9))
    stopped = train(tiny_config(tiny_data, tmp_path / "b", pool_size=2, ema=0.9, max_iters=3))
    assert (stopped / "g_ab_ema.safetensors").is_file()
    resumed = train(tiny_config(tiny_data, tmp_path / "b", ema=0.9), resume=True)
    for name, tensors in _ema_files(unbroken).items():  # the average resumed bitwise
        for key, value in tensors.items():
            assert torch.equal(value, _ema_files(resumed)[name][key]), f"{name}.{key}"
    raw = load_file(unbroken / "g_ab.safetensors")
    averaged = _ema_files(unbroken)["g_ab"]
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw)  # it is another model
    by_default = load_translator(unbroken, device="cpu").generator("AtoB").state_dict()
    assert all(torch.equal(by_default[k], averaged[k]) for k in averaged)
    trained = load_translator(unbroken, device="cpu", averaged=False)
    assert all(torch.equal(trained.generator("AtoB").state_dict()[k], raw[k]) for k in raw)
    assert "weight averages" in load_translator(unbroken, device="cpu").source


def test_raw_weights_on_the_command_line(tiny_data, tmp_path):
    run = train(tiny_config(tiny_data, tmp_path / "run", ema=0.9, max_iters=2))
    outputs = {}
    for flag in ((), ("--raw-weights",)):
        out = tmp_path / f"out{len(flag)}"
        result = run_main("translate", "--model", str(run), "--input", str(tiny_data / "trainA"),
                          "--output", str(out), "--device", "cpu", *flag)  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs[flag] = sorted(p.read_bytes() for p in out.glob("*.png"))
    assert outputs[()] != outputs[("--raw-weights",)]


def test_without_ema_a_checkpoint_holds_no_averages(tiny_data, tmp_path):
    run = train(tiny_config(tiny_data, tmp_path / "run", max_iters=2))
    assert not list(run.glob("*_ema.safetensors"))


def test_the_decay_is_checked():
    with pytest.raises(ConfigError, match="option 'ema' is 1.0"):
        tiny_config("data", "run", ema=1.0)
