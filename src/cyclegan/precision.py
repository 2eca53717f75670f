"""Numeric precision: which dtype the networks compute in, per device.

- ``fp32``: plain float32, the reference's arithmetic (the golden tests use it).
- ``bf16``: mixed precision. Convolutions run in bfloat16 under autocast; weights,
  optimizer state, normalization statistics and every loss stay float32.
  bfloat16 has float32's exponent range, so no loss scaling is needed.
- ``fp16``: mixed precision with float16 and dynamic loss scaling, for GPUs
  without bfloat16 (before Ampere).
- ``auto``: bf16 where the hardware runs it natively (CUDA with bf16 support;
  CPUs with AVX-512 BF16 or AMX), fp16 on older CUDA GPUs, fp32 elsewhere.
"""

from __future__ import annotations

import contextlib

import torch

from cyclegan.config import PRECISIONS  # noqa: F401  (the choices, defined with the options)


def cpu_has_bf16() -> bool:
    """True when oneDNN can run bfloat16 convolutions natively on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve(precision: str, device: torch.device) -> str:
    """The concrete precision ``auto`` stands for on ``device``."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def autocast(precision: str, device: torch.device):
    """The context the networks' forward passes run in."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling, active for fp16 only (a no-op object otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
