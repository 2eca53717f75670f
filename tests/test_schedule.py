"""The learning-rate schedules, epoch by epoch."""

from __future__ import annotations

import pytest
import torch

from cyclegan.config import TrainConfig
from cyclegan.model.schedule import build_scheduler, linear_factor, step_scheduler


def _rates(cfg: TrainConfig, metric=lambda epoch: 1.0) -> list[float]:
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = build_scheduler(opt, cfg)
    rates = []
    for epoch in range(1, cfg.total_epochs + 1):
        rates.append(opt.param_groups[0]["lr"])  # the rate this epoch trains at
        opt.step()
        step_scheduler(sched, metric(epoch))
    return rates


def test_linear_keeps_rate_then_decays_and_every_epoch_trains():
    cfg = TrainConfig(lr=1.0, n_epochs=3, n_epochs_decay=4)
    rates = _rates(cfg)
    assert rates[:3] == [1.0, 1.0, 1.0]  # epochs 1..n_epochs at the full rate
    assert rates[3:] == pytest.approx([0.8, 0.6, 0.4, 0.2])  # first decayed: epoch 4
    assert rates[-1] > 0  # unlike the reference's current order, the last epoch still learns


def test_linear_factor_reaches_zero_after_the_last_epoch():
    assert linear_factor(7, 3, 4) == pytest.approx(0.0)


def test_step_policy_divides_by_ten():
    rates = _rates(
        TrainConfig(lr=1.0, lr_policy="step", lr_decay_iters=2, n_epochs=5, n_epochs_decay=0)
    )
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_plateau_reduces_when_the_loss_stalls():
    cfg = TrainConfig(lr=1.0, lr_policy="plateau", n_epochs=10, n_epochs_decay=0)
    rates = _rates(cfg, metric=lambda epoch: 5.0)
    assert rates[0] == 1.0 and rates[-1] == pytest.approx(0.2)


def test_cosine_ends_near_zero():
    rates = _rates(TrainConfig(lr=1.0, lr_policy="cosine", n_epochs=4, n_epochs_decay=4))
    assert rates[0] == 1.0 and rates == sorted(rates, reverse=True) and rates[-1] < 0.05
