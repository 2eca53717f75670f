"""One CycleGAN training step: the paper's algorithm, as the reference runs it.

    fake_b = g_ab(real_a)    rec_a = g_ba(fake_b)      (A -> B -> A)
    fake_a = g_ba(real_b)    rec_b = g_ab(fake_a)      (B -> A -> B)

1. Generators, with both discriminators frozen (Eq. 3):
       L_G = GAN(d_b(fake_b), real) + GAN(d_a(fake_a), real)
           + lambda_a |rec_a - real_a| + lambda_b |rec_b - real_b|
           + lambda_identity (lambda_b |g_ab(real_b) - real_b| + lambda_a |g_ba(real_a) - real_a|)
   one Adam step over both generators.
2. Discriminators, each on a real image and a fake from its image pool:
       L_D = 0.5 (GAN(d(real), real) + GAN(d(pooled fake), fake))
   one Adam step over both.

Loss names, against the reference's (whose ``G_A`` is our ``g_ab`` and whose
``D_A`` judges domain B, our ``d_b``):

=============  ===========  =============================================
here           reference    measures
=============  ===========  =============================================
``g_ab``       ``G_A``      g_ab fooling d_b
``g_ba``       ``G_B``      g_ba fooling d_a
``cycle_a``    ``cycle_A``  lambda_a |g_ba(g_ab(a)) - a|
``cycle_b``    ``cycle_B``  lambda_b |g_ab(g_ba(b)) - b|
``idt_ab``     ``idt_A``    identity of g_ab on real B images, weighted
``idt_ba``     ``idt_B``    identity of g_ba on real A images, weighted
``d_b``        ``D_A``      discriminator of domain B
``d_a``        ``D_B``      discriminator of domain A
=============  ===========  =============================================
"""

from __future__ import annotations

import torch
from torch import nn

from cyclegan.config import TrainConfig
from cyclegan.losses import gan_loss, gradient_penalty, l1
from cyclegan.networks import CycleGANNetworks
from cyclegan.pool import ImagePool

LOSS_NAMES = ("g_ab", "g_ba", "cycle_a", "cycle_b", "idt_ab", "idt_ba", "d_a", "d_b")
REFERENCE_LOSS_NAMES = {
    "G_A": "g_ab",
    "G_B": "g_ba",
    "cycle_A": "cycle_a",
    "cycle_B": "cycle_b",
    "idt_A": "idt_ab",
    "idt_B": "idt_ba",
    "D_A": "d_b",
    "D_B": "d_a",
}


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class CycleGANStep:
    """Holds what one step changes: the networks, both optimizers and both image pools."""

    def __init__(self, nets: CycleGANNetworks, cfg: TrainConfig):
        self.nets = nets
        self.cfg = cfg
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(
            list(nets.g_ab.parameters()) + list(nets.g_ba.parameters()), lr=cfg.lr, betas=betas
        )
        self.opt_d = torch.optim.Adam(
            list(nets.d_a.parameters()) + list(nets.d_b.parameters()), lr=cfg.lr, betas=betas
        )
        # Separate seeds: the two pools must not draw the same swap decisions.
        self.pool_a = ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 1)
        self.pool_b = ImagePool(cfg.pool_size, seed=cfg.seed * 2 + 2)

    def __call__(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run one step; returns the detached losses (tensors, so no device sync here)."""
        cfg, n = self.cfg, self.nets
        losses: dict[str, torch.Tensor] = {}

        fake_b = n.g_ab(real_a)
        rec_a = n.g_ba(fake_b)
        fake_a = n.g_ba(real_b)
        rec_b = n.g_ab(fake_a)

        # 1. Generators, discriminators frozen so their weights get no gradient.
        _set_requires_grad([n.d_a, n.d_b], False)
        self.opt_g.zero_grad(set_to_none=True)
        losses["g_ab"] = gan_loss(n.d_b(fake_b), True, cfg.gan_mode)
        losses["g_ba"] = gan_loss(n.d_a(fake_a), True, cfg.gan_mode)
        losses["cycle_a"] = l1(rec_a, real_a) * cfg.lambda_a
        losses["cycle_b"] = l1(rec_b, real_b) * cfg.lambda_b
        if cfg.identity_active:
            losses["idt_ab"] = l1(n.g_ab(real_b), real_b) * cfg.lambda_b * cfg.lambda_identity
            losses["idt_ba"] = l1(n.g_ba(real_a), real_a) * cfg.lambda_a * cfg.lambda_identity
        else:
            losses["idt_ab"] = losses["idt_ba"] = torch.zeros((), device=real_a.device)
        sum(losses.values()).backward()
        self.opt_g.step()
        _set_requires_grad([n.d_a, n.d_b], True)

        # 2. Discriminators on real images and pooled fakes.
        self.opt_d.zero_grad(set_to_none=True)
        losses["d_b"] = self._discriminator_loss(n.d_b, real_b, self.pool_b.query(fake_b))
        losses["d_a"] = self._discriminator_loss(n.d_a, real_a, self.pool_a.query(fake_a))
        (losses["d_a"] + losses["d_b"]).backward()
        self.opt_d.step()
        return {k: v.detach() for k, v in losses.items()}

    def _discriminator_loss(
        self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor:
        fake = fake.detach()
        loss = 0.5 * (
            gan_loss(d(real), True, self.cfg.gan_mode) + gan_loss(d(fake), False, self.cfg.gan_mode)
        )
        if self.cfg.gan_mode == "wgangp":
            loss = loss + gradient_penalty(d, real, fake)
        return loss

    def state_dict(self) -> dict:
        return {
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "pool_a": self.pool_a.state_dict(),
            "pool_b": self.pool_b.state_dict(),
        }

    def load_state_dict(self, state: dict, device: torch.device | str) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.pool_a.load_state_dict(state["pool_a"], device)
        self.pool_b.load_state_dict(state["pool_b"], device)
