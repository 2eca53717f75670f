"""Translating a video file into a video file: its frames through the generator in
batches, as a stream (``data/video.py`` decodes, encodes and copies the sound), with
optional temporal smoothing (``smoothing.py``).

Every option of images applies to frames: direction, tiling (4K frames), scale,
device and precision, compile. The output keeps the input's frame count,
timestamps, size, rotation tag and audio and subtitle packets; its container is
the input's unless ``VideoOutput.video_format`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cyclegan import directions
from cyclegan.data.imageio import array_to_tensor, match_channels, tensor_to_array, to_uint8
from cyclegan.data.video import CONTAINER_OF_SUFFIX
from cyclegan.data.video_writer import Encoding, Transcoded, transcode
from cyclegan.errors import ConfigError, DataError
from cyclegan.inference.batching import one_size_batches
from cyclegan.inference.smoothing import TemporalSmoothing
from cyclegan.inference.translate import Translator
from cyclegan.settings import Tiling, VideoOutput


def video_suffix(src: Path, video: VideoOutput) -> str:
    """The extension of ``src``'s translation: ``--video-format``'s, else its own."""
    return f".{video.video_format}" if video.video_format else Path(src).suffix


def encoding_for(dst: Path, video: VideoOutput) -> Encoding:
    container = CONTAINER_OF_SUFFIX.get(Path(dst).suffix.lower())
    if container is None:
        raise ConfigError(
            f"{dst}: not a video file name; end it in " + ", ".join(sorted(CONTAINER_OF_SUFFIX))
        )
    return Encoding(container, video.video_codec, video.video_crf)


def translate_video(
    translator: Translator,
    src: Path,
    dst: Path,
    direction: str = "AtoB",
    tiling: Tiling | None = None,
    video: VideoOutput | None = None,
    batch_size: int = 1,
    on_frames: Callable[[int, int], None] | None = None,
    max_batch_pixels: int | None = None,
) -> Transcoded:
    """Write the translation of video ``src`` to ``dst`` (replaced if it exists: the
    callers check first), ``batch_size`` frames at a time but at most
    ``max_batch_pixels`` (None: no bound); returns what was done (frames, damaged
    packets, notes)."""
    tiling, video = tiling or Tiling(), video or VideoOutput()
    source, _ = translator.sides(direction)
    if source.raster:
        raise DataError(
            f"{src}: this model translates rasters of domain {directions.source(direction)}, "
            "not videos"
        )
    in_nc, _ = translator.channels(direction)
    smooth = TemporalSmoothing(video.temporal_smoothing) if video.temporal_smoothing else None

    def convert(frames: list[np.ndarray]) -> list[np.ndarray]:
        arrays = []
        for part in one_size_batches([f.shape for f in frames], len(frames), max_batch_pixels):
            scaled = [match_channels(frames[i].astype(np.float32) / 255, in_nc) for i in part]
            batch = torch.stack([array_to_tensor(f) for f in scaled])
            out = translator.translate_tensor(batch, direction, **tiling.arguments)
            arrays += [match_channels(tensor_to_array(t), 3) for t in out]
        if smooth is not None:
            arrays = [smooth(f, a) for f, a in zip(frames, arrays, strict=True)]
        return [to_uint8(a) for a in arrays]

    return transcode(Path(src), Path(dst), convert, encoding_for(dst, video), batch_size, on_frames)
