"""Writing videos with PyAV: the one pass that turns a video into its translation
(``transcode``), and clips whose every property is known (``write_video``, for the
demo and the tests). Reading is ``video.py``'s.

``transcode`` reads the file once, in packet order. Each video frame is decoded to
an ``H x W x 3`` uint8 RGB array (in its stored orientation: the rotation is a
tag, written again on the output) and handed, in batches, to a function that
returns the translated frames, which are encoded as they come: memory holds one
batch and the encoder's look-ahead, whatever the video's length. Every frame keeps
its timestamp, so a variable frame rate, the duration and the sync with the sound
are kept. Audio and subtitle packets are copied unchanged, packet for packet, into
the new file (no re-encoding); other streams (timecode, camera data) are left out
and named. The output is written under a temporary name and renamed when complete:
a translation stopped halfway leaves nothing under the final name.

A packet that cannot be decoded is skipped and counted, as is a frame FFmpeg
decoded with errors (it conceals what it can; that frame is kept): a damaged file
is translated as far as it can be, and the note says where the damage began.

Colours: frames are converted to RGB and back with the input's colour matrix and
range (BT.709 for HD video, when tagged), and the output is tagged as its input.
Deeper (10-bit) input is read as 8-bit, and written as 8-bit 4:2:0 by default.
AVI holds no variable rate and no rotation tag: its frames are counted, not timed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from cyclegan.data.video import (
    CODECS,
    CONTAINER_OF_SUFFIX,
    CONTAINERS,
    open_video,
    probe,
    require_av,
)
from cyclegan.errors import DataError


@dataclass(frozen=True)
class Encoding:
    """How a translated video is written (``settings.VideoOutput`` resolved)."""

    container: str = "mp4"  # a key of CONTAINERS
    codec: str | None = None  # a key of CODECS; None: the container's default
    crf: int | None = None  # None: the codec's default

    @property
    def encoder(self) -> tuple[str, str, int, dict]:
        """(FFmpeg encoder, pixel format, CRF, options)."""
        name, pix_fmt, crf, options = CODECS[self.codec or CONTAINERS[self.container][1]]
        return name, pix_fmt, self.crf if self.crf is not None else crf, options


@dataclass
class Transcoded:
    """What ``transcode`` did."""

    frames: int = 0
    damaged: int = 0  # packets that could not be decoded plus frames decoded with errors
    first_damaged: int | None = None  # the frames translated before the first of them
    copied: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def transcode(
    src: Path,
    dst: Path,
    convert: Callable[[list[np.ndarray]], list[np.ndarray]],
    encoding: Encoding,
    batch_size: int = 1,
    on_frames: Callable[[int, int], None] | None = None,
) -> Transcoded:
    """Write ``dst``: ``src``'s frames through ``convert`` (a list of RGB uint8 arrays
    to as many arrays, all of one size), its sound and subtitles copied.

    A packet that cannot be decoded is skipped and counted (FFmpeg conceals what it
    can: a frame decoded with errors is kept and counted too); the other frames go
    on, at their own timestamps. ``on_frames(done, total)`` after each batch.
    """
    av = require_av()
    info = probe(src)
    tmp = dst.with_name(f".{dst.name}.part")
    dst.parent.mkdir(parents=True, exist_ok=True)
    result = Transcoded(copied=info.copied, left_out=info.left_out)
    try:
        with open_video(src) as container:
            out = av.open(str(tmp), "w", format=CONTAINERS[encoding.container][0])
            try:
                _Pass(av, container, out, info, encoding, convert, result).run(
                    batch_size, on_frames
                )
            finally:
                out.close()
        tmp.replace(dst)
    except av.FFmpegError as exc:
        raise DataError(f"{src}: cannot write {dst}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    if result.damaged:
        result.notes.append(
            f"{src}: {result.damaged} damaged packet(s) or frame(s), the first after "
            f"frame {result.first_damaged}; the frames that could be decoded were "
            "translated, at their own times"
        )
    if info.left_out:
        result.notes.append(f"{src}: left out its {', '.join(info.left_out)} stream(s)")
    return result


class _Pass:
    """The one pass of ``transcode``: decode, convert in batches, encode, copy."""

    def __init__(self, av, container, out, info, encoding, convert, result):
        self.av, self.container, self.out, self.info = av, container, out, info
        self.encoding, self.convert, self.result = encoding, convert, result
        self.video = container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.copy = [s for s in container.streams if s.type in ("audio", "subtitle")]
        self.encoder = None  # opened at the first converted batch: its size is known then
        self.targets = {}
        self.held = []  # packets to copy, held until the output's streams exist

    def run(self, batch_size: int, on_frames) -> None:
        batch = []
        for packet in self.container.demux(self.video, *self.copy):
            if packet.stream.index != self.video.index:
                if packet.size:  # (not the end-of-stream marker; MKV may leave dts unset)
                    self._copy(packet)
                continue
            try:
                decoded = packet.decode()
            except self.av.FFmpegError:
                self._damaged(len(batch))
                continue
            for frame in decoded:
                if frame.is_corrupt:
                    self._damaged(len(batch))
                batch.append(frame)
                if len(batch) >= batch_size:
                    self._encode(batch, on_frames)
                    batch = []
        if batch:
            self._encode(batch, on_frames)
        if self.encoder is None:
            raise DataError(f"{self.info.path}: no frame could be decoded")
        for packet in self.encoder.encode(None):  # the encoder's look-ahead
            self.out.mux(packet)

    def _damaged(self, waiting: int) -> None:
        result = self.result
        if result.first_damaged is None:
            result.first_damaged = result.frames + waiting
        result.damaged += 1

    def _copy(self, packet) -> None:
        if self.encoder is None:
            self.held.append(packet)
            return
        packet.stream = self.targets[packet.stream.index]
        self.out.mux(packet)

    def _encode(self, batch: list, on_frames) -> None:
        arrays = self.convert([f.to_ndarray(format="rgb24") for f in batch])
        if self.encoder is None:
            self._open(arrays[0].shape, batch[0])
        for k, (frame, arr) in enumerate(zip(batch, arrays, strict=True)):
            out = self.av.VideoFrame.from_ndarray(_even(arr), format="rgb24")
            out = out.reformat(format=self.encoder.pix_fmt, dst_colorspace=self.colours[0],
                               dst_color_range=self.colours[1])  # fmt: skip
            # AVI holds one frame per tick of 1/rate: frames are counted, not timed.
            index = self.result.frames + k
            out.pts = index if self.cfr else self._pts(frame, index)
            out.time_base = self.encoder.codec_context.time_base
            for packet in self.encoder.encode(out):
                self.out.mux(packet)
        self.result.frames += len(batch)
        if on_frames:
            on_frames(self.result.frames, max(self.info.frames, self.result.frames))

    def _open(self, shape: tuple, first) -> None:
        """The output's streams, video first, then the copied ones in their order."""
        name, pix_fmt, crf, options = self.encoding.encoder
        rate = Fraction(self.info.rate).limit_denominator(1001)
        self.encoder = enc = self.out.add_stream(name, rate=rate)
        enc.height, enc.width = (s - s % 2 for s in shape[:2])  # 4:2:0 needs even sides
        enc.pix_fmt = pix_fmt
        # AVI has no variable rate; the others keep the input's clock.
        self.cfr = self.encoding.container == "avi"
        enc.codec_context.time_base = 1 / rate if self.cfr else self.video.time_base
        enc.time_base = enc.codec_context.time_base
        enc.options = {"crf": str(crf), **options}
        self.colours = (_specified(first.colorspace, "ITU601"), first.color_range or None)
        ctx = enc.codec_context
        for attr in ("colorspace", "color_range", "color_primaries", "color_trc"):
            with contextlib.suppress(AttributeError, ValueError, TypeError):
                setattr(ctx, attr, getattr(first, attr))
        if self.info.rotation:
            enc.set_display_rotation(self.info.rotation)
        try:
            self.targets = {s.index: self.out.add_stream_from_template(s) for s in self.copy}
        except (self.av.FFmpegError, ValueError) as exc:
            raise DataError(self._container_refuses(exc)) from None
        held, self.held = self.held, []
        try:
            for packet in held:
                self._copy(packet)
        except self.av.FFmpegError as exc:
            raise DataError(self._container_refuses(exc)) from None

    def _pts(self, frame, index: int) -> int:
        """The frame's own time, in the input's clock; counted where it has none."""
        if frame.pts is not None:
            return frame.pts
        return round(index / self.info.rate / self.video.time_base)

    def _container_refuses(self, exc) -> str:
        codecs = ", ".join(self.info.copied)
        return (
            f"{self.info.path}: its {codecs} stream(s) cannot be copied into a "
            f"{self.encoding.container} file ({exc}); choose another --video-format "
            "(mkv holds most codecs)"
        )


def _specified(value, default: str):
    """A colour tag, or ``default`` where the file leaves it unspecified (2)."""
    return default if value in (None, 2) else value


def _even(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    return np.ascontiguousarray(arr[: h - h % 2, : w - w % 2])


def write_video(
    path: Path,
    frames: Iterator[np.ndarray],
    rate: float = 25.0,
    times: list[float] | None = None,
    tone_hz: float | None = None,
    rotation: int = 0,
    crf: int = 18,
) -> Path:
    """Write RGB uint8 frames as an H.264 MP4/MOV/MKV (by ``path``'s suffix): at
    ``rate`` frames a second, or at ``times`` (seconds, one per frame: a variable
    rate); with a sine tone (AAC, mono, 48 kHz) under it and a rotation tag if
    asked. For the demo and the tests: clips whose every property is known."""
    av = require_av()
    container = CONTAINERS[CONTAINER_OF_SUFFIX[Path(path).suffix.lower()]][0]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), "w", format=container)
    try:
        video = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
        video.codec_context.time_base = video.time_base = Fraction(1, 90000)
        video.options = {"crf": str(crf)}
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream("aac", rate=48000, layout="mono") if tone_hz else None
        end = 0.0
        for i, arr in enumerate(frames):
            if i == 0:
                video.height, video.width = arr.shape[:2]
                video.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            end = times[i] if times else i / rate
            frame.pts = round(end * 90000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            _write_tone(av, out, audio, tone_hz, end + 1 / rate)
    finally:
        out.close()
    return Path(path)


def _write_tone(av, out, stream, hz: float, seconds: float) -> None:
    t = np.arange(round(seconds * 48000)) / 48000
    samples = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    for start in range(0, len(samples), 1024):
        frame = av.AudioFrame.from_ndarray(
            samples[None, start : start + 1024], format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts = 48000, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
