"""Writing a run's matplotlib figures: off-screen, and atomically (a browser refreshing
the report never reads half a PNG)."""

from __future__ import annotations

import os
from pathlib import Path


def save_figure(fig, out: Path) -> Path:
    import matplotlib.pyplot as plt

    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part{out.suffix}")  # one per writer
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out)
    return out
