"""Configuration as data: frozen dataclasses, validated when built.

Two objects describe everything a run does:

- ``NetworkConfig``: the constructor arguments of the four networks. It is saved
  in every checkpoint, so translating needs only the checkpoint folder.
- ``TrainConfig``: the data, the objective, the schedule and the bookkeeping of
  a training run, with its ``NetworkConfig`` inside.

Field names follow the reference implementation's option names in Python
spelling (``netG`` -> ``net_g``, ``lambda_A`` -> ``lambda_a``); each field's
metadata carries its help text, its reference spelling and, where it has one,
the set of allowed values. The command line is generated from these fields in
``cli/options.py``; nothing else defines an option. How a field is declared and
checked is ``fields.py``; a domain's parsed raster options, ``domain_options.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cyclegan.domain_options import DomainOptions, parse_bands, parse_nodata
from cyclegan.errors import ConfigError
from cyclegan.fields import from_dict as build_from_dict
from cyclegan.fields import option, positive, validate
from cyclegan.model import networks
from cyclegan.model.augment import parse_policies

GENERATORS = tuple(networks.GENERATORS)
DISCRIMINATORS = ("basic", "n_layers", "pixel")
NORMS = ("instance", "batch", "none")
INITS = ("normal", "xavier", "kaiming", "orthogonal")
GAN_MODES = ("lsgan", "vanilla", "wgangp")
LR_POLICIES = ("linear", "step", "plateau", "cosine")
PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
VAL_METRICS = ("kid", "fid", "cycle_l1")
BAND_SCALINGS = ("percentile", "minmax", "dtype")
MAX_BANDS = 64


@dataclass(frozen=True)
class NetworkConfig:
    """The architecture of the two generators and two discriminators."""

    input_nc: int = option(
        3,
        "channels of domain A images: 1 or 3 for pictures (rasters: their band count, set "
        "from the data)",
        ref="input_nc",
    )
    output_nc: int = option(
        3,
        "channels of domain B images: 1 or 3 for pictures (rasters: their band count, set "
        "from the data)",
        ref="output_nc",
    )
    net_g: str = option("resnet_9blocks", "generator architecture", choices=GENERATORS, ref="netG")
    ngf: int = option(64, "generator filters in the first conv layer", ref="ngf")
    net_d: str = option(
        "basic", "discriminator: basic = 70x70 PatchGAN", choices=DISCRIMINATORS, ref="netD"
    )
    ndf: int = option(64, "discriminator filters in the first conv layer", ref="ndf")
    n_layers_d: int = option(3, "discriminator depth when net_d is n_layers", ref="n_layers_D")
    norm: str = option("instance", "normalization layers", choices=NORMS, ref="norm")
    dropout: bool = option(
        False, "dropout in the generators (off for CycleGAN, as in the reference)", ref="no_dropout"
    )
    init_type: str = option("normal", "weight initialization", choices=INITS, ref="init_type")
    init_gain: float = option(0.02, "scale of the initialization", ref="init_gain")

    def __post_init__(self) -> None:
        validate(self)
        positive(self, "ngf", "ndf", "n_layers_d", "init_gain")
        for name in ("input_nc", "output_nc"):
            if not 1 <= getattr(self, name) <= MAX_BANDS:
                raise ConfigError(
                    f"option {name!r} is {getattr(self, name)!r}: use 1 to {MAX_BANDS} channels"
                )

    @property
    def size_multiple(self) -> int:
        """Input sides must be a multiple of this for the generator to return the same size
        (an architecture fact: ``networks.GENERATORS`` holds it)."""
        return networks.size_multiple(self.net_g)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the images themselves."""

    data: str = option("", "dataset folder (trainA/trainB, train_a/train_b or A/images+B/images)")
    # --run-dir: torchrun's own parser refuses "--run" (a prefix of its --run-path).
    run: str = option(
        "", "run folder: configuration, logs and checkpoints go here", aliases=("--run-dir",)
    )
    network: NetworkConfig = field(default_factory=NetworkConfig)

    # Data pipeline (the reference's preprocessing).
    preprocess: str = option(
        "resize_and_crop",
        "how training images are scaled and cropped",
        choices=PREPROCESS,
        ref="preprocess",
    )
    load_size: int = option(286, "scale images to this size before cropping", ref="load_size")
    crop_size: int = option(256, "then crop to this size", ref="crop_size")
    flip: bool = option(
        True, "random horizontal flips (reference: --no_flip turns off)", ref="no_flip"
    )
    max_dataset_size: int = option(
        0, "use at most this many images per domain (0: all)", ref="max_dataset_size"
    )
    skip_bad_images: bool = option(False, "skip unreadable images (listed) instead of stopping")
    num_workers: int | None = option(None, "data loading worker processes (0: in the main "
        "process; default: 2 on a CPU, a GPU's cores up to 8)",
        kind=int, ref="num_threads")  # fmt: skip

    # Raster domains (multi-band, 16-bit, float, georeferenced TIFFs: data/bands.py).
    band_stats: str = option(
        "percentile",
        "how raster bands are scaled to the network's range: percentile (robust, see "
        "band_clip), minmax, or dtype (the data type's full range)",
        choices=BAND_SCALINGS,
    )
    band_clip: float = option(
        0.5, "with band_stats percentile: the percent of values clipped at each end"
    )
    bands_a: str = option("", "bands of domain A rasters to use, e.g. 4,3,2 (empty: all)")
    bands_b: str = option("", "bands of domain B rasters to use (empty: all)")
    stats_a: str = option(
        "",
        "band statistics of domain A from a file instead of the data: a run's "
        "band_stats_a.json, or arcgis.learn's esri_normalization_stats_a.json",
    )
    stats_b: str = option("", "band statistics of domain B from a file")
    nodata_a: str = option(
        "", "nodata value of domain A rasters (empty: the files' own; a number or nan)"
    )
    nodata_b: str = option("", "nodata value of domain B rasters (empty: the files' own)")
    rgb_a: str = option(
        "", "bands of domain A (after bands_a) shown as red,green,blue (default 1,2,3)"
    )
    rgb_b: str = option("", "bands of domain B shown as red,green,blue (default 1,2,3)")

    # Objective.
    gan_mode: str = option("lsgan", "adversarial loss", choices=GAN_MODES, ref="gan_mode")
    lambda_a: float = option(10.0, "weight of the cycle loss A -> B -> A", ref="lambda_A")
    lambda_b: float = option(10.0, "weight of the cycle loss B -> A -> B", ref="lambda_B")
    lambda_identity: float = option(
        0.5, "identity loss weight, relative to lambda_a/lambda_b", ref="lambda_identity"
    )
    pool_size: int = option(50, "past fakes kept for the discriminators (0: none)", ref="pool_size")
    diffaug: str = option(
        "",
        "augment every image the discriminators see, real and fake, with these "
        "differentiable policies: color, translation, cutout (comma-separated; for small "
        "datasets, model/augment.py); empty: none",
    )

    # Optimization and schedule.
    lr: float = option(2e-4, "Adam learning rate", ref="lr")
    beta1: float = option(0.5, "Adam beta1", ref="beta1")
    beta2: float = option(0.999, "Adam beta2")
    batch_size: int = option(1, "images per step from each domain", ref="batch_size")
    n_epochs: int = option(100, "epochs at the initial learning rate", ref="n_epochs")
    n_epochs_decay: int = option(
        100, "epochs of linear decay to zero after that", ref="n_epochs_decay"
    )
    lr_policy: str = option(
        "linear", "learning rate schedule", choices=LR_POLICIES, ref="lr_policy"
    )
    lr_decay_iters: int = option(
        50, "epochs between x0.1 steps when lr_policy is step", ref="lr_decay_iters"
    )
    max_iters: int = option(0, "stop after this many steps in all (0: run every epoch)")
    init_from: str = option(
        "",
        "start from this checkpoint's weights (fresh optimizer and "
        "schedule): fine-tuning, or a second fit",
    )
    max_minutes: float = option(
        0.0, "stop (with a checkpoint) after this much training time in this process (0: no limit)"
    )
    seed: int = option(0, "seed for weights, data order, augmentation and the image pools")
    ema: float = option(
        0.0,
        "also keep an exponential moving average of the generators' weights with this "
        "decay (e.g. 0.999), which translation and validation then use; 0: none",
    )

    # Bookkeeping.
    device: str = option("auto", "where to train: auto picks cuda when present", choices=DEVICES)
    precision: str = option(
        "auto",
        "arithmetic: fp32 (the reference's), bf16 or fp16 mixed precision; auto picks bf16 "
        "where the hardware has it, fp16 on GPUs with tensor cores but no bf16",
        choices=PRECISIONS,
    )
    deterministic: bool = option(False, "deterministic kernels (bitwise-repeatable on CPU)")
    channels_last: bool = option(False, "NHWC images and weights: slower on CPUs; see bench")
    compile: bool = option(False, "torch.compile the step's networks; time it with bench first")
    cuda_graphs: bool = option(False, "compile with CUDA graphs (a GPU, fixed sizes); see bench")
    save_epoch_freq: int = option(
        5, "save a checkpoint every N epochs (and always at the end)", ref="save_epoch_freq"
    )
    save_iter_freq: int = option(0, "also save every N steps (0: off)", ref="save_latest_freq")
    log_every: int = option(10, "append losses to the log every N steps", ref="print_freq")
    report: bool = option(True, "write sample grids, loss curves and index.html each epoch")
    tensorboard: bool = option(
        False, "also log scalars and samples for TensorBoard (needs the tensorboard extra)"
    )
    keep_checkpoints: int = option(
        0, "keep only the newest N checkpoints (0: keep all; the best is always kept)"
    )

    # Validation while training (evaluation/validation.py) and the best checkpoint.
    val_images: int = option(
        50,
        "images per domain in the fixed validation sample: from the test folders, or held "
        "out from training when those hold too few (0: no validation)",
    )
    val_every: int = option(
        0,
        "validate every N epochs; 0: as often as keeps validation within val_budget of the "
        "run's time (and always after the last step)",
    )
    val_budget: float = option(
        0.05, "with val_every 0: the share of the run's time validation may take"
    )
    val_metric: str = option(
        "kid",
        "what the best checkpoint is chosen by, averaged over both directions (lower is "
        "better; kid and fid need the Inception weights, else cycle_l1 is used)",
        choices=VAL_METRICS,
    )
    early_stop: int = option(
        0, "stop when val_metric has not improved for this many validations (0: never)"
    )

    def __post_init__(self) -> None:
        validate(self)
        if isinstance(self.network, dict):  # built from JSON
            object.__setattr__(self, "network", network_from_dict(self.network))
        positive(self, "load_size", "crop_size", "batch_size", "lr", "log_every",
                 "save_epoch_freq", "lr_decay_iters")  # fmt: skip
        positive(self, "n_epochs", "n_epochs_decay", "max_dataset_size", "num_workers",
                 "pool_size", "lambda_a", "lambda_b", "lambda_identity", "max_iters",
                 "save_iter_freq", "keep_checkpoints", "val_images", "val_every",
                 "early_stop", allow_zero=True)  # fmt: skip
        if not 0 < self.val_budget <= 1:
            raise ConfigError(
                f"option 'val_budget' is {self.val_budget!r}; give a share of time in (0, 1]"
            )
        if self.n_epochs + self.n_epochs_decay == 0:
            raise ConfigError(
                "options 'n_epochs' and 'n_epochs_decay' are both 0: nothing to train"
            )
        self._check_ranges()
        self._check_bands()
        if (
            "crop" in self.preprocess
            and self.crop_size > self.load_size
            and self.preprocess != "crop"
        ):
            raise ConfigError(
                f"option 'crop_size' ({self.crop_size}) is larger than 'load_size' "
                f"({self.load_size}); a crop cannot be larger than the scaled image"
            )
        if self.batch_size > 1 and "crop" not in self.preprocess:
            raise ConfigError(
                f"option 'batch_size' is {self.batch_size} with preprocess {self.preprocess!r}: "
                "images of different sizes cannot share a batch; use a crop mode or batch 1"
            )

    def _check_ranges(self) -> None:
        """Bounds beyond the sign: Adam's rate and betas, the average's decay."""
        if self.lr > 1:
            raise ConfigError(f"option 'lr' is {self.lr!r}; Adam's rate must be in (0, 1]")
        try:
            parse_policies(self.diffaug)
        except ValueError as exc:
            raise ConfigError(f"option 'diffaug': {exc}") from None
        if not 0 <= self.ema < 1:
            raise ConfigError(f"option 'ema' is {self.ema!r}; give a decay in [0, 1) (0: off)")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(
                    f"option {name!r} is {getattr(self, name)!r}; Adam's betas must be in [0, 1)"
                )

    def _check_bands(self) -> None:
        """The raster options' syntax; whether the bands exist is checked on the data."""
        if not 0 <= self.band_clip < 50:
            raise ConfigError(f"option 'band_clip' is {self.band_clip!r}: use 0 to below 50")
        self.domain_options  # parsed, and so checked  # noqa: B018

    @property
    def domain_options(self) -> dict[str, DomainOptions]:
        """Each domain's raster options, parsed by this one function (to check them
        and to use them): ``{"A": DomainOptions, "B": ...}``."""
        flat = {
            "A": (self.bands_a, self.nodata_a, self.stats_a, self.rgb_a),
            "B": (self.bands_b, self.nodata_b, self.stats_b, self.rgb_b),
        }
        parsed = {}
        for label, (bands, nodata, stats, rgb) in flat.items():
            d = label.lower()
            composite = parse_bands(rgb, f"rgb_{d}") or ()
            if composite and len(composite) != 3:
                raise ConfigError(f"option 'rgb_{d}': give three bands, e.g. 3,2,1")
            parsed[label] = DomainOptions(
                parse_bands(bands, f"bands_{d}"), parse_nodata(nodata, f"nodata_{d}"), stats,
                composite,
            )  # fmt: skip
        return parsed

    def check_trainable(self) -> None:
        """What training needs besides valid values: the folders to read and write."""
        if not self.data:
            raise ConfigError("option 'data' is required: the dataset folder")
        if not self.run:
            raise ConfigError("option 'run' is required: the folder to write the run to")

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    @property
    def identity_active(self) -> bool:
        """Identity loss needs G_ab(b) to be comparable to b: same channel counts."""
        net = self.network
        return self.lambda_identity > 0 and net.input_nc == net.output_nc

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        return build_from_dict(cls, values, "options", "options in saved configuration")


def network_from_dict(values: dict[str, Any]) -> NetworkConfig:
    return build_from_dict(NetworkConfig, values, "network options", "network options")
