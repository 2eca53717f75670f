"""The networks against the reference's recorded outputs and published sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import REFERENCE, need
from cyclegan.config import NetworkConfig
from cyclegan.errors import CheckpointError
from cyclegan.model.networks import build_discriminator, build_generator, count_parameters
from cyclegan.model.reference import load_into, read_state_dict


def _manifest() -> dict:
    return json.loads((need(REFERENCE) / "manifest.json").read_text())


_ABSENT = [
    pytest.param(
        None,
        marks=pytest.mark.skip(
            reason=f"{REFERENCE} is absent: the golden data and datasets live in ../shared"
        ),
    )
]


def _generator_cases():
    if not REFERENCE.exists():
        return _ABSENT
    return [k for k, v in _manifest().items() if k.startswith("generators/") and "input_shape" in v]


def _discriminator_cases():
    if not REFERENCE.exists():
        return _ABSENT
    return [k for k in _manifest() if k.startswith("discriminators/")]


def _network_config(opts: dict) -> NetworkConfig:
    return NetworkConfig(
        input_nc=opts.get("input_nc", 3),
        output_nc=opts.get("output_nc", 3),
        net_g=opts.get("netG", "resnet_9blocks"),
        ngf=opts.get("ngf", 64),
        net_d=opts.get("netD", "basic"),
        ndf=opts.get("ndf", 64),
        n_layers_d=opts.get("n_layers_D", 3),
        norm=opts.get("norm", "instance"),
        dropout=opts.get("use_dropout", False),
    )


@pytest.mark.parametrize("case", _generator_cases())
def test_generator_reproduces_reference(case):
    opts = _manifest()[case]
    cfg = _network_config(opts)
    net = build_generator(cfg, cfg.input_nc, cfg.output_nc)
    load_into(net, read_state_dict(REFERENCE / f"{case}.pth"), case)
    io = np.load(REFERENCE / f"{case}_io.npz")
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(io["input"]))
    np.testing.assert_allclose(out.numpy(), io["output"], atol=1e-5, rtol=0)


def test_legacy_instancenorm_checkpoint_loads_and_matches():
    path = need(REFERENCE / "generators/resnet_6blocks_ngf8_legacy_instancenorm.pth")
    raw = read_state_dict(path)
    assert any(k.endswith("running_mean") for k in raw), "fixture should carry legacy keys"
    cfg = NetworkConfig(net_g="resnet_6blocks", ngf=8)
    net = build_generator(cfg, 3, 3)
    load_into(net, raw, path.name)
    io = np.load(REFERENCE / "generators/resnet_6blocks_ngf8_io.npz")
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(io["input"]))
    np.testing.assert_allclose(out.numpy(), io["output"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", _discriminator_cases())
def test_discriminator_reproduces_reference(case):
    opts = _manifest()[case]
    cfg = _network_config(opts)
    net = build_discriminator(cfg, cfg.input_nc)
    load_into(net, read_state_dict(REFERENCE / f"{case}.pth"), case)
    io = np.load(REFERENCE / f"{case}_io.npz")
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(io["input"]))
    assert list(out.shape) == opts["output_shape"]
    np.testing.assert_allclose(out.numpy(), io["output"], atol=1e-5, rtol=0)


def test_default_sizes_match_the_paper_networks():
    cfg = NetworkConfig()
    assert count_parameters(build_generator(cfg, 3, 3)) == 11_378_179
    assert count_parameters(build_discriminator(cfg, 3)) == 2_764_737


def test_wrong_architecture_names_the_mismatch():
    path = need(REFERENCE / "generators/resnet_9blocks_ngf8.pth")
    net = build_generator(NetworkConfig(ngf=16), 3, 3)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_into(net, read_state_dict(path), path.name, hint="check --ngf")


@pytest.mark.parametrize(
    "net_g,size", [("resnet_9blocks", 36), ("unet_128", 128), ("unet_256", 256)]
)
def test_generator_keeps_size_at_its_multiple(net_g, size):
    cfg = NetworkConfig(net_g=net_g, ngf=4)
    assert size % cfg.size_multiple == 0
    with torch.no_grad():
        out = build_generator(cfg, 3, 1).eval()(torch.zeros(1, 3, size, size))
    assert out.shape == (1, 1, size, size)


def test_padding_to_multiple_is_the_least_that_fits():
    """The one padding rule translate and export share: the smallest bottom/right pad
    that makes a side a multiple, and at least ``minimum``."""
    from cyclegan.model.networks import padding_to_multiple

    for multiple in (1, 4, 128):
        for minimum in (0, 8, 300):
            for side in (1, 3, 4, 127, 128, 129, 301):
                pad, _ = padding_to_multiple(side, side, multiple, minimum)
                fits = [p for p in range(0, 1000) if (side + p) % multiple == 0]
                assert pad == min(p for p in fits if side + p >= minimum), (side, multiple, minimum)
