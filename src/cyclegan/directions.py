"""The two directions of a translation, and what each means: the one place that
decodes ``"AtoB"`` and ``"BtoA"`` (never by indexing the string).

    AtoB: domain A -> domain B, by g_ab      BtoA: domain B -> domain A, by g_ba
"""

from __future__ import annotations

from cyclegan.errors import ConfigError

DIRECTIONS = ("AtoB", "BtoA")
_LABELS = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}


def check(direction: str) -> str:
    if direction not in _LABELS:
        raise ConfigError(f"direction {direction!r}: use AtoB or BtoA")
    return direction


def labels(direction: str) -> tuple[str, str]:
    """The (source, target) domain labels of a direction: ``"BtoA"`` -> ("B", "A")."""
    return _LABELS[check(direction)]


def source(direction: str) -> str:
    return labels(direction)[0]


def target(direction: str) -> str:
    return labels(direction)[1]


def back(direction: str) -> str:
    """The other direction: the way a translation is reconstructed."""
    return "BtoA" if check(direction) == "AtoB" else "AtoB"
