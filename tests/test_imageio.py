"""Decoding every kind of input image, and refusing broken ones with the file's name."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cyclegan.data.imageio import load_image, open_image, save_image
from cyclegan.errors import ConfigError, DataError


def test_16bit_grayscale_uses_the_full_range(tmp_path):
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = load_image(path, 1)
    np.testing.assert_allclose(out[0, :, 0], [0.0, 32768 / 65535, 1.0], atol=1e-6)
    rgb = load_image(path, 3)
    assert rgb.shape == (1, 3, 3) and np.allclose(rgb[..., 0], rgb[..., 2])


def test_rgba_is_composited_onto_white(tmp_path):
    arr = np.zeros((1, 2, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 255)  # opaque red
    arr[0, 1] = (0, 0, 0, 0)  # fully transparent black
    path = tmp_path / "a.png"
    Image.fromarray(arr, "RGBA").save(path)
    out = load_image(path, 3)
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])
    np.testing.assert_allclose(out[0, 1], [1, 1, 1])


def test_palette_and_grayscale_conversions(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0]]], dtype=np.uint8)
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    np.testing.assert_allclose(load_image(tmp_path / "p.png", 3), rgb / 255.0, atol=1 / 255)
    gray = load_image(tmp_path / "p.png", 1)
    np.testing.assert_allclose(gray[0, :, 0], [0.299, 0.587], atol=2 / 255)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (4, 2), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    img.save(tmp_path / "o.jpg", exif=exif)
    assert load_image(tmp_path / "o.jpg", 3).shape == (4, 2, 3)


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, not an image"), "not an image"),
        (lambda p: p.write_bytes(_jpeg_bytes()[:300]), "truncated"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, make, needle):
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(DataError) as err:
        load_image(path, 3)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (200, 200)).save(path)
    with pytest.raises(DataError, match="decompression bomb"):
        open_image(path, max_pixels=10_000)
    assert open_image(path, max_pixels=40_000).size == (200, 200)


def test_save_round_trip_and_unknown_format(tmp_path):
    arr = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    save_image(arr, tmp_path / "x.png")
    np.testing.assert_allclose(load_image(tmp_path / "x.png", 3), arr, atol=0.5 / 255 + 1e-6)
    with pytest.raises(DataError, match="unknown output format"):
        save_image(arr, tmp_path / "x.xyz")


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, format="JPEG")
    return buf.getvalue()


def _deep_rgb(height=12, width=20, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (height, width, 3), dtype=np.uint16)


@pytest.mark.parametrize("planar", [False, True])
def test_16bit_rgb_tiff_keeps_its_depth(tmp_path, planar):
    """Pillow would read it as 8-bit RGB; tifffile reads every one of the 65536 levels."""
    tifffile = pytest.importorskip("tifffile")
    raw = _deep_rgb()
    path = tmp_path / "deep.tif"
    data = np.moveaxis(raw, -1, 0) if planar else raw
    tifffile.imwrite(path, data, photometric="rgb", planarconfig="separate" if planar else "contig")
    out = load_image(path, 3)
    assert out.dtype == np.float32 and out.shape == raw.shape
    np.testing.assert_allclose(out, raw / 65535.0, atol=1e-7)
    assert np.asarray(Image.open(path)).dtype == np.uint8  # what Pillow alone gives
    # Known by its signature, not its name, and the same from its bytes (an upload).
    renamed = tmp_path / "deep.image"
    renamed.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(load_image(renamed, 3), out)
    np.testing.assert_array_equal(load_image(renamed.read_bytes(), 3), out)
    gray = load_image(path, 1)  # luma, as for any RGB image
    np.testing.assert_allclose(gray[..., 0], out @ np.array([0.299, 0.587, 0.114]), atol=1e-6)


def test_16bit_tiff_alpha_bands_and_damage(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rgba = np.concatenate([_deep_rgb(), np.full((12, 20, 1), 32768, np.uint16)], axis=2)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    half = 32768 / 65535
    expected = rgba[..., :3] / 65535 * half + (1 - half)  # composited onto white
    np.testing.assert_allclose(load_image(tmp_path / "rgba.tif", 3), expected, atol=1e-6)

    bands = np.zeros((12, 20, 5), np.uint16)
    tifffile.imwrite(tmp_path / "bands.tif", bands, photometric="minisblack", planarconfig="contig")
    with pytest.raises(DataError, match="bands.tif: 5 samples per pixel"):
        load_image(tmp_path / "bands.tif", 3)

    tifffile.imwrite(tmp_path / "cut.tif", _deep_rgb(200, 200), photometric="rgb")
    data = (tmp_path / "cut.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.tif: broken or truncated"):
        load_image(tmp_path / "cut.tif", 3)
    with pytest.raises(DataError, match="more than the limit of 100"):
        load_image(tmp_path / "rgba.tif", 3, max_pixels=100)


def test_16bit_output_round_trips_and_names_what_cannot_hold_it(tmp_path):
    pytest.importorskip("tifffile")
    arr = (_deep_rgb() / 65535.0).astype(np.float32)
    save_image(arr, tmp_path / "out.tif", bit_depth=16)
    np.testing.assert_allclose(load_image(tmp_path / "out.tif", 3), arr, atol=0.5 / 65535 + 1e-7)
    save_image(arr[..., :1], tmp_path / "gray.png", bit_depth=16)
    assert Image.open(tmp_path / "gray.png").mode.startswith("I;16")
    np.testing.assert_allclose(load_image(tmp_path / "gray.png", 1), arr[..., :1], atol=1e-5)
    for name in ("colour.png", "photo.jpg"):
        with pytest.raises(ConfigError, match=f"{name}: 16-bit output needs TIFF"):
            save_image(arr, tmp_path / name, bit_depth=16)
        assert not (tmp_path / name).exists()
