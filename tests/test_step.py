"""Three reference training steps, reproduced from the same initial weights and images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import REFERENCE, need
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.reference import (
    REFERENCE_LOSS_NAMES,
    REFERENCE_NAMES,
    load_into,
    read_state_dict,
)
from cyclegan.model.step import CycleGANStep


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


def _run_three_steps(case: str, fused: bool, input_scale: float = 1.0, adam: str = "foreach"):
    nets, cfg = _load_case(case, "init")
    nets.train()
    step = CycleGANStep(nets, cfg, precision="fp32", fused=fused, adam=adam)
    inputs = np.load(REFERENCE / "train_steps" / case / "inputs.npz")
    losses = []
    for i in range(3):
        a = torch.from_numpy(inputs["A"][i : i + 1]) * input_scale
        b = torch.from_numpy(inputs["B"][i : i + 1])
        losses.append({k: v.item() for k, v in step(a, b).items()})
    return nets, losses


def _expected_losses(case: str) -> list[dict]:
    return json.loads((REFERENCE / "train_steps" / case / "losses.json").read_text())


def _worst_relative_error(got: list[dict], expected: list[dict], steps=range(3)) -> float:
    return max(
        abs(got[i][ours] / expected[i][ref] - 1)
        for i in steps
        for ref, ours in REFERENCE_LOSS_NAMES.items()
        if expected[i][ref]
    )


# Per-step relative tolerances of ../shared/reference/README.md, measured by re-running
# the reference itself with 2 threads and on an AVX2-only CPU against the AVX-512 CPU
# that wrote the files (worst seen: 3.2e-7, 4.1e-6, 1.1e-4). Each step amplifies the
# rounding the steps before it left, so the tolerance grows tenfold a step.
STEP_LOSS_RTOL = (1e-5, 1e-4, 1e-3)
WEIGHTS_ATOL = 2e-3  # worst seen 1.1e-3: biases feeding an instance norm (see the README)


@pytest.mark.parametrize("case", ["lsgan_identity0.5", "vanilla_identity0"])
def test_three_steps_match_reference(case):
    """The reference's call order, in float32: each step's losses within the reference's
    own spread across CPU kinds, and the weights after step 3."""
    need(REFERENCE / "train_steps" / case)
    nets, losses = _run_three_steps(case, fused=False)
    expected = _expected_losses(case)
    for i, rtol in enumerate(STEP_LOSS_RTOL):
        for ref_name, ours in REFERENCE_LOSS_NAMES.items():
            want = expected[i][ref_name]
            assert losses[i][ours] == pytest.approx(want, rel=rtol, abs=1e-12), (i, ref_name)
    _assert_weights_match(case, nets)


@pytest.mark.parametrize("case", ["lsgan_identity0.5", "vanilla_identity0"])
def test_fused_calls_stay_within_float32_rounding_sensitivity(case):
    """The fused order (batched generator and discriminator calls) computes the same sums
    in another order. Adam's first updates are close to lr * sign(gradient), so any
    gradient below float32 rounding (biases feeding an instance norm, for one) moves
    its weight by +lr in one order and -lr in the other, and the later losses drift.

    The tolerance is measured, not chosen: the drift that a one-ulp change of the
    input causes in the reference order itself (seen: 5.5e-3 over 3 steps). The
    fused order must stay within twice that; step 1, before any update, to 1e-4;
    weights within the reference's own 2e-3. It runs with Adam's fused kernel, as
    training does (``device_setup.py``).
    """
    need(REFERENCE / "train_steps" / case)
    expected = _expected_losses(case)
    nets, fused = _run_three_steps(case, fused=True, adam="fused")
    _, nudged = _run_three_steps(case, fused=False, input_scale=1 + 1.2e-7)
    sensitivity = _worst_relative_error(nudged, expected)
    assert _worst_relative_error(fused, expected, steps=[0]) < 10 * STEP_LOSS_RTOL[0]
    # Never tighter than what the reference order itself is allowed after three steps.
    assert _worst_relative_error(fused, expected) <= 2 * max(sensitivity, STEP_LOSS_RTOL[2])
    _assert_weights_match(case, nets)


def _assert_weights_match(case: str, nets) -> None:
    after, _ = _load_case(case, "after_3_steps")
    for name in REFERENCE_NAMES.values():
        ours = getattr(nets, name).state_dict()
        for key, want in getattr(after, name).state_dict().items():
            torch.testing.assert_close(
                ours[key], want, atol=WEIGHTS_ATOL, rtol=0, msg=f"{name}.{key}"
            )
