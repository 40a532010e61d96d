"""Image loading and preparation shared by inference, evaluation, training and the Space.

Every face goes through :func:`prepare_image`, so the model sees the same pixels at training and test time:
RGB (FERPlus is grayscale, PNGs may carry alpha, JPEGs may be CMYK), resized to ``size``×``size`` (224 by
default, as UniFER-7B was trained).
"""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_IMAGE_SIZE = 224
# Qwen2.5-VL sees 14-px patches merged 2×2: anything smaller than 28 px on a side has no visual token.
MIN_SIDE = 28
# Refuse decompression bombs with a clear message instead of PIL's warning or an OOM.
MAX_PIXELS = 64_000_000


class ImageInputError(ValueError):
    """An input that is not a usable image; the message names the item and what to do."""


def load_image(source: Any, *, name: str = "image") -> Image.Image:
    """Open a PIL image from a PIL image, a path, raw bytes, a numpy array, or a ``{"bytes"|"path": …}`` dict
    (the form ``datasets.Image(decode=False)`` gives). Raises :class:`ImageInputError` naming ``name``."""
    try:
        image = _open(source)
        if image.width * image.height > MAX_PIXELS:
            raise ImageInputError(
                f"{name}: {image.width}×{image.height} is larger than {MAX_PIXELS:,} pixels; downscale it first."
            )
        image.load()
    except ImageInputError:
        raise
    except FileNotFoundError as err:
        raise ImageInputError(f"{name}: file not found: {err.filename}") from None
    except Image.DecompressionBombError:
        raise ImageInputError(f"{name}: larger than {MAX_PIXELS:,} pixels; downscale it first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(
            f"{name}: not a readable image ({type(err).__name__}: {err}). "
            "Give a PNG/JPEG/WebP file, bytes, a PIL image or an HxW(xC) uint8 array."
        ) from None
    return image


def _open(source: Any) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, PathLike)):
        return Image.open(Path(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(source)))
    if isinstance(source, dict) and (source.get("bytes") or source.get("path")):
        return _open(source.get("bytes") or source["path"])
    if hasattr(source, "__array_interface__"):
        import numpy as np

        array = np.asarray(source)
        if array.dtype != np.uint8:
            array = np.clip(array, 0, 255).astype(np.uint8)
        return Image.fromarray(array)
    raise ImageInputError(f"unsupported image type {type(source).__name__}")


#: PIL's 16-bit and 32-bit integer grayscale modes (16-bit PNGs open as one of them).
WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB the right way up (EXIF orientation applied), alpha composited on white (a transparent background must
    not turn black), 16-bit grayscale scaled to 8 bits (PIL's ``convert`` clips it at 255: a white face)."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "RGB":
        return image
    if image.mode in WIDE_GRAY_MODES:
        import numpy as np

        pixels = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def prepare_image(source: Any, size: int | None = DEFAULT_IMAGE_SIZE, *, name: str = "image") -> Image.Image:
    """Load, convert to RGB and resize to ``size``×``size`` (bicubic). With ``size=None`` the aspect ratio is
    kept and only images with a side under 28 px are upscaled; the processor's min/max pixels then apply."""
    image = to_rgb(load_image(source, name=name))
    if size is not None:
        return image if image.size == (size, size) else image.resize((size, size), Image.Resampling.BICUBIC)
    if min(image.size) < MIN_SIDE:
        scale = MIN_SIDE / min(image.size)
        image = image.resize(
            (max(MIN_SIDE, round(image.width * scale)), max(MIN_SIDE, round(image.height * scale))),
            Image.Resampling.BICUBIC,
        )
    return image
