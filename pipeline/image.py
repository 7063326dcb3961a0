"""Decoding any image file into the 8-bit RGB array the model sees, with its real contrast.

``Image.convert("RGB")`` alone clips 16-bit greyscale to white and drops
transparency onto black; here every mode is mapped on purpose:

* 16/32-bit integer greyscale (``I;16``, ``I``): scaled from 0..65535 to 0..255;
* float greyscale (``F``): 0..1 scaled to 0..255 when it lies in [0, 1], else clipped to 0..255;
* transparency (``RGBA``, ``LA``, ``PA``, palette with a transparent index):
  composited on `BACKGROUND`, ImageNet's mean colour, which normalisation maps to
  about zero, so a transparent region looks like "no signal" to the model;
* everything else (``L``, ``P``, ``CMYK``, ``YCbCr``, ``1``, ...): Pillow's conversion.

Pixels stay in the stored frame: EXIF orientation is not applied (docs/datasets.md).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.errors import DataError

BACKGROUND = (124, 116, 104)  # ImageNet mean RGB x 255
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def to_rgb(im: Image.Image) -> np.ndarray:
    """uint8 ``(H, W, 3)`` of a Pillow image of any mode (see the module docstring)."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        grey = np.asarray(im, dtype=np.float64)
        grey = np.clip(grey / 257.0, 0, 255)
        return np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, axis=2)
    if im.mode == "F":
        grey = np.asarray(im, dtype=np.float64)
        finite = grey[np.isfinite(grey)]
        if finite.size and finite.min() >= 0 and finite.max() <= 1:
            grey = grey * 255.0
        grey = np.clip(np.nan_to_num(grey), 0, 255)
        return np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return np.asarray(Image.alpha_composite(base, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


@contextlib.contextmanager
def open_image(path: str | Path, doing: str = "decode image") -> Iterator[Image.Image]:
    """``Image.open`` whose every failure is a `DataError` naming the file, decompression bombs included
    (Pillow only warns below twice its pixel limit; here the warning is refused too)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                yield im
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(path, f"refusing a decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(path, f"cannot {doing} ({exc})") from None


def encode(image: Image.Image, format: str, **options) -> bytes:
    """`image` as the bytes of a `format` file (PNG, JPEG...): what `pipeline.atomic.write_bytes` takes."""
    buf = io.BytesIO()
    image.save(buf, format=format, **options)
    return buf.getvalue()


def load_image(path: str | Path) -> np.ndarray:
    """The image at `path` as uint8 ``(H, W, 3)``; a `DataError` naming the file if it cannot be decoded."""
    with open_image(path) as im:
        return to_rgb(im)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of an image from its header alone (no full decode).

    Raises `DataError` for unreadable or empty images.
    """
    with open_image(path, "read the image header") as im:
        w, h = im.size
    if w <= 0 or h <= 0:
        raise DataError(path, f"empty image ({w}x{h})")
    return int(h), int(w)


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
