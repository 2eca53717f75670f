"""Decoding every kind of input image, and refusing broken ones with the file's name."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cyclegan.errors import DataError
from cyclegan.imageio import load_image, open_image, save_image


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
