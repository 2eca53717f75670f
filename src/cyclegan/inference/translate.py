"""Translating images with a trained generator, at their own size.

A model is one of:
- a checkpoint folder of this project (``RUN/checkpoints/epoch_0200``), or a run
  folder, meaning its latest checkpoint, or ``RUN/best``, the checkpoint that scored
  best in validation: both directions are available;
- a reference generator file (``latest_net_G_A.pth``, ``horse2zebra.pth``, ...)
  together with its architecture (``NetworkConfig``): one direction, the one
  it was trained for (``G_A`` and the published one-way models map A -> B,
  ``G_B`` maps B -> A; a reference file named ``*_net_G_B.pth`` is taken as BtoA).

Images of any size are padded (reflection) up to the generator's size multiple,
translated, and cropped back, so the output has the input's size; images too
large for one pass go through in blended tiles (``tile=``, see ``tiling.py``); files and
folders go through ``files.py``. Inputs may be
paths, Pillow images, ``H x W x C`` arrays (uint8 or float in [0, 1]) or
``(N, C, H, W)`` tensors in [-1, 1]; outputs are of the same kind. Rasters of a
raster domain are scaled by the model's band statistics (``data/bands.py``);
``stream.py`` turns raster files into raster files, ``video.py`` videos into videos.

One ``Translator`` with every way an image goes through it (whole, tiled, at the
training scale; a raster file through ``stream.raster_to_array``) and the one
function that loads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cyclegan import directions
from cyclegan.config import NetworkConfig
from cyclegan.data.domain import Domain, picture_domains
from cyclegan.data.imageio import (
    array_to_pil,
    array_to_tensor,
    load_image,
    match_channels,
    tensor_to_array,
    to_array,
    to_uint8,
)
from cyclegan.directions import check
from cyclegan.errors import CheckpointError, ConfigError, DataError
from cyclegan.inference.scale import TrainingScale, rescale
from cyclegan.inference.tiling import (
    check_tiling,
    downscale,
    translate_in_tiles,
    with_image_statistics,
)
from cyclegan.model.checkpoint import has_averages, load_network_config, load_weights, read_meta
from cyclegan.model.device_setup import resolve as resolve_precision
from cyclegan.model.layout import BEST, LATEST, averaged_name, weights_file
from cyclegan.model.networks import build_generator, pad_to_multiple
from cyclegan.model.precision import autocast, pick_device
from cyclegan.model.reference import load_into, read_state_dict
from cyclegan.model.run_checkpoints import resolve_checkpoint
from cyclegan.settings import Scale, Tiling


class Translator:
    """One or two generators ready to translate; build with ``load_translator``."""

    def __init__(
        self,
        network: NetworkConfig,
        generators: dict[str, torch.nn.Module],
        device: torch.device,
        source: str,
        precision: str = "fp32",
        training_scale: TrainingScale | None = None,
        domains: dict[str, Domain] | None = None,
    ):
        self.network = network
        # How each domain's files scale (rasters: band statistics; data/domain.py).
        self.domains = domains or picture_domains(network)
        self.generators = {d: g.to(device).eval() for d, g in generators.items()}
        self.device = device
        self.source = source
        self.precision = resolve_precision(precision, device)
        self.compiled: dict[str, torch.nn.Module] = {}
        self.training_scale = training_scale or TrainingScale.from_options(None)
        self.scale = Scale()  # native: every image at its own size

    def at_scale(self, scale: Scale) -> Translator:
        """Translate at ``scale`` from now on (``scale.py``); returns the translator."""
        self.scale = scale
        return self

    def __repr__(self) -> str:
        n = self.network
        return (
            f"Translator(model={self.source!r}, directions={'+'.join(self.directions)}, "
            f"net_g={n.net_g}, ngf={n.ngf}, channels={n.input_nc}->{n.output_nc}, "
            f"device={self.device}, precision={self.precision}"
            f"{', compiled' if self.compiled else ''})"
        )

    def compile(self) -> Translator:
        """Compile the generators with ``torch.compile`` for whole-image translation.

        The first image of each size pays for a compile (tens of seconds on a CPU;
        another size compiles once more, then with symbolic sizes), later ones run
        faster: worth it for long jobs, not for a few images. Tiled translation
        keeps the eager generators (its per-image copies would recompile).
        """
        self.compiled = {d: torch.compile(g) for d, g in self.generators.items()}
        return self

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(self.generators)

    def generator(self, direction: str) -> torch.nn.Module:
        """The generator that translates in ``direction``."""
        if check(direction) not in self.generators:
            raise ConfigError(f"{self.source} holds only the {self.directions[0]} generator")
        return self.generators[direction]

    def sides(self, direction: str) -> tuple[Domain, Domain]:
        """(source, target) domains of a direction: how its input and output read."""
        return tuple(self.domains[label] for label in directions.labels(direction))

    def channels(self, direction: str) -> tuple[int, int]:
        """(input, output) channel counts for a direction."""
        n = self.network
        return (
            (n.input_nc, n.output_nc) if check(direction) == "AtoB" else (n.output_nc, n.input_nc)
        )

    def check_tiling(
        self, tile: int, tile_overlap: int | None = None, stats_size: int = 1024
    ) -> int:
        """Raise a ``ConfigError`` for tiling options this network cannot use; returns the
        overlap (by default an eighth of the tile)."""
        tile_overlap = tile // 8 if tile_overlap is None else tile_overlap
        check_tiling(tile, tile_overlap, stats_size, self.network.size_multiple)
        return tile_overlap

    def translate_tensor(
        self,
        x: torch.Tensor,
        direction: str = "AtoB",
        tile: int | None = None,
        tile_overlap: int | None = None,
        stats_size: int = 1024,
        stats_image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(N, C, H, W)`` in [-1, 1] -> the translation: the same N, and the same H, W
        unless ``at_scale`` asked for the translated size.

        With ``tile``, an image larger than ``tile`` pixels on a side is translated
        in overlapping tiles and blended (see ``tiling.py``): memory on the device
        stays bounded whatever the image size, and the result is a CPU tensor.
        ``tile_overlap`` defaults to an eighth of the tile; instance-norm statistics
        come from the whole image scaled to at most ``stats_size`` pixels (0: each
        tile's own statistics, the naive way, which shows blocks; for comparison).
        ``stats_image``: the small image those statistics come from, when the caller has
        one (a raster's decimated read: ``stream.py``), instead of ``x`` scaled down.
        """
        if self.scale.scale != "training":
            return self._translate_native(x, direction, tile, tile_overlap, stats_size, stats_image)
        h, w = x.shape[-2:]
        th, tw = self.training_scale.size_for(h, w)
        small = rescale(x, th, tw)
        out = self._translate_native(small, direction, tile, tile_overlap, stats_size)
        return rescale(out, h, w) if self.scale.output_size == "original" else out

    def _translate_native(
        self, x, direction, tile, tile_overlap, stats_size, stats_image=None
    ) -> torch.Tensor:
        """``translate_tensor`` at the image's own size."""
        gen = self.generator(direction)
        if tile is not None:
            tile_overlap = self.check_tiling(tile, tile_overlap, stats_size)
        if tile is None or (x.shape[-2] <= tile and x.shape[-1] <= tile):
            return self._translate_whole(x, self.compiled.get(direction, gen))
        x = x.float()
        tiled_gen = self.tiled_generator(direction, x, stats_size, stats_image)
        # Padded as a whole image would be, so that every tile sits on its grid.
        multiple = self.network.size_multiple
        padded, (h, w) = pad_to_multiple(x, multiple)
        out = translate_in_tiles(
            lambda crops: self._translate_whole(crops, tiled_gen),
            padded,
            tile,
            tile_overlap,
            align=multiple,
        )
        return out[..., :h, :w]

    def tiled_generator(
        self, direction: str, x: torch.Tensor | None, stats_size: int, stats_image=None
    ) -> torch.nn.Module:
        """The generator for tiles: its instance norms fixed to the statistics of
        ``stats_image`` (or of ``x`` scaled to ``stats_size``); itself when
        ``stats_size`` is 0."""
        gen = self.generator(direction)
        if not stats_size:
            return gen
        small = stats_image if stats_image is not None else downscale(x, stats_size)
        return with_image_statistics(gen, lambda g: self._translate_whole(small, g))

    @torch.no_grad()
    def _translate_whole(self, x: torch.Tensor, gen: torch.nn.Module) -> torch.Tensor:
        # A ResNet generator downsamples 4x; below 8 px its innermost maps are 1 x 1, where
        # instance norm is undefined. U-Nets already need their full multiple.
        multiple = self.network.size_multiple
        x, (h, w) = pad_to_multiple(
            x.to(self.device, torch.float32), multiple, 2 * multiple if multiple == 4 else multiple
        )
        with autocast(self.precision, self.device):
            return gen(x)[..., :h, :w].float()

    def translate(
        self,
        image,
        direction: str = "AtoB",
        tile: int | None = None,
        tile_overlap: int | None = None,
        stats_size: int = 1024,
    ):
        """Translate a path, PIL image, array or tensor; returns the same kind (PIL for a path).

        The path of a raster of a raster domain gives an ``H x W x C`` float32 array in
        the target domain's units, NaN where the input is nodata: computed by the
        command line's raster path (``stream.py``, tiles of 512 unless ``tile``), so
        it holds the numbers ``cyclegan translate --output-dtype float32`` writes.
        ``tile``, ``tile_overlap``, ``stats_size``: as in ``translate_tensor``, for
        large images."""
        in_nc, _ = self.channels(direction)
        tiling = Tiling(tile, tile_overlap, stats_size)
        if isinstance(image, str | Path) and self.sides(direction)[0].raster:
            from cyclegan.inference.stream import raster_to_array  # it builds on this module

            return raster_to_array(self, Path(image), direction, tiling)
        if isinstance(image, torch.Tensor):
            batch = image if image.dim() == 4 else image.unsqueeze(0)
            out = self.translate_tensor(batch, direction, **tiling.arguments)
            return out if image.dim() == 4 else out[0]
        if isinstance(image, str | Path):
            arr = load_image(Path(image), in_nc)
        elif isinstance(image, Image.Image):
            arr = to_array(image, in_nc)
        elif isinstance(image, np.ndarray):
            scale = 255.0 if image.dtype == np.uint8 else 1.0
            arr = match_channels(image.astype(np.float32) / scale, in_nc)
        else:
            raise DataError(
                f"cannot translate a {type(image).__name__}; "
                "give a path, PIL image, array or tensor"
            )
        out = tensor_to_array(
            self.translate_tensor(array_to_tensor(arr)[None], direction, **tiling.arguments)[0]
        )
        if isinstance(image, np.ndarray):
            return to_uint8(out) if image.dtype == np.uint8 else out
        return array_to_pil(out)

    def translate_video(self, src, dst, direction: str = "AtoB", overwrite=False, **options):
        """Translate video file ``src`` into ``dst`` (its container by its extension),
        the sound copied; ``options``: ``tiling``, ``video`` (``settings.VideoOutput``),
        ``batch_size``, ``on_frames(done, total)``. See ``video.py``."""
        from cyclegan.inference.files import check_new_outputs
        from cyclegan.inference.video import translate_video  # it builds on this module

        if Path(dst).resolve() == Path(src).resolve():
            raise ConfigError(f"{dst} is the input video: choose another output file")
        check_new_outputs([Path(dst)] if Path(dst).exists() else [], overwrite)
        return translate_video(self, Path(src), Path(dst), direction, **options)


def _reference_direction(path: Path) -> str:
    return "BtoA" if path.stem.endswith("G_B") else "AtoB"


def load_translator(
    model: str | Path,
    network: NetworkConfig | None = None,
    device: str = "auto",
    precision: str = "auto",
    averaged: bool = True,
) -> Translator:
    """Load a checkpoint folder, a run folder (its latest checkpoint) or a reference ``.pth``.

    ``network`` describes a reference file's architecture (defaults: the
    reference's, resnet_9blocks with ngf 64 and instance norm); it is ignored
    for this project's checkpoints, which carry their own configuration. A
    checkpoint of a run trained with ``--ema`` gives its generators' weight
    averages (``model/ema.py``) unless ``averaged=False`` (``--raw-weights``).
    """
    path = Path(model)
    dev = pick_device(device)
    if path.is_file() and path.suffix in (".pth", ".pt"):
        network = network or NetworkConfig()
        direction = _reference_direction(path)
        in_nc, out_nc = network.input_nc, network.output_nc
        gen = build_generator(network, in_nc, out_nc)
        hint = (
            "Give the architecture it was trained with: --netG, --ngf, --norm, "
            "--input-nc, --output-nc."
        )
        load_into(gen, read_state_dict(path), str(path), hint)
        if direction == "BtoA":  # its input is domain B; describe it as the B -> A generator
            network = NetworkConfig(**{**network.__dict__, "input_nc": out_nc, "output_nc": in_nc})
        return Translator(network, {direction: gen}, dev, str(path), precision)
    if path.is_dir() or path.name in (BEST, LATEST):  # RUN/best: a run's best checkpoint
        folder = resolve_checkpoint(path)
        network = load_network_config(folder)
        use_average = averaged and has_averages(folder)
        gens = {}
        for direction, name, (i, o) in (
            ("AtoB", "g_ab", (network.input_nc, network.output_nc)),
            ("BtoA", "g_ba", (network.output_nc, network.input_nc)),
        ):
            gen = build_generator(network, i, o)
            name = averaged_name(name) if use_average else name
            load_into(gen, load_weights(folder, name), str(weights_file(folder, name)))
            gens[direction] = gen
        meta = read_meta(folder)
        scale = TrainingScale.from_options(meta.get("train"))
        domains = {k: Domain.from_dict(v) for k, v in (meta.get("domains") or {}).items()}
        source = f"{folder} (weight averages)" if use_average else str(folder)
        return Translator(network, gens, dev, source, precision, scale, domains or None)
    if path.exists():
        raise CheckpointError(
            f"{path}: not a model this tool reads; give a run folder, a checkpoint folder or "
            "a reference generator .pth file"
        )
    raise CheckpointError(
        f"{path}: no such model; give a run folder, a checkpoint folder or a .pth file"
    )
