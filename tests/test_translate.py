"""Translating at the input's size, from every kind of input and model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REFERENCE, need, write_images
from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig
from cyclegan.errors import CheckpointError, ConfigError
from cyclegan.inference.translate import load_translator, pad_to_multiple
from cyclegan.settings import ImageOutput


@pytest.mark.parametrize("h,w", [(1, 1), (3, 5), (37, 29), (64, 64)])
def test_padding_restores_any_size(h, w):
    x = torch.randn(1, 3, h, w)
    padded, size = pad_to_multiple(x, 4, minimum=8)
    assert padded.shape[-2] % 4 == 0 and padded.shape[-1] % 4 == 0
    assert min(padded.shape[-2:]) >= 8
    assert size == (h, w) and torch.equal(padded[..., :h, :w], x)


@pytest.mark.parametrize("size", [(45, 31), (8, 100), (3, 3)])
def test_output_keeps_input_size(tiny_run, size):
    translator = load_translator(tiny_run, device="cpu")
    img = Image.new("RGB", size, "orange")
    for direction in ("AtoB", "BtoA"):
        assert translator.translate(img, direction).size == size


def test_every_input_kind_gives_the_same_translation(tiny_run, tmp_path):
    translator = load_translator(tiny_run, device="cpu")
    arr = np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "x.png")
    from_path = np.asarray(translator.translate(tmp_path / "x.png"))
    from_pil = np.asarray(translator.translate(Image.fromarray(arr)))
    from_u8 = translator.translate(arr)
    tensor = torch.from_numpy(arr).permute(2, 0, 1).float() / 127.5 - 1
    from_tensor = translator.translate(tensor)
    assert from_u8.dtype == np.uint8 and from_tensor.shape == (3, 20, 28)
    assert np.array_equal(from_path, from_pil) and np.array_equal(from_pil, from_u8)
    expected = np.clip(np.rint((from_tensor.permute(1, 2, 0).numpy() + 1) / 2 * 255), 0, 255)
    assert np.abs(expected - from_u8).max() <= 1


def test_folder_translation_keeps_names_subfolders_and_skips_bad_files(tiny_run, tmp_path):
    src = tmp_path / "in"
    write_images(src / "sub", 2, size=(30, 22))
    write_images(src, 1, size=(17, 40), ext="jpg")
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    translator = load_translator(tiny_run, device="cpu")
    from cyclegan.inference.files import collect_inputs, translate_files

    files, root = collect_inputs(src)
    errors = []
    written = translate_files(
        translator,
        files,
        tmp_path / "out",
        "AtoB",
        root,
        ImageOutput(format="png", batch_size=4),
        on_done=lambda s, d, e: e and errors.append(e),
    )
    names = sorted(str(p.relative_to(tmp_path / "out")) for p in written)
    assert names == ["img_000.png", "sub/img_000.png", "sub/img_001.png"]
    assert Image.open(tmp_path / "out" / "img_000.png").size == (17, 40)
    assert len(errors) == 1 and "broken.png" in errors[0]


def test_reference_generator_file_translates_like_the_reference():
    path = need(REFERENCE / "generators" / "resnet_9blocks_ngf8.pth")
    io = np.load(REFERENCE / "generators" / "resnet_9blocks_ngf8_io.npz")
    translator = load_translator(path, NetworkConfig(ngf=8), device="cpu", precision="fp32")
    assert translator.directions == ("AtoB",)
    out = translator.translate(torch.from_numpy(io["input"]))
    np.testing.assert_allclose(out.numpy(), io["output"], atol=1e-5)
    with pytest.raises(ConfigError, match="only the AtoB generator"):
        translator.translate(torch.from_numpy(io["input"]), "BtoA")


def test_reference_g_b_file_is_the_b_to_a_direction(tmp_path):
    src = need(REFERENCE / "generators" / "resnet_9blocks_ngf8_gray2rgb_dropout.pth")
    path = tmp_path / "latest_net_G_B.pth"
    path.write_bytes(src.read_bytes())
    net = NetworkConfig(ngf=8, input_nc=1, output_nc=3, dropout=True)
    translator = load_translator(path, net, device="cpu")
    assert translator.directions == ("BtoA",)
    out = translator.translate(Image.new("L", (20, 12)), "BtoA")  # gray in, colour out
    assert out.mode == "RGB" and out.size == (20, 12)


def test_missing_or_wrong_model_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such model"):
        load_translator(tmp_path / "nope", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a checkpoint folder nor a run"):
        load_translator(tmp_path / "empty", device="cpu")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        load_translator(tmp_path / "junk.pth", device="cpu")


@pytest.mark.slow
def test_compiled_translator_gives_the_eager_translation(tiny_run):
    """``translate --compile``: torch.compile changes the speed, not the result (fp32)."""
    eager = load_translator(tiny_run, device="cpu", precision="fp32")
    compiled = load_translator(tiny_run, device="cpu", precision="fp32").compile()
    for size in [(1, 3, 40, 36), (2, 3, 24, 60)]:  # a second size compiles once more
        x = torch.rand(size) * 2 - 1
        torch.testing.assert_close(
            compiled.translate_tensor(x, "BtoA"),
            eager.translate_tensor(x, "BtoA"),
            atol=1e-4,
            rtol=0,
        )
    # Tiles use the eager generators; the compiled ones serve whole images only.
    x = torch.rand(1, 3, 70, 50) * 2 - 1
    torch.testing.assert_close(
        compiled.translate_tensor(x, tile=32), eager.translate_tensor(x, tile=32), atol=1e-6, rtol=0
    )


def test_16bit_output_from_the_command_line(tiny_run, tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    write_images(tmp_path / "in", 2, size=(30, 22))
    args = ["translate", "--model", str(tiny_run), "--input", str(tmp_path / "in")]
    # 16-bit colour PNG cannot be written: refused before any file is written
    assert main([*args, "--output", str(tmp_path / "png16"), "--bit-depth", "16"]) == 1
    assert "16-bit output needs TIFF" in capsys.readouterr().err
    assert not (tmp_path / "png16").exists()

    out16, out8 = tmp_path / "tif16", tmp_path / "png8"
    assert main([*args, "--output", str(out16), "--bit-depth", "16", "--format", "tiff"]) == 0
    assert main([*args, "--output", str(out8)]) == 0
    for eight in sorted(out8.glob("*.png")):
        deep = tifffile.imread(out16 / eight.with_suffix(".tiff").name)
        assert deep.dtype == np.uint16 and deep.shape == (22, 30, 3)
        # The same translation, quantized to 65536 levels instead of 256.
        shallow = np.asarray(Image.open(eight), np.float64) / 255
        assert np.abs(deep / 65535 - shallow).max() <= 0.5 / 255 + 1e-6
        assert len(np.unique(deep)) > len(np.unique(np.asarray(Image.open(eight))))
