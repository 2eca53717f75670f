"""An exponential moving average of a generator's weights (``--ema DECAY``).

GAN generators wander from step to step around a good solution; the average of
their recent weights sits nearer its centre, and usually translates better than
the last step's weights (Yazici et al. 2019; the StyleGAN family and joliGEN keep
one). After each generator update, every parameter of the average moves towards
the trained one:

    average = d * average + (1 - d) * trained,    d = min(decay, (1 + t) / (10 + t))

at the t-th update (t = 1, 2, ...). The warm-up (TensorFlow's
``ExponentialMovingAverage`` with ``num_updates``) keeps the first steps' random
weights from lingering: at t = 1 the average keeps 18% of its old weights, at t = 90
91%, and from t = (10 decay - 1) / (1 - decay) on (8,990 for 0.999) ``decay``. Buffers (batch
norm's running statistics) are copied, not averaged. The trained weights are what
training goes on from; the average is a second copy that only follows.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def decay_at(decay: float, updates: int) -> float:
    """The decay used at the ``updates``-th update (see the module's docstring)."""
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage:
    """The running average of one module's weights, itself a module (``average``)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay, self.updates = decay, 0
        self.average = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """One step of the average towards ``module``'s current weights."""
        self.updates += 1
        weight = 1 - decay_at(self.decay, self.updates)
        averaged = list(self.average.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in module.parameters()], weight)
        for mine, theirs in zip(self.average.buffers(), module.buffers(), strict=True):
            mine.copy_(theirs)

    @torch.no_grad()
    def reset(self, module: nn.Module) -> None:
        """Start again from ``module``'s weights (a fresh average)."""
        self.average.load_state_dict(module.state_dict())
        self.updates = 0
