"""The demo's generated scenes: one scene drawn in two styles, so the true translation
of every test image is known.

Every scene is a few shapes (circles, squares, triangles) on a sky. Domain A
draws it by day: a light sky, red circles, green squares, blue triangles.
Domain B draws it as a night negative: every colour inverted (the sky turns
dark, red turns cyan), and each shape outlined in white. Learning it takes
both a colour mapping and spatial work (finding edges, drawing or erasing
outlines).

The training folders hold *different* scenes in each style (unpaired data, as
a real user has), so the model never sees a pair. The test folders hold
held-out scenes drawn in both styles under the same file name, so the true
translation of every test image is known, and the demo says how close its
translations come next to two baselines: the untrained network, and returning
the input unchanged.

Why one global colour transform rather than a free palette per domain: from
unpaired data, a model that swapped two shape colours would fool the
discriminator just as well, so the "true" answer would not be identifiable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cyclegan.data.imageio import save_image

SIZE = 64
SKY = ((0.55, 0.75, 0.95), (0.95, 0.95, 0.85))  # top, bottom
COLOURS = {
    "circle": (0.90, 0.20, 0.20),
    "square": (0.20, 0.60, 0.20),
    "triangle": (0.20, 0.30, 0.80),
}
SHAPES = tuple(COLOURS)
OUTLINE = 0.025  # outline width in B, as a fraction of the image side


def random_scene(rng: np.random.Generator) -> list[tuple[str, float, float, float]]:
    """2-4 shapes as (kind, centre x, centre y, radius), in image fractions."""
    count = int(rng.integers(2, 5))
    return [
        (SHAPES[int(rng.integers(3))], *rng.uniform(0.18, 0.82, 2), rng.uniform(0.08, 0.16))
        for _ in range(count)
    ]


def _shape_mask(
    kind: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float
) -> np.ndarray:
    if kind == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if kind == "square":
        return (abs(x - cx) <= r * 0.9) & (abs(y - cy) <= r * 0.9)
    return (y <= cy + r * 0.7) & (y - (cy - r) >= 1.7 * abs(x - cx))  # upward triangle


def render(scene: list, style: str, size: int = SIZE, supersample: int = 4) -> np.ndarray:
    """Draw a scene in a style: float ``H x W x 3`` in [0, 1], anti-aliased by supersampling."""
    n = size * supersample
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    top, bottom = (np.array(c, dtype=np.float32) for c in SKY)
    img = top + (bottom - top) * y[..., None]
    if style == "B":
        img = 1.0 - img
    for kind, cx, cy, r in scene:
        mask = _shape_mask(kind, x, y, cx, cy, r)
        colour = np.array(COLOURS[kind], dtype=np.float32)
        img[mask] = colour if style == "A" else 1.0 - colour
        if style == "B":  # a ring: inside the shape, but not inside the shape shrunk inwards
            inner = _shape_mask(kind, x, y, cx, cy, r - OUTLINE * 1.6)
            img[mask & ~inner] = 1.0
    return img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))


def make_dataset(root: Path, n_train: int = 100, n_test: int = 16, seed: int = 0) -> Path:
    """trainA/trainB with different scenes; testA/testB with the same scenes in both styles."""
    rng = np.random.default_rng(seed)
    for style in ("A", "B"):
        for i in range(n_train):
            save_image(render(random_scene(rng), style), root / f"train{style}" / f"{i:04d}.png")
    for i in range(n_test):
        scene = random_scene(rng)
        for style in ("A", "B"):
            save_image(render(scene, style), root / f"test{style}" / f"{i:04d}.png")
    return root
