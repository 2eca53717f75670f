"""Every random stream of a run, derived from its one ``seed`` option, in one place.

A run draws from several streams that must not overlap, and that must not change
from one version to the next (a resumed run and the golden tests replay them):

- the epoch plan: sample order, B partners and per-sample augmentation seeds of
  epoch ``e`` (``data.EpochPlan``);
- the two image pools of each process (``pool.ImagePool``), which must not draw
  the same swap decisions as each other or as another process's;
- torch's global stream (weight init, dropout): rank 0 keeps the single-process
  stream, so one process trains exactly as before; other ranks get their own.

The formulas are those the first versions used; rank 0 of a run gives the
numbers a single process gives.
"""

from __future__ import annotations

SPREAD = 1_000_003  # a prime far above any epoch count: streams of nearby seeds never meet
RANK_SPREAD = 7919  # a prime: the torch streams of ranks of nearby seeds never meet


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s plan (the same on every process)."""
    return seed * SPREAD + epoch


def pool_seeds(seed: int, rank: int = 0) -> tuple[int, int]:
    """Seeds of the image pools of domain A and domain B on process ``rank``."""
    base = seed * 2 + SPREAD * rank
    return base + 1, base + 2


def rank_torch_seed(seed: int, rank: int, global_step: int) -> int:
    """Torch's global seed on a process other than rank 0, when training starts or
    resumes at ``global_step`` (so a resumed rank does not replay its dropout draws)."""
    return seed + RANK_SPREAD * rank + global_step
