"""Video files, read with PyAV (FFmpeg, bundled in its wheels): which files are
videos, what one holds (``probe``), its frames as arrays (``frames``), and its
packets and timestamps, to compare a translation with its input. The containers
and codecs this toolkit writes are named here; the writing is ``video_writer.py``'s.

PyAV is an optional extra: without it, any video says how to install it.
Every failure is a ``DataError`` that names the file and says what is wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.errors import ConfigError, DataError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
# --video-format: FFmpeg's muxer for each container, and its default codec.
CONTAINERS = {
    "mp4": ("mp4", "h264"),
    "mov": ("mov", "h264"),
    "mkv": ("matroska", "h264"),
    "webm": ("webm", "vp9"),
    "avi": ("avi", "h264"),
}
# --video-codec: the encoder, its pixel format, its default CRF (visually lossless
# or close: x264's 18 is the usual such figure; the others' scales differ) and the
# options that make CRF mean constant quality.
CODECS = {
    "h264": ("libx264", "yuv420p", 18, {}),
    "hevc": ("libx265", "yuv420p", 20, {}),
    "vp9": ("libvpx-vp9", "yuv420p", 24, {"b": "0"}),
    "av1": ("libsvtav1", "yuv420p", 28, {}),
}
MAX_RATE = 480  # frames a second: above it, a header's rate is taken as wrong
CONTAINER_OF_SUFFIX = {".m4v": "mp4", **{f".{k}": k for k in CONTAINERS}}


def is_video_file(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS and not Path(path).name.startswith(".")


def require_av():
    """PyAV, or a ``ConfigError`` that says how to install it."""
    try:
        import av
    except ImportError:
        raise ConfigError(
            "videos need the video extra (PyAV, which bundles FFmpeg): "
            "pip install 'cyclegan[video]'"
        ) from None
    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own chatter; errors come as ours
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, from its headers and its first frame."""

    path: Path
    width: int
    height: int
    frames: int  # from the header; estimated from the duration where it has none
    rate: float  # average frames per second
    duration: float  # seconds
    rotation: int  # degrees counter-clockwise a player turns the frames
    codec: str
    copied: tuple[str, ...]  # audio and subtitle streams, by codec
    left_out: tuple[str, ...]  # other streams, by type


@contextlib.contextmanager
def open_video(path: Path):
    av = require_av()
    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except av.FFmpegError as exc:
        raise DataError(f"{path}: not a video this tool reads ({exc.strerror or exc})") from None
    try:
        if not container.streams.video:
            raise DataError(f"{path}: holds no video stream (only {_kinds(container)})")
        yield container
    finally:
        container.close()


def _kinds(container) -> str:
    return ", ".join(s.type for s in container.streams) or "nothing"


def probe(path: Path) -> VideoInfo:
    """The video's size, frames, rate, rotation and streams; a ``DataError`` for a
    file that is not a video, holds no video stream or no frame, or whose codec this
    FFmpeg cannot decode."""
    av = require_av()
    with open_video(path) as container:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise DataError(
                f"{path}: its video ({stream.codec_context.name}) cannot be decoded: {exc}"
            ) from None
        if first is None:
            raise DataError(f"{path}: its video stream holds no frames")
        rate = _frame_rate(stream)
        duration = _duration(container, stream)
        frames = stream.frames or round(duration * rate)
        copied = tuple(
            s.codec_context.name for s in container.streams if s.type in ("audio", "subtitle")
        )
        left_out = tuple(
            s.type for s in container.streams if s.type not in ("video", "audio", "subtitle")
        )
        return VideoInfo(
            Path(path), first.width, first.height, frames, rate, duration,
            int(first.rotation or 0), stream.codec_context.name, copied,
            left_out + ("video",) * (len(container.streams.video) - 1),
        )  # fmt: skip


def _frame_rate(stream) -> float:
    """Frames a second: the average over the file, unless a badly written header makes
    it absurd; then FFmpeg's guess (which, for a variable rate, is the fastest)."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate and 0 < rate <= MAX_RATE:
            return float(rate)
    return 30.0


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / 1_000_000  # av.time_base: microseconds


def frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of the first video stream, as ``H x W x 3`` uint8 RGB, in order."""
    av = require_av()
    with open_video(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except av.FFmpegError as exc:
            raise DataError(f"{path}: cannot decode its video: {exc}") from None


def packets(path: Path, kind: str = "audio") -> list[bytes]:
    """The bytes of every packet of a file's streams of ``kind``, in order: to compare
    copies (times are in each container's own clock)."""
    with open_video(path) as container:
        streams = [s for s in container.streams if s.type == kind]
        return [bytes(p) for p in container.demux(*streams) if p.size] if streams else []


def timestamps(path: Path) -> list[float]:
    """Each video frame's presentation time, seconds, in order."""
    with open_video(path) as container:
        return [float(f.time) for f in container.decode(container.streams.video[0])]
