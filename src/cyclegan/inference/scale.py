"""Translating at the scale the model was trained at.

A model learns textures and shapes at the size its training images had after
preprocessing: with the reference's ``resize_and_crop`` at ``load_size`` 286, every
training photo was seen 286 pixels across. A 4000 x 3000 photo translated at its
own size shows the model content some ten times larger than it ever saw. With
``--scale training`` each image is first scaled so that its content has the
training size, translated, and (``--output-size original``, the default) scaled back
to its own size; ``translated`` keeps the smaller result.

The training size of an ``H x W`` image, from the checkpoint's preprocessing:

- ``resize_and_crop``: the shorter side becomes ``load_size`` (training squashed
  each image to ``load_size`` square; keeping the aspect, the shorter side is the
  one that matched);
- ``scale_width``, ``scale_width_and_crop``: the width becomes ``load_size``;
- ``crop`` and ``none``: training saw images at their own size, so no scaling.

Scaling up never makes an image larger in area than a square twice ``load_size`` on
a side (or than the image itself, if that is larger): a 1 x 4000 px strip is not
blown up to 286 x 1,144,000 px.

Scaling uses the bicubic resize of the training preprocessing (``imageio.resize``).
A reference ``.pth`` carries no preprocessing: the reference's default
(``resize_and_crop``, 286) is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cyclegan.data.imageio import resize


@dataclass(frozen=True)
class TrainingScale:
    preprocess: str
    load_size: int

    @classmethod
    def from_options(cls, options: dict | None) -> TrainingScale:
        """From a checkpoint's training options (the reference's defaults if absent)."""
        options = options or {}
        return cls(options.get("preprocess", "resize_and_crop"), options.get("load_size", 286))

    def size_for(self, h: int, w: int) -> tuple[int, int]:
        """The (height, width) an ``h x w`` image is translated at."""
        if self.preprocess == "resize_and_crop":
            factor = self.load_size / min(h, w)
        elif self.preprocess.startswith("scale_width"):
            factor = self.load_size / w
        else:
            return h, w
        limit = max(h * w, (2 * self.load_size) ** 2)  # upscaling stops at this area
        factor = min(factor, (limit / (h * w)) ** 0.5)
        return max(1, round(h * factor)), max(1, round(w * factor))

    def describe(self) -> str:
        if self.preprocess == "resize_and_crop":
            return f"shorter side scaled to {self.load_size} px"
        if self.preprocess.startswith("scale_width"):
            return f"width scaled to {self.load_size} px"
        return "own size (the model trained on unscaled images)"


def rescale(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(N, C, H, W)`` in [-1, 1] resized to ``h x w`` as training resizes images."""
    if tuple(x.shape[-2:]) == (h, w):
        return x
    out = []
    for img in x.float().cpu():
        arr = ((img.permute(1, 2, 0).numpy() + 1) / 2).astype(np.float32)
        arr = np.clip(resize(arr, w, h), 0.0, 1.0)
        out.append(torch.from_numpy(arr).permute(2, 0, 1) * 2 - 1)
    return torch.stack(out).to(x.device)
