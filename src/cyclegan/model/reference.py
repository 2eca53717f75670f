"""The reference implementation's names, and reading the networks it saved (``*.pth``).

This is the one table of the reference's names against this project's, which
name everything by direction: the reference's ``G_A`` maps A to B and is our
``g_ab``, and its ``D_A`` judges domain B, so it is our ``d_b``. It writes
``torch.save(net.state_dict(), "<epoch>_net_<NAME>.pth")`` with these names:

=====================  ========  ==========================================
reference file         here      what it is
=====================  ========  ==========================================
``*_net_G_A.pth``      ``g_ab``  generator A -> B
``*_net_G_B.pth``      ``g_ba``  generator B -> A
``*_net_D_A.pth``      ``d_b``   discriminator of domain B
``*_net_D_B.pth``      ``d_a``   discriminator of domain A
``*_net_G.pth``        one-way   a test-only generator (``--model test``)
=====================  ========  ==========================================

Its losses (``REFERENCE_LOSS_NAMES``; ``step.py`` says what each measures):
``G_A`` is ``g_ab``, ``G_B`` ``g_ba``, ``cycle_A`` ``cycle_a``, ``cycle_B``
``cycle_b``, ``idt_A`` ``idt_ab``, ``idt_B`` ``idt_ba``, ``D_A`` ``d_b`` and
``D_B`` ``d_a``.

The published pretrained CycleGAN models are such files (``horse2zebra.pth``,
``monet2photo.pth``: one generator each). Checkpoints written before PyTorch 0.4
carry ``running_mean``/``running_var``/``num_batches_tracked`` on InstanceNorm
layers that no longer track statistics; they are dropped here, as the reference
does when it loads, and then the state dict must match the network exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from cyclegan.errors import CheckpointError

REFERENCE_NAMES = {"G_A": "g_ab", "G_B": "g_ba", "D_A": "d_b", "D_B": "d_a"}
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

_LEGACY_STATS = ("running_mean", "running_var", "num_batches_tracked")


def torch_load_tensors(path: Path):
    """``torch.load`` restricted to tensors and plain data (no pickled code runs), with
    torch's warnings about foreign files kept from the user: the caller says what is wrong."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a ``.pth`` state dict safely (no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    try:
        state = torch_load_tensors(path)
    except Exception:  # torch's safe unpickler raises many kinds on a foreign file
        # Not torch's own text: it suggests weights_only=False, which would run whatever
        # code the file holds.
        raise CheckpointError(
            f"{path}: not a readable PyTorch state dict (not a .pth file, corrupt, or "
            "holding more than tensors; pickled code is never run)"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    bad = next(
        (k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()),
        None,
    )
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad} is NaN or infinite; this model is broken")
    return state


def clean_state_dict(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Strip a DataParallel/DDP ``module.`` prefix and legacy InstanceNorm statistics."""
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    modules = dict(net.named_modules())
    cleaned = {}
    for key, value in state.items():
        owner, _, leaf = key.rpartition(".")
        module = modules.get(owner)
        if (
            leaf in _LEGACY_STATS
            and isinstance(module, nn.InstanceNorm2d)
            and not module.track_running_stats
        ):
            continue
        cleaned[key] = value
    return cleaned


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str, hint: str = "") -> None:
    """Strictly load ``state`` into ``net``; a mismatch names the source and what differs."""
    state = clean_state_dict(state, net)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    wrong_type = [
        k for k in own if k in state and own[k].is_floating_point() != state[k].is_floating_point()
    ]
    if missing or unexpected or wrong_shape or wrong_type:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
        if wrong_shape:
            k = wrong_shape[0]
            parts.append(
                f"{len(wrong_shape)} shape mismatches (first: {k} is "
                f"{tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the network)"
            )
        if wrong_type:
            k = wrong_type[0]
            parts.append(
                f"{len(wrong_type)} of the wrong type (first: {k} is {state[k].dtype} in "
                f"the file, {own[k].dtype} in the network)"
            )
        raise CheckpointError(
            f"{source}: weights do not fit the network: {'; '.join(parts)}."
            + (f" {hint}" if hint else "")
        )
    net.load_state_dict(state, strict=True)
