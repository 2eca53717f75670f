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

The losses it reports (declared in ``losses.LOSS_PANELS``; the reference's
names for them are in ``reference.py``):

=============  =============================================
name           measures
=============  =============================================
``g_ab``       g_ab fooling d_b
``g_ba``       g_ba fooling d_a
``cycle_a``    lambda_a |g_ba(g_ab(a)) - a|
``cycle_b``    lambda_b |g_ab(g_ba(b)) - b|
``idt_ab``     identity of g_ab on real B images, weighted
``idt_ba``     identity of g_ba on real A images, weighted
``d_a``        discriminator of domain A
``d_b``        discriminator of domain B
=============  =============================================
"""

from __future__ import annotations

import torch
from torch import nn

from cyclegan.config import TrainConfig
from cyclegan.model import distributed
from cyclegan.model.augment import augment, parse_policies
from cyclegan.model.ema import WeightAverage
from cyclegan.model.losses import gan_loss, gradient_penalty, l1
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.pool import ImagePool
from cyclegan.model.precision import autocast, grad_scaler
from cyclegan.model.schedule import build_scheduler, step_scheduler
from cyclegan.seeds import pool_seeds


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class GeneratorPair(nn.Module):
    """Both generators as one module whose single forward computes every generator output
    of a step. One call per step is what DistributedDataParallel can synchronize, though
    each generator runs two or three times inside it."""

    def __init__(self, g_ab: nn.Module, g_ba: nn.Module, identity: bool, fused: bool):
        super().__init__()
        self.g_ab, self.g_ba, self.identity, self.fused = g_ab, g_ba, identity, fused

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.fused and self.identity and real_a.shape == real_b.shape:
            out["fake_b"], out["idt_ab"] = self.g_ab(torch.cat([real_a, real_b])).chunk(2)
            out["fake_a"], out["idt_ba"] = self.g_ba(torch.cat([real_b, real_a])).chunk(2)
        else:
            out["fake_b"], out["fake_a"] = self.g_ab(real_a), self.g_ba(real_b)
            if self.identity:
                out["idt_ab"], out["idt_ba"] = self.g_ab(real_b), self.g_ba(real_a)
        out["rec_a"] = self.g_ba(out["fake_b"])
        out["rec_b"] = self.g_ab(out["fake_a"])
        return out


class DiscriminatorPair(nn.Module):
    """Both discriminators judging real and (pooled) fake images, in one forward."""

    def __init__(self, d_a: nn.Module, d_b: nn.Module, fused: bool):
        super().__init__()
        self.d_a, self.d_b, self.fused = d_a, d_b, fused

    def _judge(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor):
        if self.fused and real.shape == fake.shape:
            return d(torch.cat([real, fake])).chunk(2)
        return d(real), d(fake)

    def forward(self, real_a, fake_a, real_b, fake_b) -> dict[str, torch.Tensor]:
        out = {}
        out["real_a"], out["fake_a"] = self._judge(self.d_a, real_a, fake_a)
        out["real_b"], out["fake_b"] = self._judge(self.d_b, real_b, fake_b)
        return out


class CycleGANStep:
    """Holds what training changes: the networks, both optimizers, their learning-rate
    schedules, their gradient scalers and both image pools; ``state_dict`` is all of it
    but the weights, so resuming is ``load_state_dict``.

    ``precision`` is a concrete one from ``precision.py`` (fp32, bf16 or fp16).
    ``fused=True`` computes the same losses with fewer, larger network calls:

    - ``g_ab([real_a, real_b])`` gives ``fake_b`` and the identity image in one call
      (and likewise ``g_ba``), so each generator runs twice per step, not three times;
    - each discriminator judges ``[real, fake]`` in one call.

    Batching changes nothing when every layer treats samples independently, which
    holds for instance norm and no norm (and dropout draws independently anyway);
    batch norm would mix the statistics of the batched images, so it is never fused.
    ``fused=False`` is the reference's sequence of calls, kept for the golden tests
    and as the baseline that ``cyclegan bench`` compares against.

    ``generators`` and ``discriminators`` are the modules each update runs through;
    with several processes ``distribute`` wraps each in DistributedDataParallel. The
    generator update calls the discriminators directly: they are frozen there, get
    no gradient, and so have nothing to synchronize. ``rank`` gives every process
    image pools of its own (``seeds.pool_seeds``). ``adam`` is Adam's kernel,
    ``"foreach"`` or ``"fused"`` (what training picks: ``device_setup.py``).
    ``compile`` runs the modules the step calls under ``torch.compile`` from then on
    (``--compile``); the networks themselves, which validation, sample grids and
    checkpoints use, stay as they are.
    """

    def __init__(
        self,
        nets: CycleGANNetworks,
        cfg: TrainConfig,
        precision: str = "fp32",
        fused: bool = False,
        rank: int = 0,
        adam: str = "foreach",
    ):
        self.nets = nets
        self.cfg = cfg
        self.rank = rank
        self.precision = precision
        self.fused = fused and cfg.network.norm != "batch"
        self.generators: nn.Module = GeneratorPair(
            nets.g_ab, nets.g_ba, cfg.identity_active, self.fused
        )
        self.discriminators: nn.Module = DiscriminatorPair(nets.d_a, nets.d_b, self.fused)
        self.judges: dict[str, nn.Module] = {"a": nets.d_a, "b": nets.d_b}  # frozen, for L_G
        self.graphs = False  # CUDA graphs (``compile``)
        device = next(nets.parameters()).device
        self.autocast = lambda: autocast(precision, device)
        # Adam's kernel, same arithmetic: "foreach" is one kernel per group of tensors
        # rather than one per tensor; "fused", one for all (device_setup.py).
        kernel = {adam: True}
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(
            list(nets.g_ab.parameters()) + list(nets.g_ba.parameters()),
            lr=cfg.lr,
            betas=betas,
            **kernel,
        )
        self.opt_d = torch.optim.Adam(
            list(nets.d_a.parameters()) + list(nets.d_b.parameters()),
            lr=cfg.lr,
            betas=betas,
            **kernel,
        )
        self.sched_g = build_scheduler(self.opt_g, cfg)
        self.sched_d = build_scheduler(self.opt_d, cfg)
        self.scaler_g = grad_scaler(precision, device)
        self.scaler_d = grad_scaler(precision, device)
        seed_a, seed_b = pool_seeds(cfg.seed, rank)
        self.pool_a = ImagePool(cfg.pool_size, seed=seed_a)
        self.pool_b = ImagePool(cfg.pool_size, seed=seed_b)
        # --diffaug: what every image the discriminators judge goes through.
        self.policies = parse_policies(cfg.diffaug)
        # --ema: the generators' weight averages, moved after every generator update.
        self.averages = (
            {name: WeightAverage(getattr(nets, name), cfg.ema) for name in ("g_ab", "g_ba")}
            if cfg.ema
            else {}
        )

    @property
    def lr(self) -> float:
        """The learning rate the next step trains at."""
        return self.opt_g.param_groups[0]["lr"]

    def distribute(self, ctx: distributed.Context, device: torch.device) -> None:
        """Run both updates through DistributedDataParallel when several processes train.
        Call it after loading weights: DDP starts every process from rank 0's."""
        self.generators = distributed.wrap(self.generators, ctx, device)
        self.discriminators = distributed.wrap(self.discriminators, ctx, device)

    def compile(self, backend: str = "inductor", mode: str | None = None) -> None:
        """Call the generators and discriminators through ``torch.compile`` from now
        on: the first steps pay for a compile (once for each shape and for each of the
        discriminators' frozen and training states), later ones run the compiled
        kernels. Call it after ``distribute``, so that it compiles what runs.
        ``mode="reduce-overhead"`` adds CUDA graphs (what ``bench --compile`` times on
        a GPU; each step then marks its start, and the pools keep copies)."""
        options = {"backend": backend, "mode": mode}
        self.generators = torch.compile(self.generators, **options)
        self.discriminators = torch.compile(self.discriminators, **options)
        self.judges = {side: torch.compile(d, **options) for side, d in self.judges.items()}
        self.graphs = mode == "reduce-overhead"

    def end_epoch(self, mean_generator_loss: float) -> None:
        """Move both schedules to the next epoch (``plateau`` reads the epoch's mean loss)."""
        step_scheduler(self.sched_g, mean_generator_loss)
        step_scheduler(self.sched_d, mean_generator_loss)

    def __call__(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run one step; returns the detached losses (tensors, so no device sync here)."""
        cfg, n = self.cfg, self.nets
        losses: dict[str, torch.Tensor] = {}
        if self.graphs:  # the outputs of the last step's graphs may now be overwritten
            torch.compiler.cudagraph_mark_step_begin()

        # 1. Generators, discriminators frozen so their weights get no gradient.
        _set_requires_grad([n.d_a, n.d_b], False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            img = self.generators(real_a, real_b)
            judged_b, judged_a = self._seen(img["fake_b"]), self._seen(img["fake_a"])
            losses["g_ab"] = gan_loss(self.judges["b"](judged_b), True, cfg.gan_mode)
            losses["g_ba"] = gan_loss(self.judges["a"](judged_a), True, cfg.gan_mode)
        losses["cycle_a"] = l1(img["rec_a"], real_a) * cfg.lambda_a
        losses["cycle_b"] = l1(img["rec_b"], real_b) * cfg.lambda_b
        if cfg.identity_active:
            weight = cfg.lambda_identity
            losses["idt_ab"] = l1(img["idt_ab"], real_b) * cfg.lambda_b * weight
            losses["idt_ba"] = l1(img["idt_ba"], real_a) * cfg.lambda_a * weight
        else:
            losses["idt_ab"] = losses["idt_ba"] = torch.zeros((), device=real_a.device)
        self.scaler_g.scale(sum(losses.values())).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        for name, average in self.averages.items():
            average.update(getattr(n, name))
        _set_requires_grad([n.d_a, n.d_b], True)

        # 2. Discriminators on real images and pooled fakes.
        self.opt_d.zero_grad(set_to_none=True)
        fake_a = self._seen(self.pool_a.query(img["fake_a"]).to(real_a.dtype))
        fake_b = self._seen(self.pool_b.query(img["fake_b"]).to(real_b.dtype))
        real_a, real_b = self._seen(real_a), self._seen(real_b)
        mode = cfg.gan_mode
        with self.autocast():
            pred = self.discriminators(real_a, fake_a, real_b, fake_b)
            judged = (("a", real_a, fake_a, n.d_a), ("b", real_b, fake_b, n.d_b))
            for side, real, fake, d in judged:
                loss = 0.5 * (
                    gan_loss(pred[f"real_{side}"], True, mode)
                    + gan_loss(pred[f"fake_{side}"], False, mode)
                )
                if mode == "wgangp":
                    loss = loss + gradient_penalty(d, real, fake)
                losses[f"d_{side}"] = loss
        self.scaler_d.scale(losses["d_a"] + losses["d_b"]).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return {k: v.detach() for k, v in losses.items()}

    def _seen(self, images: torch.Tensor) -> torch.Tensor:
        """What a discriminator is shown of ``images``: them, or with ``--diffaug``
        their augmentation (``augment.py``), drawn afresh."""
        return augment(images, self.policies) if self.policies else images

    def state_dict(self) -> dict:
        """Everything but the weights (the averages' weights are files beside them)."""
        averages = {"ema_updates": {k: a.updates for k, a in self.averages.items()}}
        return {
            **(averages if self.averages else {}),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "pool_a": self.pool_a.state_dict(),
            "pool_b": self.pool_b.state_dict(),
        }

    def load_state_dict(self, state: dict, device: torch.device | str) -> None:
        """Restore a saved state (rank 0's: on other ranks the pools start from its
        images but draw from their own streams)."""
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.pool_a.load_state_dict(state["pool_a"], device)
        self.pool_b.load_state_dict(state["pool_b"], device)
        for name, average in self.averages.items():
            average.updates = int(state.get("ema_updates", {}).get(name, 0))
        if self.rank > 0:
            seed_a, seed_b = pool_seeds(self.cfg.seed, self.rank)
            self.pool_a.rng.seed(seed_a)
            self.pool_b.rng.seed(seed_b)
