"""Temporal smoothing of a translated video: less flicker, the same motion.

A generator translates each frame alone, so what it invents (texture, stripes,
small colour shifts) changes from one frame to the next although the scene moves
smoothly: the video flickers. This blends each translated frame with the previous
*output* frame, moved along the optical flow of the *input* frames onto the
current one, where that flow is reliable (in the spirit of the flow-guided
blending of Bonneel et al. 2015 and Lai et al. 2018, without their learned or
optimised parts):

    out_t = y_t + s * w * (warp(out_{t-1}) - y_t)

with ``y_t`` the frame translated alone, ``s`` the strength and ``w`` in [0, 1]
the trust in the flow at each pixel: 0 where the forward-backward check fails
(occlusions, mismatches) and falling off where the input frame t-1, warped the
same way, does not match frame t (a cut, a flash, fast motion the flow missed).
Where the flow holds, ``out`` is a running average along each point's path, so
invented detail stays put; where it does not, ``out`` is the frame's own
translation, so motion is not smeared. Because ``out_{t-1}`` is already smoothed,
the effective memory is about ``1 / (1 - s)`` frames.

The flow is DIS (``data/flow.py``); the flicker score that judges it uses
Farneback, another method, so that the smoothing is not judged by its own flow.
"""

from __future__ import annotations

import numpy as np

from cyclegan.data.flow import Flow, gray, reliable, warp
from cyclegan.data.imageio import resize, to_uint8

PHOTOMETRIC = 0.1  # an input mismatch (0-1 scale) that leaves e^-1 of the trust (measured:
# 0.1 lowered the demo clip's warping error more than 0.05, and its error against the truth)


class TemporalSmoothing:
    """Feed frames in order: ``smooth(input_frame, translated) -> output``."""

    def __init__(self, strength: float, method: str = "dis"):
        self.strength, self.flow = strength, Flow(method)
        self.previous = None  # (gray input, input 0-1, output) of frame t-1

    def __call__(self, source: np.ndarray, translated: np.ndarray) -> np.ndarray:
        """``source``: the input frame, uint8 RGB; ``translated``: its translation alone,
        float ``H x W x C`` in [0, 1]. Returns the smoothed output frame."""
        source = _sized(source, translated.shape[:2])
        current = (gray(source), source.astype(np.float32) / 255)
        if self.previous is None or self.previous[0].shape != current[0].shape:
            self.previous = (*current, translated)
            return translated
        (prev_gray, prev_in, prev_out), (cur_gray, cur_in) = self.previous, current
        backward = self.flow(cur_gray, prev_gray)
        forward = self.flow(prev_gray, cur_gray)
        mismatch = np.abs(warp(prev_in, backward) - cur_in).max(axis=-1)
        trust = reliable(backward, forward) * np.exp(-((mismatch / PHOTOMETRIC) ** 2))
        weight = (self.strength * trust)[..., None].astype(np.float32)
        moved = warp(prev_out, backward).reshape(translated.shape)
        out = translated + weight * (moved - translated)
        self.previous = (cur_gray, cur_in, out)
        return out


def _sized(frame: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The input frame at the output's size (they differ with ``--scale training``)."""
    if frame.shape[:2] == tuple(shape):
        return frame
    return to_uint8(resize(frame.astype(np.float32) / 255, shape[1], shape[0]))
