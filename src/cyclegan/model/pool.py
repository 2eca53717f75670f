"""The history of generated images that the discriminators learn from (Shrivastava et al. 2017).

Training a discriminator only on the newest fakes lets the two players chase
each other in circles; CycleGAN instead shows it a buffer of 50 past fakes.
Until the buffer is full every query returns its input (and stores it); after
that, each image is swapped with a random stored one with probability 1/2.

The pool draws from its own seeded ``random.Random`` and saves that state, so a
resumed run makes exactly the same choices as an uninterrupted one.
"""

from __future__ import annotations

import random

import torch


class ImagePool:
    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch as large as ``images``, mixing in stored fakes once the pool is full."""
        if self.size == 0:  # no pool: the newest fakes, cut from the generators' graph
            return images.detach()
        out = []
        for image in images.detach():
            # A copy: a compiled step's outputs may live in memory its next run reuses.
            image = image.unsqueeze(0).clone()
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                slot = self.rng.randint(0, self.size - 1)
                out.append(self.images[slot])  # no longer stored: no copy needed
                self.images[slot] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def snapshot(self) -> tuple:
        """What ``rewind`` puts back: the stored images (replaced, never changed in
        place, so a copy of the list keeps them) and the draw state."""
        return list(self.images), self.rng.getstate()

    def rewind(self, snapshot: tuple) -> None:
        """Forget the queries since ``snapshot``: a step whose update was skipped."""
        images, rng = snapshot
        self.images = list(images)
        self.rng.setstate(rng)

    def state_dict(self) -> dict:
        stored = torch.cat(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stored, "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        stored = state["images"]
        self.images = [img.unsqueeze(0).to(device) for img in stored] if stored.numel() else []
        rng = state["rng"]
        # Saved as nested lists by some serializers; random wants (int, tuple, None).
        self.rng.setstate((rng[0], tuple(rng[1]), rng[2]))
