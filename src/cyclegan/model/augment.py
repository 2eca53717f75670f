"""Differentiable augmentation of what the discriminators see (``--diffaug``).

With a few hundred images a discriminator soon knows the training set by heart:
it then tells real from fake by memory, and its gradients stop teaching the
generators. DiffAugment (Zhao et al. 2020) transforms every image a
discriminator judges, real and fake alike and in both updates, with transforms
that gradients pass through, so the generators still learn from the judgement
of their (transformed) output, and the discriminator never sees the same real
image twice. The generators' own losses (cycle, identity) are untouched, and
so is translation: only training changes.

The policies, each drawn afresh for every image of every call:

=================  ==========================================================
``color``          brightness shift in [-0.5, 0.5], saturation x [0, 2] and
                   contrast x [0.5, 1.5] (on images in [-1, 1])
``translation``    shift by up to 1/8 of each side, zeros where the image left
``cutout``         one square of half each side set to zero, anywhere
=================  ==========================================================

Random numbers come from torch's generator of the images' device, so a run
resumes them with the rest of its random state.
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def parse_policies(text: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; raises ValueError naming
    an unknown one."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"{unknown[0]!r}; choose from {', '.join(POLICIES)}")
    return names


def _color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]

    def draw(low, high):
        return torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low

    x = x + draw(-0.5, 0.5)  # brightness ([-1, 1] images: half the reference's [0, 1] range)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * draw(0, 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * draw(0.5, 1.5) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    dy, dx = round(h * ratio), round(w * ratio)
    shift_y = torch.randint(-dy, dy + 1, (n, 1, 1), device=x.device)
    shift_x = torch.randint(-dx, dx + 1, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1) - shift_y  # where each pixel comes from
    xs = torch.arange(w, device=x.device).view(1, 1, w) - shift_x
    inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).unsqueeze(1)
    ys, xs = ys.clamp(0, h - 1).expand(n, h, w), xs.clamp(0, w - 1).expand(n, h, w)
    index = (ys * w + xs).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    moved = x.flatten(2).gather(2, index).view_as(x)
    return moved * inside


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = round(h * ratio), round(w * ratio)
    top = torch.randint(0, h - ch + 1, (n, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~hole).unsqueeze(1)


TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


def augment(x: torch.Tensor, policies: tuple[str, ...]) -> torch.Tensor:
    """``x`` (N, C, H, W) through each policy in turn; ``x`` itself with none."""
    for name in policies:
        x = TRANSFORMS[name](x)
    return x
