"""Reading and writing images, their metadata, and the dtype/range conventions of the package.

Conventions (as in scikit-image): uint8 images span 0..255, uint16 images 0..65535, and float
images 0..1. Gray images are 2-D ``(H, W)``, colour images ``(H, W, 3)``; an alpha channel is
dropped on reading. Internally the network works on float32 gray in 0..1 (luma with Rec. 601
weights, as MATLAB's ``rgb2gray``).

Files (the rules are listed in the README's "Files" section):

* Pixels are decoded by tifffile (TIFF, recognised by content, whatever the extension),
  Pillow (PNG, JPEG, GIF, BMP, WebP, ...) and OpenCV (16-bit colour PNG, which Pillow reduces
  to 8 bits). One image per file: multi-page TIFF and animated GIF/PNG/WebP are refused, and
  so are CMYK and Lab images.
* The EXIF orientation is applied on reading, so arrays are upright; outputs are stored
  upright with orientation 1.
* Metadata (EXIF, XMP, ICC profile) is read and written by :mod:`gacn.metadata` with Pillow,
  tifffile and tifftools; the ICC profile is written with the pixels (tifffile, Pillow, or for
  16-bit colour PNG, which OpenCV encodes, hand-written PNG chunks).
* Outputs are written to a hidden temporary file beside them, then renamed; the temporaries
  that a killed run left are removed by the next write of the same output.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gacn.metadata import Metadata, add_to_tiff, exif_byteorder, output_exif, output_xmp, read_metadata

#: Rec. 601 luma weights, as MATLAB's rgb2gray.
LUMA = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103], dtype=np.float32)
#: zlib level of the PNGs written: 1 writes a 3 MP photo about 5x faster than Pillow's default 6,
#: for files about a tenth bigger.
PNG_LEVEL = 1
#: Rows per strip in :func:`to_gray_float`.
GRAY_ROWS = 256

_TIFF = {".tif", ".tiff"}
#: Output formats by file extension.
OUTPUT_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG"}
#: Default JPEG quality of outputs (Pillow's 1..95 scale; 95 is its recommended maximum).
JPEG_QUALITY = 95
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


class InputError(ValueError):
    """A user-facing problem with the inputs (missing file, bad size, bad dtype...)."""


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright according to an EXIF orientation value (1..8).

    The eight values are the flips and quarter turns of TIFF/EXIF, as Pillow's
    ``ImageOps.exif_transpose`` applies them (2: mirror, 3: half turn, 4: vertical mirror,
    5: transpose, 6: quarter turn clockwise, 7: transverse, 8: quarter turn anticlockwise).

    Examples
    --------
    >>> apply_orientation(np.array([[1, 2], [3, 4]]), 6).tolist()
    [[3, 1], [4, 2]]
    """
    turns = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
             8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turns.get(orientation, turns[1])(image))


def _pixel_limit() -> int:
    """Largest pixel count read: Pillow's decompression-bomb limit, for every format."""
    from PIL import Image

    return 2 * int(Image.MAX_IMAGE_PIXELS or 2**62)


def _decode_tiff(path: Path) -> np.ndarray:
    """The pixels of a single-image TIFF (reduced-size previews ignored), palette expanded."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        pages = [p for p in tif.pages if not p.subfiletype & tifffile.FILETYPE.REDUCEDIMAGE]
        if len(pages) != 1:
            raise InputError(f"{path}: a TIFF with {len(pages)} full-size pages; gacn reads one image per file "
                             "(give the frames of a stack as separate files)")
        page = pages[0]
        if page.photometric == tifffile.PHOTOMETRIC.SEPARATED:
            raise InputError(f"{path}: CMYK images are not supported; convert it to RGB first")
        if int(np.prod(page.shape)) > _pixel_limit() * 4:
            raise InputError(f"{path}: the header claims {page.imagewidth}x{page.imagelength} pixels, "
                             "over the limit of what gacn reads")
        data = page.asarray()
        if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
            data = np.moveaxis(page.colormap[:, data], 0, -1)  # (3, 2**bits) 16-bit colour table
        elif page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and data.ndim == 3:
            data = np.moveaxis(data, 0, -1)
    return data


def _decode_pillow(path: Path, head: bytes) -> np.ndarray:
    """The pixels of a single-image file Pillow reads (palette expanded, 1-bit as 0/255)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise InputError(f"{path}: an animated or multi-page {im.format} with {frames} frames; gacn "
                                 "reads one image per file (give the frames of a stack as separate files)")
            if im.mode in ("CMYK", "LAB", "HSV"):
                raise InputError(f"{path}: {im.mode} images are not supported; convert it to RGB first")
            # byte 24 of a PNG is the bit depth in its IHDR header
            if im.format == "PNG" and head[24:25] == b"\x10" and im.mode in ("RGB", "RGBA"):
                return _decode_png16(path)
            if im.mode in ("P", "PA", "RGBa", "YCbCr"):
                im = im.convert("RGBA" if im.mode != "YCbCr" else "RGB")
            elif im.mode in ("1", "La"):
                im = im.convert("L" if im.mode == "1" else "LA")
            data = np.asarray(im)
    if im.mode == "I":  # Pillow's 32-bit mode, e.g. for a 16-bit PGM: 16-bit data if it fits
        if data.min() < 0 or data.max() > 65535:
            raise InputError(f"{path}: 32-bit integer pixels outside 0..65535 are not supported; "
                             "save it as 8- or 16-bit or as float in 0..1")
        data = data.astype(np.uint16)
    return data


def _decode_png16(path: Path) -> np.ndarray:
    """16-bit colour PNG through OpenCV (Pillow would reduce it to 8 bits)."""
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise InputError(f"cannot read image {path}: corrupt PNG data")
    return cv2.cvtColor(data, cv2.COLOR_BGRA2RGB if data.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8, uint16 or float, gray (H, W) or RGB (H, W, 3), upright.

    Parameters
    ----------
    path : str or PathLike
        TIFF, PNG, JPEG, or any single-image format Pillow reads. The format is recognised by
        the content, not the extension.

    Returns
    -------
    ndarray
        The pixels turned upright by the EXIF orientation of the file; palette images are
        expanded to RGB, alpha is dropped, 1-bit images become 0/255.

    Raises
    ------
    InputError
        If the file is missing or cannot be decoded, holds several images (multi-page TIFF,
        animated GIF), is CMYK or Lab, or breaks a value rule of :func:`normalize_layout`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
        if not head:
            raise InputError(f"cannot read image {path}: the file is empty")
        image = _decode_tiff(path) if head[:4] in _TIFF_MAGIC else _decode_pillow(path, head)
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"cannot read image {path}: not enough memory for its size") from None
    except Exception as exc:  # decoders raise many kinds of errors for undecodable files
        raise InputError(f"cannot read image {path}: {exc.__class__.__name__}") from None
    image = normalize_layout(np.asarray(image), str(path))
    return apply_orientation(image, read_metadata(path).orientation)


def normalize_layout(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return a (H, W) or (H, W, 3) array with a supported dtype and values.

    Drops alpha ((H, W, 4) -> RGB, (H, W, 2) -> gray) and squeezes (H, W, 1). bool becomes
    0/255 uint8. Float images must be finite and within 0..1; integer types other than uint8
    and uint16 are refused (their range is ambiguous).

    Raises
    ------
    InputError
        Unsupported shape or dtype, an empty image, NaN or infinite pixels, floats outside 0..1.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim == 3 and image.shape[2] == 2:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise InputError(f"{name}: unsupported image shape {image.shape}")
    if image.size == 0:
        raise InputError(f"{name}: the image is empty ({image.shape[1]}x{image.shape[0]} pixels)")
    if not image.dtype.isnative:  # e.g. big-endian 16-bit data
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        lo, hi = float(np.min(image)), float(np.max(image))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError(f"{name}: the image has NaN or infinite pixels")
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"{name}: float pixels must lie in 0..1, found {lo:.4g}..{hi:.4g} "
                             "(scale the image, or save it as 8- or 16-bit)")
    elif image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{name}: unsupported dtype {image.dtype} (use uint8, uint16 or float in 0..1)")
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
    if image.ndim == 2:
        return np.ascontiguousarray(to_float(image), dtype=np.float32)
    out = np.empty(image.shape[:2], np.float32)
    for y0 in range(0, image.shape[0], GRAY_ROWS):  # in strips: no full-size float RGB copy
        out[y0:y0 + GRAY_ROWS] = to_float(image[y0:y0 + GRAY_ROWS]) @ LUMA
    return out


def output_format(path: str | os.PathLike) -> str:
    """The format an output path is written in, from its extension.

    Raises
    ------
    InputError
        For any extension other than .png, .tif/.tiff and .jpg/.jpeg.

    Examples
    --------
    >>> output_format("fused.TIF")
    'TIFF'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(f"cannot write {path}: unknown output format {suffix or '(no extension)'!r}; "
                         "use .png, .tif/.tiff or .jpg/.jpeg")
    return OUTPUT_FORMATS[suffix]


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


def check_image_output(path: str | os.PathLike, inputs: list[Path] | None = None) -> Path:
    """:func:`check_writable` plus a known image format (:func:`output_format`)."""
    output_format(path)
    return check_writable(path, inputs)


def check_jpeg_quality(quality: int) -> None:
    """Raise InputError unless ``quality`` is a JPEG quality Pillow accepts well (1..95)."""
    if not 1 <= quality <= 95:
        raise InputError(f"JPEG quality must be 1..95, got {quality}")


def check_inputs_exist(args: list[Path]) -> None:
    """Fail fast on inputs that are neither files, folders nor glob patterns.

    Raises
    ------
    InputError
        For the first argument that does not exist and has no ``*``, ``?`` or ``[``.
    """
    for arg in args:
        if not arg.exists() and not any(c in str(arg) for c in "*?["):
            raise InputError(f"input file not found: {arg}")


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


def _encodable(image: np.ndarray, fmt: str) -> np.ndarray:
    """The array written for ``fmt``: floats as 16-bit (TIFF) or 8-bit, 16-bit as 8-bit in JPEG."""
    if np.issubdtype(image.dtype, np.floating):
        image = from_float(np.clip(np.nan_to_num(image), 0.0, 1.0), np.uint16 if fmt == "TIFF" else np.uint8)
    if image.dtype == np.uint16 and fmt == "JPEG":
        image = np.rint(image / 257.0).astype(np.uint8)  # JPEG has 8 bits: 65535 -> 255, rounded
    return image


def software() -> str:
    """The software tag of outputs: ``gacn VERSION``."""
    from gacn import __version__

    return f"gacn {__version__}"


def _write_pixels(tmp: Path, image: np.ndarray, fmt: str, jpeg_quality: int, icc: bytes | None = None,
                  exif: bytes | None = None, xmp: bytes | None = None) -> None:
    """Encode ``image`` into ``tmp`` with the given ICC profile, TIFF-structured EXIF and XMP packet.

    A TIFF with EXIF is written twice: tifffile encodes the pixels into a second temporary
    file, in the byte order of the EXIF, and tifftools writes it again with the EXIF sub-IFDs
    (tifffile cannot write those).
    """
    if fmt == "TIFF":
        import tifffile

        pixels = tmp.with_name(f"{tmp.name}-pixels") if exif else tmp
        try:
            tifffile.imwrite(pixels, image, photometric="rgb" if image.ndim == 3 else "minisblack", iccprofile=icc,
                             software=False, byteorder=exif_byteorder(exif))
            if exif:
                add_to_tiff(pixels, tmp, exif, xmp)
        finally:
            if pixels != tmp:
                pixels.unlink(missing_ok=True)
    elif fmt == "PNG" and image.dtype == np.uint16 and image.ndim == 3:
        import cv2

        ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),  # Pillow has no 16-bit RGB
                                   [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
        if not ok:
            raise OSError("OpenCV could not encode the PNG")
        with open(tmp, "wb") as fh:
            _png_with_chunks(fh, encoded.tobytes(), icc, exif, xmp)
    else:
        from PIL import Image, PngImagePlugin

        options: dict = {"icc_profile": icc, "exif": b"Exif\0\0" + exif if exif else b""}
        if fmt == "JPEG":
            # Full-resolution colour (4:4:4) at high qualities, as photo editors do: fused detail is the point.
            options |= {"quality": jpeg_quality, "subsampling": "4:4:4" if jpeg_quality >= 90 else "4:2:0",
                        "xmp": xmp or b""}
        else:
            options["compress_level"] = PNG_LEVEL
            if xmp:
                options["pnginfo"] = PngImagePlugin.PngInfo()
                options["pnginfo"].add_itxt("XML:com.adobe.xmp", xmp.decode())
        Image.fromarray(image).save(tmp, format=fmt, **options)


def _png_with_chunks(fh: BinaryIO, png: bytes, icc: bytes | None, exif: bytes | None, xmp: bytes | None) -> None:
    """Write ``png`` with the chunks of an ICC profile (``iCCP``), EXIF (``eXIf``) and XMP (``iTXt``)
    right after its header, as Pillow writes them (OpenCV cannot; the profile chunk is named,
    as libpng requires)."""
    from PIL import PngImagePlugin

    header = 8 + 8 + 13 + 4  # signature, then IHDR: length and type, 13 data bytes, CRC
    fh.write(png[:header])
    if icc:
        PngImagePlugin.putchunk(fh, b"iCCP", b"ICC Profile\0\0", zlib.compress(icc))
    if exif:
        PngImagePlugin.putchunk(fh, b"eXIf", exif)
    if xmp:  # keyword, no compression, empty language tag and translated keyword, then the text
        PngImagePlugin.putchunk(fh, b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp)
    fh.write(png[header:])


def _remove_leftovers(path: Path) -> None:
    """Delete the temporary files ``.NAME.part<pid>...`` beside ``path`` that runs killed while
    writing it left, those of processes that no longer run (a live process may be writing it).

    Only on POSIX, where ``os.kill(pid, 0)`` tells whether a process runs (on Windows it would
    end it).
    """
    if os.name != "posix":
        return
    pattern = re.compile(rf"\.{re.escape(path.name)}\.part(\d+)(-pixels)?")
    with contextlib.suppress(OSError):  # a leftover that cannot be removed stays; the write may still work
        with os.scandir(path.parent) as entries:
            stale = [Path(e.path) for e in entries if (m := pattern.fullmatch(e.name)) and not _running(int(m[1]))]
        for leftover in stale:
            leftover.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (this one counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_image(path: str | os.PathLike, image: np.ndarray, metadata: Metadata | None = None, *,
                frames: int | None = None, jpeg_quality: int = JPEG_QUALITY) -> None:
    """Write an image atomically (temporary file, then rename), keeping its dtype.

    The format follows the extension (:func:`output_format`). uint16 is kept as 16-bit PNG or
    TIFF and rounded to 8 bits in JPEG (x / 257); float images are written as 16-bit TIFF and
    8-bit PNG/JPEG.

    Parameters
    ----------
    path : str or PathLike
        .png, .tif/.tiff or .jpg/.jpeg.
    image : ndarray
        Gray or RGB, uint8, uint16 or float in 0..1.
    metadata : Metadata, optional
        Carry this frame's EXIF (without orientation and thumbnail), XMP and ICC profile, and
        add the software tag. None writes the pixels only.
    frames : int, optional
        With ``metadata``: the number of frames fused, written as XMP ``gacn:FrameCount``.
    jpeg_quality : int
        JPEG quality, 1..95 (Pillow's scale).

    Raises
    ------
    InputError
        If the extension is unknown, the quality out of range, or the file cannot be written.
    """
    path = Path(path)
    fmt = output_format(path)
    check_jpeg_quality(jpeg_quality)
    image = _encodable(image, fmt)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    _remove_leftovers(path)
    try:
        if metadata is None:
            _write_pixels(tmp, image, fmt, jpeg_quality)
        else:
            exif = output_exif(metadata.exif, image.shape[1], image.shape[0], software())
            _write_pixels(tmp, image, fmt, jpeg_quality, metadata.icc, exif, output_xmp(metadata.xmp, frames))
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write output {path}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
