"""Learning-rate schedules, stepped once at the end of each epoch.

``linear`` (the paper's): the initial rate for ``n_epochs`` epochs, then a linear
decay over ``n_epochs_decay`` epochs. Epoch ``e`` (1-based) trains at

    lr * (1 - max(0, e - n_epochs) / (n_epochs_decay + 1))

so epochs 1..n_epochs run at the full rate, epoch n_epochs+1 is the first to
decay, and the last one runs at lr / (n_epochs_decay + 1): every epoch trains.
The reference today steps its scheduler at the *start* of each epoch, so its
decay begins one epoch earlier and its last epoch runs at a rate of exactly 0,
a wasted epoch; this is the schedule the reference used before that change.

``step``: x0.1 every ``lr_decay_iters`` epochs. ``cosine``: cosine from lr to 0
over all epochs. ``plateau``: x0.2 after 5 epochs without the epoch's mean
generator loss improving by 1% (the reference gives it a constant 0 instead).
"""

from __future__ import annotations

import torch

from cyclegan.config import TrainConfig


def linear_factor(epochs_done: int, n_epochs: int, n_epochs_decay: int) -> float:
    """The rate multiplier of the epoch after ``epochs_done`` completed epochs."""
    epoch = epochs_done + 1
    return 1.0 - max(0, epoch - n_epochs) / float(n_epochs_decay + 1)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    if cfg.lr_policy == "linear":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda done: linear_factor(done, cfg.n_epochs, cfg.n_epochs_decay)
        )
    if cfg.lr_policy == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_decay_iters, gamma=0.1)
    if cfg.lr_policy == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.total_epochs, eta_min=0
        )
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=0.2, threshold=0.01, patience=5
    )


def step_scheduler(scheduler, epoch_mean_g_loss: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(epoch_mean_g_loss)
    else:
        scheduler.step()
