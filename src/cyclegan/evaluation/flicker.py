"""How much a translated video flickers, against the video it was translated from.

Two scores, on a 0-255 scale, each over every pair of consecutive frames:

- **warping error** (the temporal-consistency measure of Lai et al. 2018): the
  optical flow of the *input* frames says where each pixel of frame t was in frame
  t-1; the output frame t-1 moved along it should be the output frame t. The mean
  absolute difference over the pixels where the flow is reliable (forward-backward
  check, ``data/flow.py``) is the score. The same number for the input itself is
  printed beside it: what the flow and the codec alone cost, the floor a perfectly
  stable translation would reach.
- **change ratio**: the mean change between consecutive output frames over the
  mean change between consecutive input frames. No flow is involved: 1 means the
  output changes as much as the input does; flicker pushes it above.

The flow is Farneback's, not the DIS flow that ``--temporal-smoothing`` moves
frames with, so that the smoothing is not judged by its own estimator.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import numpy as np

from cyclegan.data.flow import Flow, gray, reliable, warp
from cyclegan.data.imageio import resize
from cyclegan.data.video import frames
from cyclegan.errors import DataError


def flicker(source: Path, translated: Path, method: str = "farneback") -> dict:
    """The flicker scores of ``translated`` against ``source`` (see the module)."""
    flow = Flow(method)
    previous = None
    out_errors, in_errors, reliable_share = [], [], []
    out_change = in_change = 0.0
    count = 0
    for x, y in zip_longest(frames(source), frames(translated)):
        if x is None or y is None:
            longer, shorter = (source, translated) if y is None else (translated, source)
            raise DataError(f"{shorter} has fewer frames than {longer}: not a translation of it")
        count += 1
        y = y.astype(np.float32)
        x = _sized(x, y.shape[:2])
        current = (gray(x / 255), x, y)
        if previous is not None:
            (pg, px, py), (cg, cx, cy) = previous, current
            backward = flow(cg, pg)
            mask = reliable(backward, flow(pg, cg))
            out_errors.append(_masked_mean(np.abs(cy - warp(py, backward)), mask))
            in_errors.append(_masked_mean(np.abs(cx - warp(px, backward)), mask))
            reliable_share.append(float(mask.mean()))
            out_change += float(np.abs(cy - py).mean())
            in_change += float(np.abs(cx - px).mean())
        previous = current
    if count < 2:
        raise DataError(f"{source}: flicker needs two frames or more; it has {count}")
    return {
        "frames": count,
        "warping_error": float(np.mean(out_errors)),
        "input_warping_error": float(np.mean(in_errors)),
        "change_ratio": out_change / max(in_change, 1e-6),
        "reliable": float(np.mean(reliable_share)),
        "flow": method,
    }


def _sized(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The input frame as float 0-255 at the output's size."""
    arr = frame.astype(np.float32)
    if arr.shape[:2] != tuple(shape):
        arr = resize(arr / 255, shape[1], shape[0]) * 255
    return arr


def _masked_mean(error: np.ndarray, mask: np.ndarray) -> float:
    per_pixel = error.mean(axis=-1)
    return float(per_pixel[mask].mean()) if mask.any() else 0.0


def flicker_line(name: str, scores: dict) -> str:
    """The scores in words, for the command line."""
    return (
        f"flicker of {name}: warping error {scores['warping_error']:.2f} "
        f"(the input's own {scores['input_warping_error']:.2f}; 0-255, lower is steadier), "
        f"change ratio {scores['change_ratio']:.2f} (1: changes as much as the input), "
        f"{scores['frames']} frames, flow reliable on {scores['reliable']:.0%} of pixels"
    )
