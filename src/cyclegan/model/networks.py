"""The generators and discriminators of CycleGAN, layer for layer as in the reference.

The module tree (``model``, ``model.10.conv_block.1``, ``net.0``, ...) is the
reference implementation's, so a state dict written by the reference loads into
these modules with ``strict=True`` and no key renaming (see ``reference.py``).
The networks know nothing of losses, optimizers or files.

Generators (Zhu et al. 2017, Sec. 4 and appendix 7.2):
- ResNet: c7s1-64, d128, d256, 6 or 9 residual blocks R256, u128, u64, c7s1-3.
- U-Net: the pix2pix encoder-decoder with skip connections, 7 or 8 downsamplings.
Discriminators: the 70x70 PatchGAN (C64-C128-C256-C512), its n-layer variant,
and the 1x1 PixelGAN.

One quirk is kept on purpose: convolutions have a bias only when the norm is
instance norm (the reference's ``use_bias``), which also holds for ``norm=none``;
changing it would break loading the reference's checkpoints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # the configuration imports this module for its choice of generators
    from cyclegan.config import NetworkConfig


def norm_layer_for(norm: str):
    """A factory ``channels -> nn.Module`` for the chosen normalization."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return lambda channels: nn.Identity()


class ResnetBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), with reflection padding."""

    def __init__(self, dim: int, norm_layer, use_dropout: bool, use_bias: bool):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
            norm_layer(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
            norm_layer(dim),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Two stride-2 downsamplings, ``n_blocks`` residual blocks, two upsamplings."""

    def __init__(
        self, input_nc: int, output_nc: int, ngf: int, norm: str, use_dropout: bool, n_blocks: int
    ):
        super().__init__()
        norm_layer = norm_layer_for(norm)
        use_bias = norm == "instance"
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # downsampling
            mult = 2**i
            model += [
                nn.Conv2d(
                    ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias
                ),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        for _ in range(n_blocks):
            model.append(ResnetBlock(ngf * 4, norm_layer, use_dropout, use_bias))
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    ngf * mult // 2,
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=use_bias,
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        model += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetSkipBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, and the skip concatenation."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        norm_layer,
        use_bias: bool,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(
                inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias
            )
            model = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias
            )
            model = [
                downrelu,
                downconv,
                norm_layer(inner_nc),
                submodule,
                uprelu,
                upconv,
                norm_layer(outer_nc),
            ]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` halvings: a 2**num_downs input becomes 1x1 at the bottleneck."""

    def __init__(
        self, input_nc: int, output_nc: int, num_downs: int, ngf: int, norm: str, use_dropout: bool
    ):
        super().__init__()
        norm_layer = norm_layer_for(norm)
        b = functools.partial(UnetSkipBlock, norm_layer=norm_layer, use_bias=norm == "instance")
        block = b(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = b(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout)
        block = b(ngf * 4, ngf * 8, submodule=block)
        block = b(ngf * 2, ngf * 4, submodule=block)
        block = b(ngf, ngf * 2, submodule=block)
        self.model = b(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake scores, one per overlapping patch (70x70 for 3 layers)."""

    def __init__(self, input_nc: int, ndf: int, n_layers: int, norm: str):
        super().__init__()
        norm_layer = norm_layer_for(norm)
        use_bias = norm == "instance"
        seq: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            seq += [
                nn.Conv2d(
                    ndf * prev, ndf * mult, kernel_size=4, stride=2, padding=1, bias=use_bias
                ),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        seq += [
            nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=1, padding=1, bias=use_bias),
            norm_layer(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: judges each pixel's colour alone."""

    def __init__(self, input_nc: int, ndf: int, norm: str):
        super().__init__()
        use_bias = norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            norm_layer_for(norm)(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


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
