"""Three reference training steps, reproduced from the same initial weights and images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import REFERENCE, need
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.networks import CycleGANNetworks
from cyclegan.reference import REFERENCE_NAMES, load_into, read_state_dict
from cyclegan.step import REFERENCE_LOSS_NAMES, CycleGANStep


def _load_case(case: str, prefix: str) -> CycleGANNetworks:
    opts = json.loads((REFERENCE / "manifest.json").read_text())[f"train_steps/{case}"]
    net_cfg = NetworkConfig(
        net_g=opts["netG"], ngf=opts["ngf"], ndf=opts["ndf"], net_d=opts["netD"], norm=opts["norm"]
    )
    nets = CycleGANNetworks(net_cfg)
    for ref_name, ours in REFERENCE_NAMES.items():
        path = REFERENCE / "train_steps" / case / f"{prefix}_net_{ref_name}.pth"
        load_into(getattr(nets, ours), read_state_dict(path), path.name)
    cfg = TrainConfig(
        network=net_cfg,
        gan_mode=opts["gan_mode"],
        lambda_a=opts["lambda_A"],
        lambda_b=opts["lambda_B"],
        lambda_identity=opts["lambda_identity"],
        lr=opts["lr"],
        beta1=opts["beta1"],
        beta2=opts["beta2"],
        pool_size=opts["pool_size"],
    )
    return nets, cfg


@pytest.mark.parametrize("case", ["lsgan_identity0.5", "vanilla_identity0"])
def test_three_steps_match_reference(case):
    folder = need(REFERENCE / "train_steps" / case)
    nets, cfg = _load_case(case, "init")
    nets.train()
    step = CycleGANStep(nets, cfg)
    inputs = np.load(folder / "inputs.npz")
    expected = json.loads((folder / "losses.json").read_text())
    expected = expected if isinstance(expected, list) else expected["steps"]
    for i in range(3):
        a = torch.from_numpy(inputs["A"][i : i + 1])
        b = torch.from_numpy(inputs["B"][i : i + 1])
        got = step(a, b)
        for ref_name, ours in REFERENCE_LOSS_NAMES.items():
            want = expected[i][ref_name]
            assert got[ours].item() == pytest.approx(want, rel=1e-4, abs=1e-12), (i, ref_name)

    after, _ = _load_case(case, "after_3_steps")
    for name in REFERENCE_NAMES.values():
        ours = getattr(nets, name).state_dict()
        for key, want in getattr(after, name).state_dict().items():
            torch.testing.assert_close(ours[key], want, atol=2e-3, rtol=0, msg=f"{name}.{key}")
