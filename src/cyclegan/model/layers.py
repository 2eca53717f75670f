"""Layers the generators and discriminators share."""

from __future__ import annotations

import functools

from torch import nn


def norm_layer_for(norm: str):
    """A factory ``channels -> nn.Module`` for the chosen normalization."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return lambda channels: nn.Identity()
