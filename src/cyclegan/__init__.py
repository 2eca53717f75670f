"""cyclegan: unpaired image-to-image translation with CycleGAN (Zhu et al. 2017).

The public Python API:

    from cyclegan import TrainConfig, train, load_translator

    train(TrainConfig(data="data/horse2zebra", run="runs/h2z", n_epochs=5))
    translator = load_translator("runs/h2z")           # latest checkpoint of a run
    zebra = translator.translate("horse.jpg", direction="AtoB")   # -> PIL.Image

Direction names: A to B is ``g_ab``, B to A is ``g_ba``; ``d_a`` judges domain A,
``d_b`` judges B. ``cyclegan.reference`` maps them to the reference's names.
"""

from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.errors import CycleGANError
from cyclegan.trainer import train
from cyclegan.translate import Translator, load_translator

__all__ = [
    "CycleGANError",
    "NetworkConfig",
    "TrainConfig",
    "Translator",
    "load_translator",
    "train",
]
__version__ = "0.1.0"
