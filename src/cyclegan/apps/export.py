"""Export a generator to ONNX, for serving without PyTorch (onnxruntime, TensorRT, browsers).

The exported graph takes what ``Translator.translate_tensor`` takes and gives
what it gives: ``image``, float32 ``(N, C, H, W)`` in [-1, 1], any batch size
and any height and width (at least the network's minimum), and returns
``translation`` of the same N, H and W. The padding to the network's size
multiple and the crop back are part of the graph, so a caller needs no
knowledge of the architecture. The direction, the network options and the
input convention are stored in the model's metadata.

Export uses ``torch.onnx.export(dynamo=True)`` (onnxscript) with symbolic batch,
height and width; then, unless told not to, the file is run once in
onnxruntime on an image of another size than the one traced and compared with
PyTorch, so a wrong export fails here rather than in production. Needs the
``export`` extra (``pip install 'cyclegan[export]'``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cyclegan.config import NetworkConfig
from cyclegan.errors import ConfigError, CycleGANError
from cyclegan.inference.translate import load_translator
from cyclegan.model.networks import padding_to_multiple

# Both run float32 convolutions, in other orders: they agree to about 1e-5 on [-1, 1].
VERIFY_TOLERANCE = 1e-3


class AnySizeGenerator(nn.Module):
    """A generator that pads its input (reflection, bottom and right) up to its size
    multiple and crops the translation back, in operations that export symbolically."""

    def __init__(self, generator: nn.Module, multiple: int):
        super().__init__()
        self.generator, self.multiple = generator, multiple

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        # Reflection is always possible here: the graph refuses sides below minimum_side.
        pad_h, pad_w = padding_to_multiple(h, w, self.multiple)
        padded = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
        return self.generator(padded)[..., :h, :w]


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs that torchvision's operators are unavailable (we use none) and
    torch.export warns about its own deprecations: noise to a user, so hidden here."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _require_onnx():
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as exc:
        raise ConfigError(
            f"exporting to ONNX needs the export extra ({exc.name} is missing): "
            "pip install 'cyclegan[export]'"
        ) from None
    return onnx, onnxruntime


def minimum_side(network: NetworkConfig) -> int:
    """The smallest height or width the exported graph accepts: reflection padding
    needs a side longer than the pad, and instance norm needs more than 1 x 1 inside."""
    return max(network.size_multiple, 8)


def export_onnx(
    model: str | Path,
    output: str | Path,
    direction: str = "AtoB",
    network: NetworkConfig | None = None,
    verify: bool = True,
    progress=None,
    averaged: bool = True,
) -> dict:
    """Write ``direction``'s generator of ``model`` (as ``load_translator`` reads it) to
    ``output``; returns what was written and, with ``verify``, the largest absolute
    difference between onnxruntime and PyTorch on a test image.
    ``progress(stage, done, total)`` after each of its steps (load, export, check)."""
    steps = 3 if verify else 2

    def tick(done: int) -> None:
        if progress:
            progress("exporting", done, steps)

    onnx, onnxruntime = _require_onnx()
    translator = load_translator(model, network, "cpu", "fp32", averaged)
    generator = translator.generator(direction)
    in_nc, out_nc = translator.channels(direction)
    net = translator.network
    low = minimum_side(net)
    tick(1)
    wrapped = AnySizeGenerator(generator, net.size_multiple).eval()
    traced = torch.rand(1, in_nc, 2 * low + 3, 2 * low + 1) * 2 - 1
    dims = {
        0: torch.export.Dim("batch"),
        2: torch.export.Dim("height", min=low),
        3: torch.export.Dim("width", min=low),
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_exporter():
        program = torch.onnx.export(
            wrapped,
            (traced,),
            dynamo=True,
            input_names=["image"],
            output_names=["translation"],
            dynamic_shapes={"image": dims},
            verbose=False,
        )
    proto = program.model_proto
    meta = {
        "cyclegan.direction": direction,
        "cyclegan.network": json.dumps(net.__dict__),
        "cyclegan.source": translator.source,
        "cyclegan.input": f"float32 (N, {in_nc}, H, W) in [-1, 1]; H, W >= {low}",
        "cyclegan.output": f"float32 (N, {out_nc}, H, W) in [-1, 1]",
    }
    source, target = translator.sides(direction)
    for key, domain in (("cyclegan.input_bands", source), ("cyclegan.output_bands", target)):
        if domain.stats is not None:  # rasters: data units <-> [-1, 1] (data/bands.py)
            meta[key] = json.dumps(domain.stats.to_dict())
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, output)
    tick(2)
    result = {"path": str(output), "direction": direction, "metadata": meta}
    if verify:
        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        result["max_abs_diff"] = _verify(session, translator, direction, output, low)
        tick(3)
    return result


def _verify(session, translator, direction: str, output: Path, low: int) -> float:
    """The largest difference between onnxruntime and PyTorch, at another size and batch
    than the traced ones (off the size multiple); a wrong shape or a large difference
    is an error."""
    in_nc, _ = translator.channels(direction)
    check = torch.rand(2, in_nc, 3 * low + 1, 2 * low + 5) * 2 - 1
    got = torch.from_numpy(session.run(None, {"image": check.numpy()})[0])
    want = translator.translate_tensor(check, direction)
    if got.shape != want.shape:
        raise CycleGANError(
            f"{output}: the exported graph gave shape {tuple(got.shape)}, "
            f"PyTorch {tuple(want.shape)}"
        )
    diff = (got - want).abs().max().item()
    if diff > VERIFY_TOLERANCE:
        raise CycleGANError(
            f"{output}: onnxruntime and PyTorch differ by {diff:.2e} "
            f"(more than {VERIFY_TOLERANCE}); the export is not faithful"
        )
    return diff
