"""The CycleGAN objective's pieces (Zhu et al. 2017, Eq. 1-3, and Sec. 5.2 for identity).

- Adversarial: least squares (``lsgan``, the paper's choice: real -> 1, fake -> 0),
  the original cross entropy on logits (``vanilla``), or Wasserstein with gradient
  penalty (``wgangp``: the critic's mean score, plus Gulrajani et al.'s penalty).
- Cycle consistency and identity: L1 distances, weighted by the caller.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
