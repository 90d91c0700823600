"""Reading and writing images, and the dtype/range conventions of the package.

Conventions (as in scikit-image): uint8 images span 0..255, uint16 images 0..65535, and float
images 0..1. Gray images are 2-D ``(H, W)``, colour images ``(H, W, 3)``; an alpha channel is
dropped on reading. Internally the network works on float32 gray in 0..1 (luma with Rec. 601
weights, as MATLAB's ``rgb2gray``).
"""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tifffile

#: Rec. 601 luma weights, as MATLAB's rgb2gray.
LUMA = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103], dtype=np.float32)

_TIFF = {".tif", ".tiff"}


class InputError(ValueError):
    """A user-facing problem with the inputs (missing file, bad size, bad dtype...)."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8/uint16/float32, gray (H, W) or RGB (H, W, 3).

    Parameters
    ----------
    path : str or PathLike
        PNG, JPEG, TIFF or any format imageio reads.

    Returns
    -------
    ndarray

    Raises
    ------
    InputError
        If the file is missing or cannot be decoded as an image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        image = tifffile.imread(path) if path.suffix.lower() in _TIFF else iio.imread(path)
    except Exception as exc:  # imageio raises many kinds of errors for undecodable files
        raise InputError(f"cannot read image {path}: {exc.__class__.__name__}") from None
    return normalize_layout(np.asarray(image), str(path))


def normalize_layout(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return a (H, W) or (H, W, 3) array with a supported dtype; drop alpha, expand 2-channel gray."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim == 3 and image.shape[2] == 2:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise InputError(f"{name}: unsupported image shape {image.shape}")
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
        raise InputError(f"{name}: unsupported dtype {image.dtype} (use uint8, uint16 or float)")
    return image


def to_float(image: np.ndarray) -> np.ndarray:
    """Convert uint8/uint16/float to float32 in 0..1 (floats are taken as already in 0..1)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32, copy=False)


def from_float(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert a float image in 0..1 back to ``dtype``, rounding and clipping integer types."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.rint(image * 65535.0), 0, 65535).astype(np.uint16)
    return image.astype(dtype, copy=False)


def to_gray_float(image: np.ndarray) -> np.ndarray:
    """Float32 luma in 0..1 of a gray or RGB image of any supported dtype."""
    f = to_float(image)
    if f.ndim == 3:
        f = f @ LUMA
    return np.ascontiguousarray(f, dtype=np.float32)


def check_writable(path: str | os.PathLike, inputs: list[Path] | None = None) -> Path:
    """Check that ``path`` can be written and is not one of ``inputs``.

    Raises
    ------
    InputError
        If the folder does not exist or is not writable, or the path is an input file.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if inputs and any(path.resolve() == Path(p).resolve() for p in inputs):
        raise InputError(f"refusing to overwrite input file {path}")
    if not parent.is_dir():
        raise InputError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write output {path}: permission denied")
    if path.is_dir():
        raise InputError(f"output path is a folder: {path}")
    return path


def output_folder(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` (with parents) if needed and check it can be written.

    Raises
    ------
    InputError
        If the path is a file, the folder cannot be created, or it is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"output path is not a folder: {path}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"cannot write to output folder {path}: permission denied")
    return path


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an image atomically (temporary file, then rename), keeping its dtype.

    uint16 is kept as 16-bit PNG or TIFF; float images are written as 16-bit TIFF data when the
    extension is .tif/.tiff and as 8-bit otherwise.

    Raises
    ------
    InputError
        If the image cannot be encoded in the requested format or the file cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if np.issubdtype(image.dtype, np.floating):
        image = from_float(np.clip(image, 0.0, 1.0), np.uint16 if suffix in _TIFF else np.uint8)
    if image.dtype == np.uint16 and suffix in {".jpg", ".jpeg"}:
        image = (image // 257).astype(np.uint8)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    try:
        if suffix in _TIFF:
            tifffile.imwrite(tmp, image)
        else:
            iio.imwrite(tmp, image, extension=suffix or ".png")
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write output {path}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
