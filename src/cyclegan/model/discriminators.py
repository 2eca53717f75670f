"""The discriminators, layer for layer as in the reference: the 70x70 PatchGAN
(C64-C128-C256-C512), its n-layer variant, and the 1x1 PixelGAN."""

from __future__ import annotations

import torch
from torch import nn

from cyclegan.model.layers import norm_layer_for


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
