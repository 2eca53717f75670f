"""cyclegan: unpaired image-to-image translation with CycleGAN (Zhu et al. 2017).

The public Python API:

    from cyclegan import TrainConfig, train, load_translator

    train(TrainConfig(data="data/horse2zebra", run="runs/h2z", n_epochs=5))
    translator = load_translator("runs/h2z")           # latest checkpoint of a run
    zebra = translator.translate("horse.jpg", direction="AtoB")   # -> PIL.Image
    translator.translate_video("ride.mp4", "zebras/ride.mp4")      # sound kept (docs/video.md)

The notebook workflow in arcgis.learn's style: ``CycleGAN`` and ``prepare_data``
(``docs/notebook.md``). The sub-packages are the layers: ``model`` (networks, the
step, checkpoints), ``data`` (image files, datasets), ``inference`` (translating),
``training`` (the run), ``apps`` (what uses a trained model), ``cli``, ``curate``.

Direction names: A to B is ``g_ab``, B to A is ``g_ba``; ``d_a`` judges domain A,
``d_b`` judges B. ``cyclegan.model.reference`` maps them to the reference's names.
"""

from cyclegan.apps.learn import CycleGAN, prepare_data
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.errors import CycleGANError
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.training.trainer import TrainingEvents, train

__all__ = [
    "CycleGAN",
    "CycleGANError",
    "NetworkConfig",
    "TrainConfig",
    "TrainingEvents",
    "Translator",
    "load_translator",
    "prepare_data",
    "train",
]
__version__ = "0.1.0"
