"""The checkpoint format: what a checkpoint folder holds, how its files are written
and read. A run's checkpoints (where they go, their order, ``latest``, ``best``,
pruning) are ``run_checkpoints.py``; every file name is ``layout.py``'s.

    RUN/checkpoints/epoch_0005/
        config.json            the networks' constructor arguments and the format  }  all that
        g_ab.safetensors       generator A -> B                                    }  translating
        g_ba.safetensors       generator B -> A                                    }  needs
        d_a.safetensors        discriminator of domain A
        d_b.safetensors        discriminator of domain B
        g_ab_ema.safetensors   with --ema: the generators' weight averages (model/ema.py),
        g_ba_ema.safetensors   which translation uses by default
        training.json          the training record: options, position, time saved
        training_state.json    optimizers, schedulers, image pools, RNG states, loss
        training_state.safetensors    sums: JSON and tensors, never pickle (statefile.py)

Format version 1 (before 2026-12-01) kept the record inside ``config.json``;
such folders load as before (``read_meta`` returns the same view of both). Every
file is checked before use (``checkpoint_schema.py``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cyclegan.config import NetworkConfig, TrainConfig, network_from_dict
from cyclegan.errors import CheckpointError, ConfigError
from cyclegan.fields import write_json
from cyclegan.model import checkpoint_schema
from cyclegan.model.layout import (
    LEGACY_STATE,
    NETWORK_FILE,
    RECORD_FILE,
    averaged_name,
    checkpoint_name,
    weights_file,
)
from cyclegan.model.reference import torch_load_tensors
from cyclegan.model.statefile import has_state, load_state, save_state

FORMAT = "cyclegan-checkpoint"
VERSION = 2
GENERATORS = ("g_ab", "g_ba")
DISCRIMINATORS = ("d_a", "d_b")


@dataclass(frozen=True)
class Position:
    """Where training stands: ``batches_done`` batches of epoch ``epochs_done + 1`` are done."""

    epochs_done: int = 0
    batches_done: int = 0
    global_step: int = 0

    def folder_name(self) -> str:
        return checkpoint_name(self.epochs_done, self.batches_done, self.global_step)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}


def first_non_finite(tensors) -> str | None:
    """The key path of the first tensor holding NaN or infinity in a (nested) dict or
    list of tensors; None when every value is finite."""
    if isinstance(tensors, torch.Tensor):
        finite = not tensors.is_floating_point() or bool(torch.isfinite(tensors).all())
        return None if finite else ""
    if isinstance(tensors, dict):
        items = tensors.items()
    elif isinstance(tensors, list | tuple):
        items = enumerate(tensors)
    else:
        return None  # a number or a string: nothing to check
    for key, value in items:
        bad = first_non_finite(value)
        if bad is not None:
            return f"{key}.{bad}" if bad else str(key)
    return None


def check_writable(folder: Path) -> None:
    """Fail now, naming the folder, rather than at the first save hours later."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CheckpointError(
            f"run folder {folder} is not writable: {exc.strerror or exc}"
        ) from None


def write_files(
    folder: Path,
    cfg: TrainConfig,
    weights: dict[str, dict[str, torch.Tensor]],
    training_state: dict,
    position: Position,
    domains: dict | None,
    extra: dict | None,
    sequence: int,
) -> None:
    """Write every file of a checkpoint into ``folder`` (new and empty) and flush them
    to disk; ``run_checkpoints.save_checkpoint`` moves the folder into place."""
    options = cfg.to_dict()
    network = options.pop("network")
    # What translation needs: the networks, and how raster domains scale (data/bands.py).
    described = {"format": FORMAT, "version": VERSION, "network": network}
    if domains and any(d.get("stats") for d in domains.values()):
        described["domains"] = domains
    write_json(folder / NETWORK_FILE, described)
    record = {
        "sequence": sequence,
        "train": options,
        "epochs_done": position.epochs_done,
        "batches_done": position.batches_done,
        "global_step": position.global_step,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    write_json(folder / RECORD_FILE, record)
    for name, tensors in weights.items():
        save_file(tensors, weights_file(folder, name))
    save_state(folder, training_state)
    for f in folder.iterdir():
        _fsync(f)


def gather_weights(
    nets: torch.nn.Module, averages: dict | None = None
) -> dict[str, dict[str, torch.Tensor]]:
    """The four networks' weights on the CPU, by file name, and the generators' weight
    averages (``{"g_ab": WeightAverage, ...}``, with ``--ema``)."""
    weights = {name: _weights(getattr(nets, name)) for name in GENERATORS + DISCRIMINATORS}
    for name, average in (averages or {}).items():
        weights[averaged_name(name)] = _weights(average.average)
    return weights


def has_averages(folder: Path) -> bool:
    """Whether a checkpoint holds the generators' weight averages (``--ema``)."""
    return all(weights_file(folder, averaged_name(g)).is_file() for g in GENERATORS)


def can_resume(folder: Path) -> bool:
    """Whether ``folder`` holds a training state (this format's or the older one)."""
    return has_state(folder) or (Path(folder) / LEGACY_STATE).is_file()


def is_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a model to translate with (its networks' configuration
    and generator weights), whether or not it can also resume training."""
    folder = Path(folder)
    return (folder / NETWORK_FILE).is_file() and weights_file(folder, GENERATORS[0]).is_file()


def _read_object(path: Path, missing: str) -> dict:
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(missing) from None
    except (ValueError, RecursionError) as exc:  # nesting too deep for the parser
        raise CheckpointError(f"{path}: broken JSON ({str(exc)[:120]})") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(values).__name__}")
    return values


def read_meta(folder: Path) -> dict:
    """A checkpoint's description, the same for every format version: ``format``,
    ``version``, ``network``; and where it holds a training record, ``train`` (every
    option, the network's included), ``epochs_done``, ``batches_done``, ``global_step``
    and ``saved_at``."""
    folder = Path(folder)
    path = folder / NETWORK_FILE
    meta = _read_object(path, f"{folder}: not a checkpoint folder (no {NETWORK_FILE})")
    checkpoint_schema.check_description(path, meta, FORMAT, VERSION)
    if meta.get("version", 1) < 2 or not (folder / RECORD_FILE).exists():
        checkpoint_schema.check_record(path, meta)  # version 1 held its record here
        return meta  # version 1 holds its record in config.json; a bare bundle has none
    record = _read_object(folder / RECORD_FILE, "")
    checkpoint_schema.check_record(folder / RECORD_FILE, record)
    train = record.get("train")
    if isinstance(train, dict):
        record["train"] = {**train, "network": meta.get("network")}
    return {**record, **meta}


def load_weights(folder: Path, name: str) -> dict[str, torch.Tensor]:
    path = weights_file(folder, name)
    if not path.is_file():
        raise CheckpointError(f"{folder}: missing {path.name}")
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: unreadable weights ({exc})") from None
    bad = first_non_finite(tensors)
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad} is NaN or infinite; this model is broken")
    return tensors


def load_network_config(folder: Path) -> NetworkConfig:
    meta = read_meta(folder)
    try:
        return network_from_dict(meta["network"])
    except (KeyError, ConfigError) as exc:
        raise CheckpointError(
            f"{Path(folder) / NETWORK_FILE}: no usable network options ({exc})"
        ) from None


def load_training_state(folder: Path) -> dict:
    """What ``save_checkpoint`` stored to resume from (``statefile.py``). A checkpoint
    from before that format holds ``training_state.pt``: read with torch's restricted
    loader, which builds tensors and plain data and never runs pickled code."""
    folder = Path(folder)
    if has_state(folder):
        return load_state(folder)
    path = folder / LEGACY_STATE
    if not path.is_file():
        raise CheckpointError(f"{folder}: has no training state, so training cannot resume from it")
    try:
        state = torch_load_tensors(path)
    except Exception:  # torch's safe unpickler raises many kinds on a corrupt or foreign file
        raise CheckpointError(
            f"{path}: unreadable training state (corrupt, or holding more than tensors and "
            "numbers, which is never unpickled); resume from another checkpoint"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: unreadable training state (not a dictionary)")
    return state
