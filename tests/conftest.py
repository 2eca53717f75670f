"""Shared fixtures: where the read-only reference data and datasets live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CYCLEGAN_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference"
DATASETS = SHARED / "datasets"


def need(path: Path) -> Path:
    """Skip, saying why, when a piece of ../shared is not beside the checkout."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the golden data and datasets live in ../shared")
    return path


@pytest.fixture(autouse=True)
def _small_threads():
    # Two cores: keep each test on them without oversubscription surprises.
    torch.set_num_threads(2)
    yield
