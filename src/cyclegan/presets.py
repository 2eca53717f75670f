"""Named training recipes (``cyclegan train --preset NAME``): sets of ``TrainConfig``
options for a kind of data, under the options given alongside (which win).

The resolved options are what a run records in ``options.json``, as always, so a
run says what it trained with whatever preset it came from. Each recipe, and what
its choices rest on (docs/benchmarks.md, "Better models from the same data"):

==============  =================================================================
``paper``       the reference's settings, which are also the defaults: ResNet-9,
                ngf 64, 286 px scaled then 256 cropped, 100 + 100 epochs, Adam
                2e-4, identity 0.5, a pool of 50
``small-data``  a few hundred images or fewer: differentiable augmentation of the
                discriminators' inputs (color, translation, cutout) and a weight
                average of the generators (decay 0.999); everything else the
                paper's. Measured at 64 px on two CPU cores it did worse than the
                paper's recipe (DiffAugment) or the same (the average); it is
                offered as what the literature recommends, to be measured at full
                size
``cpu-trial``   a first look on a CPU in minutes: ResNet-6 with ngf 32 at 128 px
                (143 scaled), 5 + 5 epochs, no validation metrics but cycle L1
==============  =================================================================
"""

from __future__ import annotations

from typing import Any

from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},  # the defaults are the paper's; named so a command can say so
    "small-data": {"diffaug": "color,translation,cutout", "ema": 0.999},
    "cpu-trial": {
        "net_g": "resnet_6blocks",
        "ngf": 32,
        "load_size": 143,
        "crop_size": 128,
        "n_epochs": 5,
        "n_epochs_decay": 5,
        "val_metric": "cycle_l1",
    },
}
_NETWORK_FIELDS = {f for f in NetworkConfig.__dataclass_fields__}


def preset_summary(name: str) -> str:
    """A preset's options as command-line words: ``--ema 0.999 --diffaug ...``."""
    options = PRESETS[name]
    words = [f"--{k.replace('_', '-')} {v}" for k, v in options.items()]
    return " ".join(words) or "the defaults (the paper's)"


def preset_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options of preset ``name`` under ``given`` (flat: network fields beside the
    others, as the command line has them); ``given`` wins where both set one."""
    if name not in PRESETS:
        raise ConfigError(f"option 'preset' is {name!r}; choose one of {', '.join(PRESETS)}")
    return {**PRESETS[name], **given}


def preset_config(name: str, **options: Any) -> TrainConfig:
    """A ``TrainConfig`` from preset ``name`` and ``options`` (which win), for Python:
    ``preset_config("small-data", data="data/few", run="runs/few")``."""
    flat = preset_options(name, options)
    network = NetworkConfig(**{k: v for k, v in flat.items() if k in _NETWORK_FIELDS})
    rest = {k: v for k, v in flat.items() if k not in _NETWORK_FIELDS}
    return TrainConfig(network=network, **rest)
