"""Optical flow between two frames, and warping along it, with OpenCV (its headless
wheel, no downloaded weights): what the flicker score (``evaluation/flicker.py``)
and the temporal smoothing (``inference/smoothing.py``) stand on.

Two estimators, so that the smoothing and the score that judges it need not share
one's mistakes: DIS (Kroeger et al. 2016; fast, for the smoothing) and Farneback
(2003; a different method, for the score).

A flow here is ``H x W x 2`` float32, ``(dx, dy)`` in pixels: *backward* flow from
frame t to frame t-1, so that the pixel at ``p`` in frame t came from ``p + flow(p)``
in frame t-1 and ``warp(previous, flow)`` lines frame t-1 up with frame t.
"""

from __future__ import annotations

import numpy as np

from cyclegan.errors import ConfigError

METHODS = ("dis", "farneback")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ConfigError(
            "optical flow needs the video extra (OpenCV): pip install 'cyclegan[video]'"
        ) from None
    return cv2


def gray(frame: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 RGB (or float in [0, 1]) to ``H x W`` uint8 luma."""
    cv2 = _cv2()
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


class Flow:
    """Flow from one gray frame to another with one estimator (its state reused)."""

    def __init__(self, method: str = "dis"):
        if method not in METHODS:
            raise ConfigError(f"flow method {method!r}; choose one of {', '.join(METHODS)}")
        cv2, self.method = _cv2(), method
        if method == "dis":
            self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, frame: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Backward flow: for each pixel of ``frame``, where it was in ``previous``."""
        cv2 = _cv2()
        if self.method == "dis":
            return self.dis.calc(frame, previous, None)
        return cv2.calcOpticalFlowFarneback(frame, previous, None, 0.5, 4, 21, 3, 5, 1.1, 0)


def _grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (frame t-1) sampled along backward ``flow``: lined up with frame t
    (bilinear; outside the frame, the nearest edge)."""
    cv2 = _cv2()
    x, y = _grid(flow)
    return cv2.remap(image, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flow can be trusted, ``H x W`` bool: the forward-backward check of
    Sundaram et al. (2010) as Ruder et al. (2016) use it for video style transfer:
    going back along ``backward`` and forward again along ``forward`` (t-1 to t) must
    come back near the start; pixels that fail were occluded or are wrongly matched.
    Pixels that come from outside the frame are unreliable too."""
    h, w = backward.shape[:2]
    x, y = _grid(backward)
    forward_there = warp(forward, backward)
    round_trip = backward + forward_there
    size = (backward**2).sum(-1) + (forward_there**2).sum(-1)
    consistent = (round_trip**2).sum(-1) <= 0.01 * size + 0.5
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return consistent & inside
