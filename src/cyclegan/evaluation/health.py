"""Failure alarms: cheap checks that name how a CycleGAN run is failing, and what to try.

Two kinds of evidence, both cheap:

- the fixed validation sample, translated at every validation (``translations``):
  ``identity`` (translations almost equal their inputs), ``mode_collapse``
  (translations of different inputs almost equal each other), ``saturation``
  (outputs pinned at the ends of the value range) and ``inversion`` (the
  translation is the input's negative);
- the loss log between two validations (``from_losses``): ``discriminator_wins``
  (its loss near 0 all along: real and fake separate perfectly, so the generators
  get no useful gradient), ``discriminator_lost`` (real and fake no longer
  separate: with least squares, both losses sit at their equilibrium 0.25), and
  ``cycle_stalled`` (the cycle loss stops falling while the adversarial loss keeps
  rising).

Images are ``(N, C, H, W)`` tensors in [-1, 1]. The thresholds are set far from
what healthy runs show (the tests build each failure on purpose and check a
healthy run raises none); an alarm is a reason to look at the samples, not proof.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

IDENTITY_CHANGE = 0.02  # mean |G(x) - x| on [-1, 1] below this: the input came back
MODE_SPREAD = 0.1  # spread of translations / spread of inputs below this: one image
SATURATED = 0.97  # |value| above this counts as pinned at an end
SATURATED_SHARE = 0.5  # more than this share of values pinned
INVERSION_CORRELATION = -0.95  # per-pixel correlation of G(x) with x below this
WIN_LOSS = 0.01  # least-squares discriminator loss below this: it wins completely
EQUILIBRIUM = (0.23, 0.27)  # both least-squares losses in here: no separation left
MIN_ROWS = 5  # loss-log rows a stretch needs before its trend counts


@dataclass(frozen=True)
class Alarm:
    name: str
    direction: str  # "AtoB", "BtoA", or "" for the whole run
    message: str  # what is wrong, with the number that shows it
    advice: str  # what to try

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.direction}: " if self.direction else ""
        return f"{self.name}: {where}{self.message}. Try: {self.advice}"


def _pairwise_spread(x: torch.Tensor) -> float:
    """Mean L1 distance between different images of a batch."""
    flat = x.flatten(1).float()
    n = len(flat)
    if n < 2:
        return 0.0
    dist = torch.cdist(flat, flat, p=1) / flat.shape[1]
    return float(dist.sum() / (n * (n - 1)))


def translations(inputs: torch.Tensor, outputs: torch.Tensor, direction: str) -> list[Alarm]:
    """Alarms from a direction's fixed sample and its translations."""
    alarms = []
    x, y = inputs.float(), outputs.float()
    if x.shape == y.shape:
        change = float((y - x).abs().mean())
        if change < IDENTITY_CHANGE:
            alarms.append(
                Alarm(
                    "identity",
                    direction,
                    f"translations almost equal their inputs (mean change {change:.4f})",
                    "fewer identity-loss weight (--lambda-identity 0), more epochs; check that "
                    "the two domains really differ",
                )
            )
        xc, yc = x - x.mean(), y - y.mean()
        corr = float((xc * yc).sum() / (xc.norm() * yc.norm() + 1e-12))
        if corr < INVERSION_CORRELATION:
            alarms.append(
                Alarm(
                    "inversion",
                    direction,
                    f"translations are their inputs' negatives (correlation {corr:.3f})",
                    "unless the domains really are negatives of each other, a lower --lr or "
                    "another --seed",
                )
            )
    spread_in, spread_out = _pairwise_spread(x), _pairwise_spread(y)
    if len(x) >= 2 and spread_in > 0 and spread_out / spread_in < MODE_SPREAD:
        alarms.append(
            Alarm(
                "mode_collapse",
                direction,
                f"translations of different inputs are nearly the same image (spread "
                f"{spread_out / spread_in:.3f} of the inputs')",
                "a lower --lr, another --seed, --gan-mode lsgan, a larger --pool-size",
            )
        )
    pinned = float((y.abs() > SATURATED).float().mean())
    if pinned > SATURATED_SHARE:
        alarms.append(
            Alarm(
                "saturation",
                direction,
                f"{pinned:.0%} of output values are pinned at the ends of the range",
                "a lower --lr; --precision fp32 if it happens only in mixed precision",
            )
        )
    return alarms


def _slope(values: list[float]) -> float:
    """Least-squares slope per row, relative to the mean level."""
    y = np.asarray(values, dtype=float)
    level = max(abs(float(y.mean())), 1e-12)
    return float(np.polyfit(np.arange(len(y)), y, 1)[0] / level)


def from_losses(rows: list[dict], gan_mode: str) -> list[Alarm]:
    """Alarms from the loss-log rows of a stretch of training (oldest first)."""
    if len(rows) < MIN_ROWS:
        return []
    alarms = []
    d = [(r["d_a"] + r["d_b"]) / 2 for r in rows]
    g = [(r["g_ab"] + r["g_ba"]) / 2 for r in rows]
    cycle = [r["cycle_a"] + r["cycle_b"] for r in rows]
    if gan_mode == "lsgan":
        if max(d) < WIN_LOSS:
            alarms.append(
                Alarm(
                    "discriminator_wins",
                    "",
                    f"the discriminators' loss stayed below {WIN_LOSS} for {len(rows)} logged "
                    "steps: they tell real from fake perfectly, the generators learn nothing",
                    "a lower discriminator capacity (--ndf, --n-layers-d), a larger "
                    "--pool-size, or a lower --lr",
                )
            )
        low, high = EQUILIBRIUM
        if all(low < v < high for v in d) and all(low < v < high for v in g):
            alarms.append(
                Alarm(
                    "discriminator_lost",
                    "",
                    f"discriminator and generator losses sat at 0.25 for {len(rows)} logged "
                    "steps: the discriminators no longer tell real from fake",
                    "check the samples; if they look wrong, a lower --lr or more "
                    "discriminator capacity (--ndf)",
                )
            )
    if len(rows) >= 2 * MIN_ROWS and _slope(cycle) > -0.001 and _slope(g) > 0.01:
        alarms.append(
            Alarm(
                "cycle_stalled",
                "",
                f"over {len(rows)} logged steps the cycle loss stopped falling while the "
                "adversarial loss kept rising",
                "a lower --lr, or stop here and pick the best checkpoint so far",
            )
        )
    return alarms
