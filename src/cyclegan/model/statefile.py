"""The training state of a checkpoint without pickle: tensors in safetensors, the rest
in JSON, so that resuming a run never unpickles anything.

    training_state.safetensors   every tensor (optimizer moments, image pools, RNG
                                 states), named by its place in the state
    training_state.json          the structure: numbers, strings, lists, and dicts
                                 with their keys' types kept, a tensor standing as
                                 {"__tensor__": name}, a tuple as {"__tuple__": [...]}

The state is what ``Run.state_dict`` gathers (the step's optimizers, scalers and
pools, the schedulers, RNG states, the loss window, counts). A value of any other
type is refused when saving, naming where it sits, rather than pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cyclegan.errors import CheckpointError
from cyclegan.model.layout import STATE_TENSORS as TENSORS
from cyclegan.model.layout import STATE_TREE as TREE


def save_state(folder: Path, state: dict) -> None:
    """Write ``state`` as the two files in ``folder``."""
    tensors: dict[str, torch.Tensor] = {}

    def encode(value, where: str):
        if isinstance(value, torch.Tensor):
            tensors[where] = value.detach().cpu().contiguous().clone()
            return {"__tensor__": where}
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise CheckpointError(f"training state: key {key!r} at {where} is not storable")
            items = enumerate(value.items())  # by position: keys 1 and "1" stay apart
            return {"__dict__": [[k, encode(v, f"{where}/{i}")] for i, (k, v) in items]}
        if isinstance(value, tuple):
            return {"__tuple__": [encode(v, f"{where}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, f"{where}/{i}") for i, v in enumerate(value)]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise CheckpointError(
            f"training state: a {type(value).__name__} at {where} cannot be stored without pickle"
        )

    tree = encode(state, "state")
    folder = Path(folder)
    save_file(tensors, folder / TENSORS)
    (folder / TREE).write_text(json.dumps(tree))


def load_state(folder: Path) -> dict:
    """Read what ``save_state`` wrote; a ``CheckpointError`` naming the file if it cannot."""
    folder = Path(folder)
    try:
        tree = json.loads((folder / TREE).read_text())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise CheckpointError(f"{folder / TREE}: unreadable training state ({exc})") from None
    try:
        tensors = load_file(folder / TENSORS)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{folder / TENSORS}: unreadable training state ({exc})") from None

    def decode(value):
        if isinstance(value, list):
            return [decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        if set(value) == {"__tuple__"}:
            return tuple(decode(v) for v in value["__tuple__"])
        if set(value) == {"__dict__"}:
            return {k: decode(v) for k, v in value["__dict__"]}
        raise ValueError(f"unexpected entry {sorted(value)[:3]}")

    try:
        state = decode(tree)
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{folder / TREE}: malformed training state ({exc})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{folder / TREE}: malformed training state (not a dictionary)")
    return state


def has_state(folder: Path) -> bool:
    return (Path(folder) / TREE).is_file() and (Path(folder) / TENSORS).is_file()
