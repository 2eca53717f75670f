"""Devices and numeric precision: where the networks run, and in which dtype.

``pick_device``: ``auto`` is CUDA when present, else the CPU.

- ``fp32``: plain float32, the reference's arithmetic (the golden tests use it).
- ``bf16``: mixed precision. Convolutions run in bfloat16 under autocast; weights,
  optimizer state, normalization statistics and every loss stay float32.
  bfloat16 has float32's exponent range, so no loss scaling is needed.
- ``fp16``: mixed precision with float16 and dynamic loss scaling, for GPUs
  without bfloat16 (before Ampere).
- ``auto``: what ``device_setup.py`` picks for the device: bf16 where the hardware
  runs it natively (CUDA compute capability 8.0 and later; CPUs with AVX-512 BF16 or
  AMX), fp16 on GPUs with tensor cores but no bfloat16, fp32 elsewhere.
"""

from __future__ import annotations

import contextlib

import torch

from cyclegan.errors import ConfigError


def cpu_has_bf16() -> bool:
    """True when oneDNN can run bfloat16 convolutions natively on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(precision: str, device: torch.device):
    """The context the networks' forward passes run in."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling, active for fp16 only (a no-op object otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("option 'device' is 'cuda' but no CUDA device is available")
    return torch.device(name)
