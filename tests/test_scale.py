"""Translating at the scale the model was trained at (``inference/scale.py``)."""

from __future__ import annotations

import torch
from PIL import Image

from conftest import write_images
from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig
from cyclegan.inference.scale import TrainingScale
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.settings import Scale


def test_training_size_follows_the_preprocessing():
    assert TrainingScale("resize_and_crop", 286).size_for(3000, 4000) == (286, 381)
    assert TrainingScale("resize_and_crop", 286).size_for(600, 200) == (858, 286)
    assert TrainingScale("scale_width", 256).size_for(300, 512) == (150, 256)
    assert TrainingScale("scale_width_and_crop", 256).size_for(300, 512) == (150, 256)
    assert TrainingScale("crop", 286).size_for(3000, 4000) == (3000, 4000)
    assert TrainingScale("none", 286).size_for(37, 41) == (37, 41)
    # Upscaling a thin strip stops at (2 x load_size) squared in area, not 286 x 1,144,000.
    assert TrainingScale("resize_and_crop", 286).size_for(1, 4000) == (9, 36176)
    assert TrainingScale("resize_and_crop", 286).size_for(100, 100) == (286, 286)


class _Seen(torch.nn.Module):
    """A generator that returns its input and notes the sizes it was given."""

    def __init__(self):
        super().__init__()
        self.sizes = []
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        return x


def test_the_generator_sees_the_training_size_and_the_output_keeps_the_input_size():
    net = NetworkConfig(net_g="resnet_6blocks")
    seen = _Seen()
    scale = TrainingScale("resize_and_crop", 64)
    t = Translator(net, {"AtoB": seen}, torch.device("cpu"), "spy", "fp32", scale)
    low = torch.rand(1, 3, 6, 10) * 1.6 - 0.8  # smooth: what a downscale keeps
    x = torch.nn.functional.interpolate(low, size=(120, 200), mode="bilinear")
    assert t.translate_tensor(x).shape[-2:] == (120, 200) and seen.sizes == [(120, 200)]
    t.at_scale(Scale("training"))
    y = t.translate_tensor(x)
    assert seen.sizes[-1] == (64, 108)  # the shorter side at load_size (padded to 4: 108)
    assert y.shape[-2:] == (120, 200)
    # Back at the original size it is the input again, up to two bicubic resizes.
    assert (y - x).abs().mean() < 0.02
    t.at_scale(Scale("training", "translated"))
    assert t.translate_tensor(x).shape[-2:] == (64, 107)


def test_a_checkpoint_knows_its_training_scale_and_translate_uses_it(tiny_run, tmp_path):
    translator = load_translator(tiny_run, device="cpu")
    assert translator.training_scale == TrainingScale("resize_and_crop", 36)
    write_images(tmp_path / "in", 1, size=(90, 72))
    code = main(["translate", "--model", str(tiny_run), "--input", str(tmp_path / "in"),
                 "--output", str(tmp_path / "out"), "--scale", "training", "--quiet"])  # fmt: skip
    assert code == 0
    assert Image.open(tmp_path / "out" / "img_000.png").size == (90, 72)
    code = main(["translate", "--model", str(tiny_run), "--input", str(tmp_path / "in"),
                 "--output", str(tmp_path / "small"), "--scale", "training",
                 "--output-size", "translated", "--quiet"])  # fmt: skip
    assert code == 0
    assert Image.open(tmp_path / "small" / "img_000.png").size == (45, 36)  # 36 px high
