"""Differentiable augmentation of the discriminators' inputs (``--diffaug``,
``model/augment.py``): what each policy does, that gradients pass, that every image a
discriminator judges (real and fake, both updates) goes through it, and that it is
off by default."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_config
from cyclegan.config import TrainConfig
from cyclegan.errors import ConfigError
from cyclegan.model import step as step_module
from cyclegan.model.augment import POLICIES, augment, parse_policies
from cyclegan.model.networks import CycleGANNetworks


def _images(n=4, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_keeps_the_shape_and_passes_gradients(policy):
    x = _images().requires_grad_(True)
    y = augment(x, (policy,))
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_same_random_state_gives_the_same_transform():
    x = _images()
    torch.manual_seed(3)
    first = augment(x, POLICIES)
    torch.manual_seed(3)
    assert torch.equal(first, augment(x, POLICIES))
    assert not torch.equal(first, augment(x, POLICIES))  # drawn afresh each call


def test_translation_moves_pixels_and_fills_zeros():
    x = _images(8) + 3  # no pixel is 0 before
    torch.manual_seed(0)
    y = augment(x, ("translation",))
    values = set(x.flatten().tolist()) | {0.0}
    assert set(y.flatten().tolist()) <= values
    assert (y == 0).any() and not torch.equal(x, y)


def test_cutout_zeroes_one_half_sized_square_per_image():
    x = _images(6, 16) + 3
    torch.manual_seed(1)
    y = augment(x, ("cutout",))
    holes = (y == 0).all(dim=1)  # every channel zeroed together
    assert holes.flatten(1).sum(1).tolist() == [64] * 6  # an 8 x 8 square each
    assert torch.equal(y[~(y == 0)], x[~(y == 0)])


def test_color_treats_every_pixel_of_an_image_alike():
    x = torch.full((3, 3, 8, 8), 0.2)
    y = augment(x, ("color",))
    assert torch.allclose(y, y[:, :, :1, :1].expand_as(y))


def test_every_image_a_discriminator_judges_is_augmented(tiny_data, tmp_path, monkeypatch):
    """One step with --diffaug: the two fakes of the generator update, and the two
    pooled fakes and two real batches of the discriminator update: six calls."""
    seen = []

    def recording(images, policies):
        seen.append((tuple(images.shape), policies))
        return augment(images, policies)

    monkeypatch.setattr(step_module, "augment", recording)
    cfg = tiny_config(tiny_data, tmp_path / "run", diffaug="color,cutout")
    nets = CycleGANNetworks(cfg.network)
    step = step_module.CycleGANStep(nets, cfg)
    step(_images(1, 32), _images(1, 32, seed=1))
    assert len(seen) == 6 and {p for _, p in seen} == {("color", "cutout")}


def test_off_by_default_and_checked():
    assert TrainConfig().diffaug == ""
    assert parse_policies(" color, translation ") == ("color", "translation")
    with pytest.raises(ConfigError, match="option 'diffaug': 'blur'"):
        TrainConfig(diffaug="blur")
