"""Translating an image too large for one pass: overlapping tiles, blended back together.

A generator's activations grow with the image: ResNet-9 with ngf 64 peaks at
about 0.7 KB per pixel on the CPU (3.1 GiB for a 2400 x 1932 image, measured
by ``benchmarks/tiling.py``), so a 6000 x 4000 photo would need about 16 GiB in
one pass. Tiles bound that, whatever the image size.

Two things differ between a tile and the whole image, and each has its remedy:

- **Normalization.** Instance norm normalizes each image with its own per-channel
  mean and variance. Computed per tile, they differ from tile to tile, and so do
  the tiles' colours and contrast: visible blocks. So the statistics come from
  the whole image first: one pass over it, downscaled to at most
  ``stats_size`` pixels on its longer side, records every instance-norm layer's
  statistics, and every tile is then normalized with those (exactly the
  whole-image statistics when the image fits within ``stats_size``).
- **Borders.** Near a tile's inner edge the network sees reflection padding
  instead of the real neighbourhood. So tiles overlap by ``overlap`` pixels or
  more (the fewest tiles that do, spread evenly, all inside the image, of one
  size, and on the network's downsampling grid) and their outputs are
  cross-faded: a tile's
  weight rises linearly from near 0 at an inner edge to 1 at ``overlap``
  pixels in, and stays 1 along the image's own borders.

A network that works pixel by pixel gives exactly its whole-image result,
which the tests check; ``docs/benchmarks.md`` measures how close a real
generator comes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan.errors import ConfigError


def check_tiling(tile: int, overlap: int, stats_size: int, multiple: int) -> None:
    """Raise a ``ConfigError`` naming the option that cannot work."""
    if tile < 2 * multiple or tile % multiple:
        raise ConfigError(
            f"option 'tile' is {tile}: use a multiple of {multiple} (the generator's size "
            f"multiple), at least {2 * multiple}; 512 or 1024 suit most images"
        )
    if not 0 <= overlap <= tile // 2:
        raise ConfigError(
            f"option 'tile_overlap' is {overlap}: use 0 to {tile // 2} (half the tile of {tile})"
        )
    if stats_size and stats_size < 2 * multiple:
        raise ConfigError(
            f"option 'tile_stats_size' is {stats_size}: use at least {2 * multiple}, "
            "or 0 for each tile's own statistics"
        )


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Where tiles start along a side of ``length`` pixels: the fewest tiles that cover it
    sharing at least ``overlap`` pixels, spread evenly from one edge to the other.

    Starts are multiples of ``align`` (``length`` and ``tile`` must be too): a tile
    that starts off the network's downsampling grid would sample its strided
    convolutions at other pixels than the whole image does, and differ from it.
    """
    if length <= tile:
        return [0]
    units, tile_units = length // align, tile // align
    step_units = tile_units - math.ceil(overlap / align)
    count = math.ceil((units - tile_units) / step_units) + 1
    return [align * round(i * (units - tile_units) / (count - 1)) for i in range(count)]


def _ramp(size: int, start: int, length: int, overlap: int) -> torch.Tensor:
    """1-D weights of a tile of ``size`` at ``start`` on a side of ``length``: rising over
    ``overlap`` pixels from each edge shared with another tile, flat on the image's borders."""
    weight = torch.ones(size)
    if overlap == 0:
        return weight
    rise = (torch.arange(min(overlap, size)) + 0.5) / overlap  # > 0: no pixel weighs nothing
    if start > 0:
        weight[: rise.numel()] = rise
    if start + size < length:
        weight[-rise.numel() :] = torch.minimum(weight[-rise.numel() :], rise.flip(0))
    return weight


def translate_in_tiles(
    translate: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int,
    overlap: int,
    align: int = 1,
) -> torch.Tensor:
    """``translate`` an ``(N, C, H, W)`` image tile by tile; returns ``(N, C_out, H, W)``.

    ``translate`` maps a crop to its translation of the same height and width. With
    ``align`` > 1 the image's sides must be multiples of it (pad first, crop after).
    The blended result is accumulated in float32 on the CPU, never on the device.
    """
    n, _, height, width = image.shape
    total = weights = None
    for y in tile_starts(height, tile, overlap, align):
        for x in tile_starts(width, tile, overlap, align):
            piece = translate(image[..., y : y + tile, x : x + tile]).float().cpu()
            if total is None:
                total = torch.zeros(n, piece.shape[1], height, width)
                weights = torch.zeros(1, 1, height, width)
            h, w = piece.shape[-2:]
            window = _ramp(h, y, height, overlap)[:, None] * _ramp(w, x, width, overlap)[None]
            total[..., y : y + h, x : x + w] += piece * window
            weights[..., y : y + h, x : x + w] += window
    return total.div_(weights)  # in place: for a large image every full-size copy counts


class _FixedStatisticsNorm(nn.Module):
    """Instance norm with given per-image, per-channel statistics ``(N, C)`` instead of
    its input's: each tile of image i is normalized as the whole image i was."""

    def __init__(self, norm: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor):
        super().__init__()
        self.eps, self.mean, self.var = norm.eps, mean[..., None, None], var[..., None, None]
        self.weight, self.bias = (norm.weight, norm.bias) if norm.affine else (None, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x.float() - self.mean) * torch.rsqrt(self.var + self.eps)
        if self.weight is not None:
            y = y * self.weight[:, None, None] + self.bias[:, None, None]
        return y.to(x.dtype)


def downscale(image: torch.Tensor, longest: int) -> torch.Tensor:
    """The image scaled down (antialiased) so its longer side is at most ``longest``."""
    h, w = image.shape[-2:]
    if max(h, w) <= longest:
        return image
    factor = longest / max(h, w)
    size = (max(round(h * factor), 1), max(round(w * factor), 1))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)


def with_image_statistics(
    generator: nn.Module, run_whole: Callable[[nn.Module], object]
) -> nn.Module:
    """A copy of ``generator`` whose instance norms use the statistics that
    ``run_whole(generator)`` (a pass over the whole, downscaled image) met.
    A generator without instance norm comes back as it is."""
    norms = {n: m for n, m in generator.named_modules() if isinstance(m, nn.InstanceNorm2d)}
    if not norms:
        return generator
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(name):
        def hook(module, inputs, output):
            x = inputs[0].float()
            seen[name] = (x.mean(dim=(2, 3)), x.var(dim=(2, 3), unbiased=False))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in norms.items()]
    try:
        run_whole(generator)
    finally:
        for handle in handles:
            handle.remove()
    fixed = copy.deepcopy(generator)
    for name, (mean, var) in seen.items():
        parent_name, _, child = name.rpartition(".")
        parent = fixed.get_submodule(parent_name) if parent_name else fixed
        setattr(parent, child, _FixedStatisticsNorm(norms[name], mean, var))
    return fixed
