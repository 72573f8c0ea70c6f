"""Turning what ``run.log_image`` is given into encoded image bytes (pillow is imported only here)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP"}


@dataclass
class EncodedImage:
    data: bytes | None  # None when the image is a file to be stored as it is
    path: Path | None
    format: str
    width: int
    height: int


def encode_image(image: Any, format: str = "png", quality: int = 90) -> EncodedImage:
    """Encode a PIL image, numpy array, torch tensor, encoded bytes or file path."""
    fmt = FORMATS.get(str(format).lower())
    if fmt is None:
        raise ValueError(f"image format {format!r} is not supported; use one of {sorted(FORMATS)}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer from 1 to 100, got {quality!r}")
    from PIL import Image

    if isinstance(image, (bytes, bytearray, memoryview)):
        image = bytes(image)
        found, width, height = _probe(io.BytesIO(image), "image bytes are not an encoded image pillow can read "
                                                         "(PNG, JPEG, ...)")
        return EncodedImage(image, None, (found or fmt).lower(), width, height)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file {path} does not exist")
        found, width, height = _probe(path, f"{path} is not an image file pillow can read")
        return EncodedImage(None, path, (found or fmt).lower(), width, height)
    if isinstance(image, Image.Image):
        picture = image
    else:
        picture = Image.fromarray(_to_uint8_hwc(image))
    if fmt == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = _flatten_for_jpeg(picture)
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    picture.save(buffer, format=fmt, **options)
    return EncodedImage(buffer.getvalue(), None, fmt.lower(), *picture.size)


def _probe(source, message: str) -> tuple[str | None, int, int]:
    """(format, width, height) of encoded image data, checked whole: a truncated file is refused now."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as probe:
            found, (width, height) = probe.format, probe.size
            probe.verify()  # chunk checksums and completeness, without decoding the pixels
    except PermissionError:
        raise
    except UnidentifiedImageError:
        raise ValueError(message) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # pillow's errors for damaged data
        raise ValueError(f"{message}: it is damaged or truncated ({exc})") from None
    return found, width, height


def _to_uint8_hwc(image: Any):
    import numpy as np

    if hasattr(image, "detach") and hasattr(image, "cpu"):  # a torch tensor: CHW -> HWC
        array = image.detach().cpu().numpy()
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = np.transpose(array, (1, 2, 0))
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(
            f"log_image takes a PIL image, a numpy array, a torch tensor, encoded bytes or a file path; "
            f"got {type(image).__name__}"
        )
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"image array has shape {array.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("image array contains NaN or infinity")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(f"float image values must be in [0, 1], got [{low:.3g}, {high:.3g}]; "
                             "divide by 255 or pass uint8")
        return (array * 255.0 + 0.5).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ValueError(f"integer image values must be in [0, 255], got [{array.min()}, {array.max()}]")
        return array.astype(np.uint8)
    raise TypeError(f"image array dtype {array.dtype} is not supported; use uint8 or float in [0, 1]")


def _flatten_for_jpeg(picture):
    """JPEG has no alpha: composite transparent images onto white."""
    from PIL import Image

    rgba = picture.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
