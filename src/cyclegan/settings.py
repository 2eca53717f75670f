"""The options of the commands that use a trained model, as data.

Small frozen dataclasses, each one concern, shared by the commands and the Python
API: ``Hardware`` (where and in which arithmetic the networks run), ``Tiling``
(large images in blended tiles), ``ImageOutput`` (what ``translate`` writes),
``VideoOutput`` (how it writes videos),
``Server`` (``serve``), ``Bench`` (``bench``) and ``Evaluation`` (``evaluate``);
the demo's are ``demo.Demo``. Each field
carries its help text and, where the default's type cannot tell, the type of its
command-line text; ``options.py`` generates every command's options from these
fields, as it does ``train``'s from ``TrainConfig``. Values are checked when built,
so the command line and the Python API refuse the same mistakes with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cyclegan.config import DEVICES, GENERATORS, PRECISIONS
from cyclegan.data.imageio import OUTPUT_FORMATS  # the one table of image formats
from cyclegan.data.video import CODECS, CONTAINERS  # and of video containers and codecs
from cyclegan.errors import ConfigError
from cyclegan.fields import REQUIRED, option

DEVICE_HELP = "where the networks run; auto: a CUDA GPU when there is one, else the CPU"
PRECISION_HELP = "arithmetic; auto: bf16 where the hardware has it natively, else fp32"
MODEL_HELP = "run folder, checkpoint folder, or reference generator .pth file"
OUTPUT_DTYPES = ("uint8", "uint16", "int16", "float32")  # what raster output is written in


def _at_least(obj, name: str, low: int, what: str) -> None:
    value = getattr(obj, name)
    if value is not None and value < low:
        raise ConfigError(f"option {name!r} is {value}; {what}")


@dataclass(frozen=True)
class Hardware:
    """Where the networks run and in which arithmetic."""

    device: str = option("auto", DEVICE_HELP, choices=DEVICES)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)


@dataclass(frozen=True)
class Tiling:
    """Images larger than ``tile`` pixels on a side go through in blended tiles, with
    instance-norm statistics of the whole image (``tiling.py``)."""

    tile: int | None = option(
        None,
        "translate images larger than this many pixels on a side in blended tiles "
        "of this size, to bound memory (e.g. 512; default: whole images)",
        kind=int,
    )
    tile_overlap: int | None = option(
        None,
        "pixels that neighbouring tiles share and cross-fade over (default: an eighth of --tile)",
        kind=int,
    )
    tile_stats_size: int = option(
        1024,
        "with --tile: instance-norm statistics come from the whole image scaled to "
        "at most this many pixels on its longer side; 0: each tile's own",
    )

    @property
    def arguments(self) -> dict:
        """As ``Translator.translate`` and ``translate_tensor`` take them."""
        return {
            "tile": self.tile,
            "tile_overlap": self.tile_overlap,
            "stats_size": self.tile_stats_size,
        }


@dataclass(frozen=True)
class Scale:
    """At which scale images are translated (``inference/scale.py``)."""

    scale: str = option(
        "native",
        "native: each image at its own size; training: scaled first so its content has "
        "the size the model was trained at (from the checkpoint's preprocessing)",
        choices=("native", "training"),
    )
    output_size: str = option(
        "original",
        "with --scale training: original: the translation at the input's size; "
        "translated: at the size it was translated at",
        choices=("original", "translated"),
    )


@dataclass(frozen=True)
class ImageOutput:
    """How ``translate`` reads and writes files."""

    format: str | None = option(
        None, "output format (default: the input's)", choices=OUTPUT_FORMATS, kind=str
    )
    batch_size: int | None = option(
        None,
        "images of equal size per batch, or frames of a video (default: 8 on a GPU but "
        "at most 2 megapixels, 1 on a CPU)",
        kind=int,
    )
    bit_depth: int = option(
        8,
        "16: write 16-bit files (--format tiff, or png for grayscale)",
        choices=(8, 16),
    )
    max_pixels: int | None = option(
        None, "refuse images larger than this (default: Pillow's bomb limit)", kind=int
    )
    output_dtype: str | None = option(
        None,
        "rasters: the data type written (default: the target domain's), in the target's "
        "units where the type holds them, else filling the type's whole range",
        choices=(None, *OUTPUT_DTYPES),
        kind=str,
    )
    output_nodata: float | None = option(
        None,
        "rasters: the nodata value written (default: the target domain's; else NaN in "
        "float output, the input's, or the type's minimum); pick one no real pixel has",
        kind=float,
    )
    cog: bool = option(
        False,
        "rasters: write Cloud-Optimized GeoTIFFs (overviews always, laid out so that a "
        "reader fetches any part with a few requests; needs the geo extra)",
    )
    overwrite: bool = option(
        False,
        "replace output files that exist already, and a translation made with other "
        "settings (without it they are refused, named); what the same job did is kept",
    )

    def __post_init__(self) -> None:
        _at_least(self, "batch_size", 1, "give 1 or more images")
        if self.cog and self.format not in (None, "tiff"):
            raise ConfigError(f"option 'cog' is for rasters (GeoTIFF), not --format {self.format}")
        if self.output_dtype is not None and self.format not in (None, "tiff"):
            raise ConfigError(
                f"option 'output_dtype' is for rasters, which are written as GeoTIFF; "
                f"not with --format {self.format}"
            )
        _at_least(self, "max_pixels", 1, "give a positive limit")
        if self.output_nodata is not None and self.format not in (None, "tiff"):
            raise ConfigError("option 'output_nodata' is for rasters, written as GeoTIFF")


@dataclass(frozen=True)
class VideoOutput:
    """How ``translate`` writes videos (``data/video.py``, ``inference/video.py``)."""

    video_format: str | None = option(
        None,
        "container of translated videos (default: the input's); avi: constant frame "
        "rate and no rotation tag",
        choices=(None, *CONTAINERS),
        kind=str,
    )
    video_codec: str | None = option(
        None,
        "video codec (default: h264, vp9 in webm); the sound is copied, never re-encoded",
        choices=(None, *CODECS),
        kind=str,
    )
    video_crf: int | None = option(
        None,
        "constant quality, lower is better and larger (default: "
        + ", ".join(f"{name} {crf}" for name, (_, _, crf, _) in CODECS.items())
        + ", about visually lossless)",
        kind=int,
    )
    temporal_smoothing: float = option(
        0.0,
        "0 to 0.95: blend each translated frame with the previous one, moved along the "
        "input's optical flow, where the flow is reliable; less flicker, the same "
        "motion (docs/video.md; 0.8 is a good start); 0: frame by frame",
    )
    flicker: bool = option(
        False, "after each video, measure its flicker against the input and print it"
    )

    def __post_init__(self) -> None:
        if self.video_crf is not None and not 0 <= self.video_crf <= 63:
            raise ConfigError(f"option 'video_crf' is {self.video_crf}; give 0 to 63")
        if not 0 <= self.temporal_smoothing <= 0.95:
            raise ConfigError(
                f"option 'temporal_smoothing' is {self.temporal_smoothing}; give 0 to 0.95"
            )
        if self.video_format == "webm" and self.video_codec in ("h264", "hevc"):
            raise ConfigError(
                f"option 'video_codec' {self.video_codec} cannot go into webm; use vp9 or av1"
            )


@dataclass(frozen=True)
class Server:
    """Where ``serve`` listens and what it accepts."""

    host: str = option("127.0.0.1", "0.0.0.0 to be reachable from others")
    port: int = option(8000, "TCP port to listen on")
    max_pixels: int = option(
        4096 * 4096,
        "refuse larger uploads (pixels), from their header; one translation's memory is "
        "about 100 bytes a pixel, plus a tile's activations",
    )
    queue: int = option(
        4, "translations that may wait behind the running one; more get 503 at once"
    )

    def __post_init__(self) -> None:
        _at_least(self, "port", 0, "give a TCP port from 0 to 65535")
        if self.port > 65535:
            raise ConfigError(f"option 'port' is {self.port}; give a TCP port from 0 to 65535")
        _at_least(self, "max_pixels", 1, "give a positive limit")
        _at_least(self, "queue", 0, "give 0 or more waiting translations")


@dataclass(frozen=True)
class Bench:
    """What ``bench`` times."""

    size: int = option(256, "image side in pixels")
    net_g: str = option("resnet_9blocks", "the generator to time", choices=GENERATORS, ref="netG")
    batch_size: int = option(1, "images per training step")
    steps: int = option(3, "timed repetitions (median)")
    warmup: int = option(1, "untimed repetitions first")
    infer_sizes: tuple[int, ...] | None = option(
        None, "inference sizes (default: --size)", kind=int, metavar="SIZE"
    )
    infer_batch: int = option(1, "images per inference call (a GPU's throughput needs many)")
    baseline: bool = option(True, "also time the plain fp32 eager form (--no-baseline: skip)")
    compile: bool = option(False, "also time inference and the step under torch.compile")
    channels_last: bool = option(False, "also time the step on channels-last (NHWC) tensors")
    profile: bool = option(False, "profile the step: top operators; on a GPU kernels, busy share")

    def __post_init__(self) -> None:
        for name in ("size", "batch_size", "steps", "infer_batch"):
            _at_least(self, name, 1, "give 1 or more")
        _at_least(self, "warmup", 0, "give 0 or more")
        for size in self.infer_sizes or ():
            if size < 1:
                raise ConfigError(f"option 'infer_sizes' holds {size}; give sizes of 1 or more")


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` compares and how it picks the best checkpoint."""

    split: str = option(
        "test",
        "which folders of --data to translate and compare: testA/testB or trainA/trainB",
        choices=("test", "train"),
    )
    checkpoints: str = option(
        "latest",
        "all: evaluate every checkpoint of a run and name the best",
        choices=("latest", "all"),
    )
    metric: str = option(
        "fid",
        "what --checkpoints all picks the best by",
        choices=("fid", "kid", "cycle_l1", "paired_psnr", "paired_ssim"),
    )
    cache: Path = option(
        Path.home() / ".cache" / "cyclegan" / "features",
        "where Inception features are kept (by content hash)",
    )
    batch_size: int = option(
        8, "images of one size translated at once (at most 2 megapixels): faster on a GPU"
    )

    def __post_init__(self) -> None:
        _at_least(self, "batch_size", 1, "give 1 or more images")


__all__ = [
    "REQUIRED",
    "Bench",
    "Evaluation",
    "Hardware",
    "ImageOutput",
    "MODEL_HELP",
    "Server",
    "Tiling",
    "VideoOutput",
]
