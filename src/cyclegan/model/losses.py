"""The CycleGAN objective's pieces (Zhu et al. 2017, Eq. 1-3, and Sec. 5.2 for identity).

- Adversarial: least squares (``lsgan``, the paper's choice: real -> 1, fake -> 0),
  the original cross entropy on logits (``vanilla``), or Wasserstein with gradient
  penalty (``wgangp``: the critic's mean score, plus Gulrajani et al.'s penalty).
- Cycle consistency and identity: L1 distances, weighted by the caller.

``LOSS_PANELS`` declares, once, every loss a training step reports, in pairs (one
per direction or domain), with the update it belongs to. The step, the loss log,
the progress line, the report's curves and the notebook API all read it, so a
new loss is added here and in the step that computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LossPanel:
    """A pair of losses shown together: ``title`` on the report's curves, ``short`` in
    the progress line; ``headline`` ones are shown where space is short."""

    title: str
    short: str
    names: tuple[str, str]
    update: str  # "generator" or "discriminator": the optimizer step the loss drives
    headline: bool = True


LOSS_PANELS = (
    LossPanel("adversarial (generators)", "G", ("g_ab", "g_ba"), "generator"),
    LossPanel("cycle consistency", "cyc", ("cycle_a", "cycle_b"), "generator"),
    LossPanel("identity", "idt", ("idt_ab", "idt_ba"), "generator", headline=False),
    LossPanel("discriminators", "D", ("d_a", "d_b"), "discriminator"),
)
LOSS_NAMES = tuple(name for panel in LOSS_PANELS for name in panel.names)
GENERATOR_LOSSES = tuple(n for p in LOSS_PANELS if p.update == "generator" for n in p.names)
HEADLINE_LOSSES = tuple(n for p in LOSS_PANELS if p.headline for n in p.names)


def gan_loss(prediction: torch.Tensor, target_is_real: bool, mode: str) -> torch.Tensor:
    """The adversarial loss of a discriminator's raw score map against a real/fake target."""
    prediction = prediction.float()  # losses are computed in float32 whatever the precision
    if mode == "lsgan":
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return F.mse_loss(prediction, target)
    if mode == "vanilla":
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return F.binary_cross_entropy_with_logits(prediction, target)
    return -prediction.mean() if target_is_real else prediction.mean()


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0
) -> torch.Tensor:
    """WGAN-GP: (||grad critic(x)||_2 - 1)^2 at random points x between real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    norms = grad.flatten(1).float().norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(a.float(), b.float())
