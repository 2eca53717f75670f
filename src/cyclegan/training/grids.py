"""The sample grids: what the run's images look like through the live generators.

A grid has one row per sample image: real | translated | reconstructed |
identity. Samples are fixed when the run starts (``fixed_samples``), so every
epoch's grid shows the same images; rasters show as their domain's RGB
composite or gray (``Domain.display``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.data.domain import Domain, picture_domains
from cyclegan.data.imageio import array_to_tensor, tensor_to_array

GRID_COLUMNS = ("real", "translated", "reconstructed", "identity")


def fixed_samples(
    files: list[Path], domain: Domain, cfg: TrainConfig, count: int = 4
) -> list[torch.Tensor]:
    """``count`` images spread over the list, each as the run sees it (its preprocessing,
    centre crop, no flip): ``(1, C, H, W)`` tensors, the same every epoch."""
    from cyclegan.data.samples import load_sample

    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files))).astype(int)]
    return [array_to_tensor(load_sample(domain, p, cfg))[None] for p in picks]


def _as_rgb(t: torch.Tensor | None, domain: Domain, like: np.ndarray | None = None) -> np.ndarray:
    """A ``(1, C, H, W)`` tensor as a picture of its domain; None: a grey cell like ``like``."""
    if t is None:
        return np.full_like(like, 0.5)
    return domain.display(tensor_to_array(t[0]))


def sample_grid(
    g_ab: torch.nn.Module,
    g_ba: torch.nn.Module,
    real_a: list[torch.Tensor],
    real_b: list[torch.Tensor],
    network: NetworkConfig,
    precision: str = "fp32",
    domains: dict[str, Domain] | None = None,
) -> np.ndarray:
    """One row per sample image: real, translated, reconstructed, identity (H x W x 3).

    Each image is translated alone, exactly as ``cyclegan translate`` would translate
    it with these weights (same padding, same precision), so the grid shows the model
    the user gets. Rasters show as their domain's RGB composite or gray; where the
    domains' band counts differ there is no identity, and its cell is grey. Rows
    narrower than the widest are padded with grey on the right.
    """
    domains = domains or picture_domains(network)
    same_bands = network.input_nc == network.output_nc
    from cyclegan.inference.translate import Translator

    was_training = g_ab.training, g_ba.training
    device = next(g_ab.parameters()).device
    try:
        live = Translator(network, {"AtoB": g_ab, "BtoA": g_ba}, device, "training", precision)
        rows = []
        for reals, there, back, (own, other) in (
            (real_a, "AtoB", "BtoA", ("A", "B")),
            (real_b, "BtoA", "AtoB", ("B", "A")),
        ):
            for real in reals:
                fake = live.translate_tensor(real, there)
                cells = [
                    _as_rgb(real, domains[own]),
                    _as_rgb(fake, domains[other]),
                    _as_rgb(live.translate_tensor(fake, back), domains[own]),
                ]
                idt = live.translate_tensor(real, back) if same_bands else None
                cells.append(_as_rgb(idt, domains[own], cells[0]))
                rows.append(np.concatenate(cells, axis=1))
        width = max(r.shape[1] for r in rows)
        rows = [
            np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=0.5) for r in rows
        ]
        return np.concatenate(rows, axis=0)
    finally:
        g_ab.train(was_training[0]), g_ba.train(was_training[1])
