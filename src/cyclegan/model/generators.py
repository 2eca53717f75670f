"""The generators, layer for layer as in the reference (module names included).

- ResNet (Zhu et al. 2017, appendix 7.2): c7s1-64, d128, d256, 6 or 9 residual blocks
  R256, u128, u64, c7s1-3.
- U-Net: the pix2pix encoder-decoder with skip connections, 7 or 8 downsamplings.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from cyclegan.model.layers import norm_layer_for


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
