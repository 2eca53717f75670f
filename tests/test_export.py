"""ONNX export: the file translates any size as PyTorch does, reproduces the reference
implementation's outputs, says what it is, and bad requests are named."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from conftest import REFERENCE, need
from cyclegan.apps.export import export_onnx
from cyclegan.cli.main import main
from cyclegan.errors import ConfigError
from cyclegan.inference.translate import load_translator

for _module in ("onnx", "onnxscript", "onnxruntime"):
    pytest.importorskip(
        _module, reason="the export extra is not installed (pip install '.[export]')"
    )
import onnx  # noqa: E402
import onnxruntime  # noqa: E402

pytestmark = pytest.mark.slow  # each export traces the network: several seconds


def _run(path, image: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": image})[0]


def test_exported_generator_translates_any_size_like_pytorch(tiny_run, tmp_path, capsys):
    out = tmp_path / "g_ba.onnx"
    assert (
        main(["export", "--model", str(tiny_run), "--direction", "BtoA", "--output", str(out)]) == 0
    )
    assert "checked in onnxruntime" in capsys.readouterr().out
    translator = load_translator(tiny_run, device="cpu", precision="fp32")
    for shape in [(1, 3, 8, 8), (3, 3, 37, 53), (1, 3, 130, 9)]:
        image = torch.rand(shape) * 2 - 1
        want = translator.translate_tensor(image, "BtoA").numpy()
        got = _run(out, image.numpy())
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-4

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["cyclegan.direction"] == "BtoA"
    assert json.loads(meta["cyclegan.network"]) == translator.network.__dict__


def test_exported_reference_generator_reproduces_the_reference_output(tmp_path):
    """A reference U-Net .pth, exported: onnxruntime gives the reference's own output."""
    pth = need(REFERENCE / "generators/unet_128_ngf8.pth")
    io = np.load(REFERENCE / "generators/unet_128_ngf8_io.npz")
    out = tmp_path / "unet.onnx"
    args = ["export", "--model", str(pth), "--netG", "unet_128", "--ngf", "8", "--output", str(out)]
    assert main(args) == 0
    np.testing.assert_allclose(_run(out, io["input"]), io["output"], atol=1e-5, rtol=0)


def test_bad_export_requests_are_named(tiny_run, tmp_path, capsys):
    assert main(["export", "--model", str(tiny_run), "--output", str(tmp_path / "g.pt")]) == 1
    assert "ending in .onnx" in capsys.readouterr().err
    assert (
        main(["export", "--model", str(tmp_path / "nothing"), "--output", str(tmp_path / "g.onnx")])
        == 1
    )
    assert "no such model" in capsys.readouterr().err
    assert not (tmp_path / "g.onnx").exists()


def test_missing_export_extra_says_how_to_install(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"onnxscript is missing.*cyclegan\[export\]"):
        export_onnx(tiny_run, tmp_path / "g.onnx")
