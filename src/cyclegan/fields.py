"""Options as dataclass fields: declared once with their help and allowed values,
checked when the object is built, read from and written to JSON.

``config.py`` (a run's options) and ``settings.py`` (the other commands') declare
their fields with ``option``; the command line is generated from that metadata
(``cli/options.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Hashable
from dataclasses import field
from pathlib import Path
from typing import Any

from cyclegan.errors import ConfigError

REQUIRED = dataclasses.MISSING  # an option with no default: the command line requires it


def option(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    ref: str | None = None,
    aliases: tuple[str, ...] = (),
    kind: Any = None,
    metavar: str | None = None,
):
    """A dataclass field with the metadata the CLI and the validation read. ``kind``
    converts command-line text where the default's type cannot tell (None, Path)."""
    metadata = {
        "help": help,
        "choices": choices,
        "ref": ref,
        "aliases": aliases,
        "kind": kind,
        "metavar": metavar,
    }
    return field(default=default, metadata=metadata)


def validate(obj: Any) -> None:
    """Check every field against its declared choices and its type."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        choices = f.metadata.get("choices")
        if choices is not None and (not isinstance(value, Hashable) or value not in choices):
            raise ConfigError(
                f"option {f.name!r} is {value!r}; allowed: {', '.join(map(str, choices))}"[:300]
            )
        if value is None and f.default is None:
            continue
        if isinstance(f.default, bool) and not isinstance(value, bool):
            raise ConfigError(f"option {f.name!r} must be true or false, got {value!r}")
        number = _number_kind(f)
        if number is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"option {f.name!r} must be a number, got {value!r}"[:200])
            if not math.isfinite(value):  # NaN compares false with every bound below
                raise ConfigError(f"option {f.name!r} is {value!r}; give a finite number")
            if number is int and not isinstance(value, int):
                raise ConfigError(f"option {f.name!r} must be a whole number, got {value!r}")
        if isinstance(f.default, str) and not isinstance(value, str):
            raise ConfigError(f"option {f.name!r} must be text, got {value!r}"[:200])


def _number_kind(f: dataclasses.Field) -> type | None:
    """``int`` or ``float`` for a numeric option, from its default, or for an option
    whose default is None (decided later) from its annotation (``int | None``)."""
    if isinstance(f.default, int | float) and not isinstance(f.default, bool):
        return int if isinstance(f.default, int) else float
    if f.default is None:
        first = str(f.type).split("|")[0].strip()
        return {"int": int, "float": float}.get(first)
    return None


def positive(obj: Any, *names: str, allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None:  # "decided later" (an option whose default is None)
            continue
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"option {name!r} must be {bound}, got {value!r}")


def from_dict(cls: type, values: Any, what: str, unknown_what: str):
    """``cls`` from JSON values, refusing a non-object and names it does not have."""
    if not isinstance(values, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(values).__name__}")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {unknown_what}: {', '.join(unknown)}")
    return cls(**values)


def write_json(path: Path, values: dict[str, Any]) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
