"""The four networks of CycleGAN, built by name: the registry of generator
architectures, their construction and initialization, and the padding rule their
size multiples imply.

The layers are in ``generators.py`` and ``discriminators.py``. Their module tree
(``model``, ``model.10.conv_block.1``, ``net.0``, ...) is the reference
implementation's, so a state dict written by the reference loads with
``strict=True`` and no key renaming (see ``reference.py``). The networks know
nothing of losses, optimizers or files.

One quirk is kept on purpose: convolutions have a bias only when the norm is
instance norm (the reference's ``use_bias``), which also holds for ``norm=none``;
changing it would break loading the reference's checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan.model.discriminators import NLayerDiscriminator, PixelDiscriminator
from cyclegan.model.generators import ResnetGenerator, UnetGenerator

if TYPE_CHECKING:  # the configuration imports this module for its choice of generators
    from cyclegan.config import NetworkConfig


@dataclass(frozen=True)
class GeneratorKind:
    """A generator architecture: how to build it, and the multiple its input sides must
    be for the output to keep the input's size (2 to the power of its downsamplings)."""

    build: Callable[..., nn.Module]  # (in_nc, out_nc, ngf, norm, dropout) -> module
    size_multiple: int


def _resnet(blocks: int):
    return lambda i, o, ngf, norm, dropout: ResnetGenerator(i, o, ngf, norm, dropout, blocks)


def _unet(downs: int):
    return lambda i, o, ngf, norm, dropout: UnetGenerator(i, o, downs, ngf, norm, dropout)


# Every generator, by the name ``--net-g`` takes: a new one is added here and only here.
GENERATORS = {
    "resnet_9blocks": GeneratorKind(_resnet(9), 4),
    "resnet_6blocks": GeneratorKind(_resnet(6), 4),
    "unet_128": GeneratorKind(_unet(7), 128),
    "unet_256": GeneratorKind(_unet(8), 256),
}


def size_multiple(net_g: str) -> int:
    return GENERATORS[net_g].size_multiple


def padding_to_multiple(h, w, multiple: int, minimum: int = 0):
    """Rows and columns to add below and to the right of an ``h x w`` image so that both
    sides become multiples of ``multiple``, and at least ``minimum``. The one rule that
    translating (``translate.py``) and the exported graph (``export.py``) pad by; with
    ``minimum=0`` it is plain arithmetic, which traces symbolically for export."""

    def up(side):  # written without negative operands: symbolic sides trace cleanly
        return (multiple - side % multiple) % multiple

    def extra(side):
        pad = up(side)
        if minimum > 0:
            pad = max(pad, minimum - side)
            pad = pad + up(side + pad)
        return pad

    return extra(h), extra(w)


def padding_mode(h: int, w: int, ph: int, pw: int) -> str:
    """How an ``h x w`` image is padded by ``ph`` rows and ``pw`` columns: reflection
    needs the pad to be smaller than the side; replication covers the rest."""
    return "reflect" if ph < h and pw < w else "replicate"


def pad_to_multiple(
    x: torch.Tensor, multiple: int, minimum: int = 0
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right edges so both sides are multiples of ``multiple`` and at
    least ``minimum``; returns the padded tensor and the original size."""
    h, w = x.shape[-2:]
    ph, pw = padding_to_multiple(h, w, multiple, minimum)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode=padding_mode(h, w, ph, pw))
    return x, (h, w)


def build_generator(cfg: NetworkConfig, in_nc: int, out_nc: int) -> nn.Module:
    """An uninitialized generator ``in_nc`` channels -> ``out_nc`` channels."""
    return GENERATORS[cfg.net_g].build(in_nc, out_nc, cfg.ngf, cfg.norm, cfg.dropout)


def build_discriminator(cfg: NetworkConfig, in_nc: int) -> nn.Module:
    if cfg.net_d == "pixel":
        return PixelDiscriminator(in_nc, cfg.ndf, cfg.norm)
    layers = 3 if cfg.net_d == "basic" else cfg.n_layers_d
    return NLayerDiscriminator(in_nc, cfg.ndf, layers, cfg.norm)


def init_weights(net: nn.Module, init_type: str, gain: float) -> None:
    """The reference's init: conv weights N(0, gain) (or xavier/kaiming/orthogonal), biases 0,
    batch-norm scales N(1, gain)."""

    def init(m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init)


class CycleGANNetworks(nn.Module):
    """The four networks, named by direction: ``g_ab`` translates A -> B, ``g_ba``
    B -> A, ``d_a`` judges whether an image is a real A, ``d_b`` a real B (the
    reference's names for them: ``reference.py``)."""

    def __init__(self, cfg: NetworkConfig, *, discriminators: bool = True):
        super().__init__()
        self.g_ab = build_generator(cfg, cfg.input_nc, cfg.output_nc)
        self.g_ba = build_generator(cfg, cfg.output_nc, cfg.input_nc)
        if discriminators:
            self.d_a = build_discriminator(cfg, cfg.input_nc)
            self.d_b = build_discriminator(cfg, cfg.output_nc)

    def init_weights(self, cfg: NetworkConfig) -> None:
        for net in self.children():
            init_weights(net, cfg.init_type, cfg.init_gain)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
