"""Tiled translation: the tiles cover the image, the cross-fade weights add up, errors name
the option. A network that works pixel by pixel must give exactly its whole-image result."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig
from cyclegan.errors import ConfigError
from cyclegan.inference.tiling import tile_starts, translate_in_tiles, with_image_statistics
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.model.networks import build_generator


@given(
    units=st.integers(1, 800),
    tile_units=st.integers(2, 150),
    overlap_share=st.floats(0, 0.5),
    align=st.sampled_from([1, 4, 128]),
)
def test_tiles_cover_the_side_on_the_grid_and_overlap_enough(
    units, tile_units, overlap_share, align
):
    length, tile = units * align, tile_units * align
    overlap = int(tile * overlap_share)
    starts = tile_starts(length, tile, overlap, align)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(s % align == 0 and 0 <= s and s + size <= length for s in starts)
    # The longest step on the grid that still shares `overlap` pixels.
    step = tile - align * math.ceil(overlap / align)
    for a, b in zip(starts, starts[1:], strict=False):
        assert 0 < b - a <= step <= tile - overlap  # no gap, at least `overlap` shared
    if len(starts) > 2:  # the fewest tiles: one less would not cover the side
        assert (len(starts) - 2) * step + tile < length


def _pixelwise(crops: torch.Tensor) -> torch.Tensor:
    """A stand-in network whose output at a pixel depends on that pixel only (3 -> 1 channel)."""
    return torch.tanh(crops[:, :1] * 2 - crops[:, 1:2]) + crops[:, 2:] ** 2


@pytest.mark.parametrize(
    "shape,tile,overlap",
    [
        ((1, 3, 100, 70), 32, 8),
        ((2, 3, 37, 129), 16, 8),
        ((1, 3, 64, 64), 64, 0),
        ((1, 3, 9, 200), 48, 0),
    ],
)
def test_pixelwise_network_gives_its_whole_image_result(shape, tile, overlap):
    image = torch.rand(shape) * 2 - 1
    tiled = translate_in_tiles(_pixelwise, image, tile, overlap)
    assert tiled.shape == (shape[0], 1, *shape[2:])
    torch.testing.assert_close(tiled, _pixelwise(image), atol=2e-6, rtol=0)


def test_translator_tiles_large_images_only_and_on_the_grid():
    """A network that works on 4 x 4 blocks (the ResNet's downsampling factor) gives its
    whole-image result only if every tile starts on the whole image's block grid."""
    torch.manual_seed(0)
    blockwise = torch.nn.Sequential(
        torch.nn.Conv2d(3, 3, 1), torch.nn.AvgPool2d(4), torch.nn.Upsample(scale_factor=4)
    )
    translator = Translator(NetworkConfig(), {"AtoB": blockwise}, torch.device("cpu"), "test")
    image = torch.rand(1, 3, 99, 61) * 2 - 1  # tile starts would fall off the grid unaligned
    whole = translator.translate_tensor(image)
    torch.testing.assert_close(
        translator.translate_tensor(image, tile=32, tile_overlap=12), whole, atol=2e-6, rtol=0
    )
    # An image no larger than the tile goes through in one piece, bit for bit.
    assert torch.equal(translator.translate_tensor(image, tile=128), whole)


@pytest.mark.parametrize("net_g", ["resnet_6blocks", "unet_128"])
def test_recorded_statistics_reproduce_instance_norm(net_g):
    """Normalizing with the statistics recorded on the same images changes nothing,
    image by image in a batch."""
    torch.manual_seed(0)
    gen = build_generator(NetworkConfig(net_g=net_g, ngf=8), 3, 3).eval()
    images = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        fixed = with_image_statistics(gen, lambda g: g(images))
        assert fixed is not gen
        assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in fixed.modules())
        torch.testing.assert_close(fixed(images), gen(images), atol=1e-5, rtol=1e-5)
        # The second image's statistics follow it: swapped images give other outputs.
        assert not torch.allclose(fixed(images.flip(0)), gen(images.flip(0)), atol=1e-3)


def test_generator_without_instance_norm_is_used_as_it_is():
    gen = build_generator(NetworkConfig(net_g="resnet_6blocks", ngf=8, norm="none"), 3, 3)
    assert with_image_statistics(gen, lambda g: None) is gen


@pytest.mark.parametrize(
    "tile,overlap,stats,option",
    [
        (30, 8, 1024, "'tile' is 30"),
        (4, 0, 1024, "'tile' is 4"),
        (32, 17, 1024, "'tile_overlap' is 17"),
        (32, 8, 5, "'tile_stats_size' is 5"),
    ],
)
def test_bad_tiling_options_are_named(tile, overlap, stats, option):
    translator = Translator(
        NetworkConfig(), {"AtoB": torch.nn.Identity()}, torch.device("cpu"), "test"
    )
    with pytest.raises(ConfigError, match=option):
        translator.translate_tensor(
            torch.zeros(1, 3, 64, 64), tile=tile, tile_overlap=overlap, stats_size=stats
        )


def test_cli_translates_in_tiles_and_keeps_sizes(tiny_run, tmp_path, capsys):
    pixels = np.random.default_rng(3).integers(0, 256, (50, 83, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    args = ["translate", "--model", str(tiny_run), "--input", str(tmp_path / "big.png")]
    out = tmp_path / "out"
    assert main([*args, "--output", str(out), "--tile", "32", "--tile-overlap", "8"]) == 0
    tiled = Image.open(out / "big.png")
    assert tiled.size == (83, 50)
    # The command writes what the Python API computes with the same tiling.
    api = load_translator(tiny_run, device="cpu").translate(
        tmp_path / "big.png", tile=32, tile_overlap=8
    )
    assert np.array_equal(np.asarray(tiled), np.asarray(api))

    assert main([*args, "--output", str(out), "--tile", "30"]) == 1
    assert "option 'tile' is 30" in capsys.readouterr().err
