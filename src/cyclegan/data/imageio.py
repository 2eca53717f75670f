"""Image files in and out: the one place where files become arrays and arrays files.

Inside the library an image is a float32 array ``H x W x C`` in [0, 1] (here)
or a float tensor ``N x C x H x W`` in [-1, 1] (everywhere else). Decoding:

- EXIF orientation is applied, as a photo viewer would show the image.
- 8-bit modes are scaled by 1/255; 16-bit (``I;16``, ``I``) by 1/65535; float
  (``F``) images are taken as already in [0, 1].
- Palette and 1-bit images are expanded; an alpha channel is composited onto
  white (dropping it, as the reference does, shows whatever colour happens to be
  stored under transparent pixels).
- Grayscale becomes RGB by repetition; RGB becomes grayscale with ITU-R 601-2
  luma weights (what Pillow's ``convert("L")`` and the reference use).
- Pillow reads a TIFF with several 16-bit samples per pixel (16-bit RGB, common
  in remote sensing) as 8-bit; those are read with tifffile instead, at full
  depth. Other TIFFs, and every other format, go through Pillow.

Encoding is 8-bit by default; ``bit_depth=16`` writes 16-bit TIFF (gray or RGB)
or 16-bit grayscale PNG, so smooth gradients keep more than 256 levels.

Every failure is a ``DataError`` that names the file and says what is wrong.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cyclegan.errors import ConfigError, DataError, TooLarge

# The one table of image formats, for every command (train, translate, evaluate, serve,
# curate): Pillow's name, the name people know, the file extensions (the first is the
# one ``translate --format`` takes). Files are picked by extension, their contents
# checked by the format Pillow decodes. A new format is one row here.
FORMATS = (
    ("PNG", "PNG", (".png",)),
    ("JPEG", "JPEG", (".jpg", ".jpeg")),
    ("WEBP", "WebP", (".webp",)),
    ("BMP", "BMP", (".bmp",)),
    ("TIFF", "TIFF", (".tiff", ".tif")),
)
IMAGE_EXTENSIONS = tuple(ext for _, _, exts in FORMATS for ext in exts)
# MPO is how Pillow names the JPEGs of many cameras (a JPEG with a preview inside).
IMAGE_FORMATS = (*(pillow for pillow, _, _ in FORMATS), "MPO")
ACCEPTED = ", ".join(name for _, name, _ in FORMATS[:-1]) + f" or {FORMATS[-1][1]}"
SAVE_FORMATS = {ext.lstrip("."): pillow for pillow, _, exts in FORMATS for ext in exts}
OUTPUT_FORMATS = tuple(exts[0].lstrip(".") for _, _, exts in FORMATS)  # --format choices
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def open_image(
    source: Path | bytes, max_pixels: int | None = None, name: str = "upload"
) -> Image.Image:
    """Decode a whole image (so truncation shows now), oriented by its EXIF tag.

    ``source`` is a file's path, or the bytes of one (an upload; ``name`` stands for
    it in messages). ``max_pixels`` caps width x height (default: Pillow's
    ``Image.MAX_IMAGE_PIXELS``, about 89 million); a larger image is refused as a
    possible decompression bomb. Give a larger number to read very large rasters
    on purpose.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    if isinstance(source, bytes | bytearray):
        label, size, stream = name, len(source), io.BytesIO(source)
    else:
        label = stream = Path(source)
        try:
            size = stream.stat().st_size
        except OSError as exc:
            raise DataError(f"{label}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise DataError(f"{label}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice that; here the limit is a limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _pillow_unlimited():
                img = Image.open(stream)
            with img:
                if img.format not in IMAGE_FORMATS:
                    raise DataError(f"{label}: a {img.format} image; accepted: {ACCEPTED}")
                if limit is not None and img.width * img.height > limit:
                    raise TooLarge(
                        f"{label}: {img.width}x{img.height} pixels is more than the limit of "
                        f"{limit} (a possible decompression bomb)"
                    )
                img.load()
                return ImageOps.exif_transpose(img)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"{label}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise DataError(f"{label}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{label}: broken or truncated image ({exc})") from None


def image_size(path: Path) -> tuple[int, int]:
    """A picture's (width, height) from its header alone, nothing decoded: how much work
    it is (no size limit applies here; decoding applies ``open_image``'s)."""
    try:
        with _pillow_unlimited(), Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"{path}: not an image Pillow can read ({exc})") from None


@contextlib.contextmanager
def _pillow_unlimited() -> Iterator[None]:
    """Pillow's own pixel limit off while a file is opened: the limit is ours to apply."""
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


def to_array(img: Image.Image, channels: int) -> np.ndarray:
    """A Pillow image as float32 ``H x W x channels`` in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    elif mode == "I":  # Pillow's container for 16-bit PNG and 32-bit integer TIFF
        raw = np.asarray(img)
        scale = 65535.0 if raw.max(initial=0) <= 65535 else float(2**32 - 1)
        arr = raw.astype(np.float32) / scale
    elif mode == "F":
        arr = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    else:
        if mode == "P":
            img = img.convert("RGBA")
        elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
            img = img.convert("RGB" if mode != "1" else "L")
        elif mode == "PA":
            img = img.convert("RGBA")
        if img.mode in ("RGBA", "LA", "La", "RGBa"):
            img = img.convert("RGBA" if img.mode.startswith("RGB") else "LA")
            rgba = np.asarray(img, dtype=np.float32) / 255.0
            color, alpha = rgba[..., :-1], rgba[..., -1:]
            arr = color * alpha + (1.0 - alpha)  # composite onto white
        else:
            arr = np.asarray(img, dtype=np.float32) / 255.0
    return match_channels(arr, channels)


def match_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """An ``H x W`` or ``H x W x C`` float image with exactly ``channels`` (1 or 3) channels."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == channels:
        return np.ascontiguousarray(arr, dtype=np.float32)
    if channels == 3:
        return np.ascontiguousarray(np.repeat(arr[..., :1], 3, axis=2), dtype=np.float32)
    return np.ascontiguousarray((arr[..., :3] @ LUMA)[..., None], dtype=np.float32)


def load_image(
    source: Path | bytes, channels: int, max_pixels: int | None = None, name: str = "upload"
) -> np.ndarray:
    """A file (its path, or its bytes named ``name``) as float32 ``H x W x channels``."""
    if not isinstance(source, bytes | bytearray):
        source = Path(source)
    deep = _deep_tiff(source, max_pixels, name)
    if deep is not None:
        return match_channels(deep, channels)
    return to_array(open_image(source, max_pixels, name), channels)


TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _deep_tiff(source: Path | bytes, max_pixels: int | None, name: str) -> np.ndarray | None:
    """A TIFF of several samples per pixel with more than 8 bits each, as float32
    ``H x W x C`` in [0, 1]; None for any other file (Pillow reads those in full)."""
    if isinstance(source, Path):
        label = path = source
        try:
            with open(path, "rb") as f:
                head = f.read(4)
        except OSError:
            return None  # open_image says what is wrong with the file
    else:
        label, head, path = name, bytes(source[:4]), io.BytesIO(source)
    if head not in TIFF_SIGNATURES:
        return None
    import tifffile

    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.samplesperpixel < 2 or page.bitspersample <= 8:
                return None
            if limit is not None and page.imagewidth * page.imagelength > limit:
                raise TooLarge(
                    f"{label}: {page.imagewidth}x{page.imagelength} pixels is more than the "
                    f"limit of {limit} (a possible decompression bomb)"
                )
            raw, axes, alpha = page.asarray(), page.axes, bool(page.extrasamples)
    except DataError:
        raise
    except Exception as exc:  # tifffile raises many kinds for a damaged file
        raise DataError(f"{label}: broken or truncated TIFF ({exc})") from None
    if axes.startswith("S"):  # planar: one plane per sample
        raw = np.moveaxis(raw, 0, -1)
    if np.issubdtype(raw.dtype, np.floating):
        arr = np.clip(raw.astype(np.float32), 0.0, 1.0)
    else:
        arr = raw.astype(np.float32) / float(np.iinfo(raw.dtype).max)
    samples = arr.shape[-1]
    if alpha and samples in (2, 4):  # gray or RGB with alpha: composite onto white
        arr = arr[..., :-1] * arr[..., -1:] + (1.0 - arr[..., -1:])
    elif samples not in (1, 3):
        raise DataError(
            f"{label}: {samples} samples per pixel; give 1 (gray), 3 (RGB) or 4 (RGBA) "
            "channel images"
        )
    return arr


def resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of a float image, channel by channel in Pillow's float mode."""
    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    planes = [
        np.asarray(
            Image.fromarray(arr[..., c], mode="F").resize((width, height), Image.Resampling.BICUBIC)
        )
        for c in range(arr.shape[2])
    ]
    return np.stack(planes, axis=2)


def array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """``H x W x C`` in [0, 1] -> ``C x H x W`` in [-1, 1]."""
    # Exactly one copy (never a view of the caller's array), then scaled in place:
    # large rasters should not pay for temporaries.
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).mul_(2.0).sub_(1.0)


def tensor_to_array(t: torch.Tensor) -> np.ndarray:
    """``C x H x W`` in [-1, 1] -> ``H x W x C`` float32 in [0, 1]."""
    t = t.detach().float().cpu().clamp(-1, 1)  # a new tensor: safe to scale in place
    return t.add_(1.0).div_(2.0).permute(1, 2, 0).numpy()


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """[0, 1] floats rounded to 8 bits: the one rounding every saved or scored image gets
    (the reference's ``tensor2im`` truncates instead; rounding is unbiased)."""
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


def array_to_pil(arr: np.ndarray) -> Image.Image:
    """Round to 8 bits (``to_uint8``) as a Pillow image."""
    u8 = to_uint8(arr)
    return Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)


def check_bit_depth(path: Path, bit_depth: int, channels: int) -> None:
    """Raise a ``ConfigError`` unless ``path``'s format can hold ``bit_depth``-bit images
    of ``channels`` channels: 16 bits need TIFF, or PNG for grayscale."""
    if bit_depth not in (8, 16):
        raise ConfigError(f"option 'bit_depth' is {bit_depth}: use 8 or 16")
    fmt = SAVE_FORMATS.get(Path(path).suffix.lower().lstrip("."))
    if bit_depth == 16 and not (fmt == "TIFF" or (fmt == "PNG" and channels == 1)):
        raise ConfigError(
            f"{path}: 16-bit output needs TIFF, or PNG for grayscale images "
            "(Pillow writes no 16-bit colour PNG); use --format tiff"
        )


def save_image(arr: np.ndarray, path: Path, quality: int = 95, bit_depth: int = 8) -> None:
    """Write atomically, in the format the file name's extension names; ``bit_depth=16``
    for TIFF (gray or RGB) or grayscale PNG."""
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower().lstrip("."))
    if fmt is None:
        raise DataError(f"{path}: unknown output format; use one of {', '.join(SAVE_FORMATS)}")
    gray = arr.ndim == 2 or arr.shape[2] == 1
    check_bit_depth(path, bit_depth, 1 if gray else 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    if bit_depth == 16:
        u16 = np.clip(np.rint(arr * 65535.0), 0, 65535).astype(np.uint16)
        u16 = u16.reshape(u16.shape[:2]) if gray else u16
        if fmt == "TIFF":
            import tifffile

            tifffile.imwrite(tmp, u16, photometric="minisblack" if gray else "rgb")
        else:
            Image.fromarray(u16).save(tmp, format="PNG")
    else:
        options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
        array_to_pil(arr).save(tmp, format=fmt, **options)
    tmp.replace(path)
