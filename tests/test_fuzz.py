"""A fuzzed corpus of hard inputs, generated at test time, plus property-based tests.

Every case must end in a fused image or one of gacn's one-line errors (:class:`gacn.io.InputError`),
never another exception, and never change the input file. ``pytest -s`` prints the counts.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import gacn
from gacn.io import InputError, normalize_layout, read_image, write_image

DTYPES = [np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Fuse the many tiny images on one thread: on a busy machine two threads spin-wait on each
    other for most of a second per call (0.9 s against 0.013 s measured here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _valid_files(rng: np.random.Generator) -> dict[str, bytes]:
    """Small valid files of each format (bytes), the seeds of the corrupt variants."""
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = {}
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("WEBP", "webp")):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt)
        out[ext] = buf.getvalue()
    buf = io.BytesIO()
    tifffile.imwrite(buf, rgb.astype(np.uint16) * 257, photometric="rgb")
    out["tif"] = buf.getvalue()
    return out


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (with a valid CRC) claims a huge size over a few bytes of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _tiff_with_tag(tag: int, value: int) -> bytes:
    """An 8x8 TIFF with one tag's value overwritten in place (sizes, offsets, bit depth, compression)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.full((8, 8), 7, np.uint8))
    data = bytearray(buf.getvalue())
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        entry = tif.pages[0].tags[tag]
        offset, size = entry.valueoffset, np.dtype(tifffile.TIFF.DATA_FORMATS[entry.dtype]).itemsize
    data[offset:offset + size] = int(value % (1 << (8 * size))).to_bytes(size, "little")
    return bytes(data)


def corpus(root: Path) -> list[Path]:
    """Write the fuzz corpus under ``root`` and return its files."""
    rng = np.random.default_rng(16)
    files: dict[str, bytes] = {}
    for ext, data in _valid_files(rng).items():
        files[f"valid.{ext}"] = data
        files[f"empty.{ext}"] = b""
        for cut in (8, 20, len(data) // 2, len(data) - 1):
            files[f"cut{cut}.{ext}"] = data[:cut]
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0xFF
        files[f"flipped.{ext}"] = bytes(flipped)
        wrong = {"png": "jpg", "jpg": "tif", "tif": "png", "gif": "png", "bmp": "jpg", "webp": "tif"}[ext]
        files[f"really_{ext}.{wrong}"] = data
    files["huge.png"] = _png_claiming(100_000, 100_000)
    files["zero_width.png"] = _png_claiming(0, 8)
    for name, tag, value in (("huge_width", 256, 100_000), ("huge_length", 257, 60_000),
                             ("bad_offset", 273, 2**31), ("bad_bits", 258, 13), ("bad_compression", 259, 9999),
                             ("bad_photometric", 262, 77), ("bad_samples", 277, 9), ("bad_count", 279, 2**31)):
        files[f"{name}.tif"] = _tiff_with_tag(tag, value)
    files["text.png"] = b"this is not an image at all\n" * 4
    for side in range(1, 9):
        for dtype in DTYPES:
            for channels in (1, 2, 3, 4):
                shape = (side, side + 1) if channels == 1 else (side, side + 1, channels)
                if dtype == np.bool_:
                    array = rng.random(shape) > 0.5
                elif np.issubdtype(dtype, np.floating):
                    array = rng.random(shape).astype(dtype)
                else:
                    array = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
                buf = io.BytesIO()
                tifffile.imwrite(buf, array, photometric="rgb" if channels in (3, 4) else "minisblack")
                files[f"s{side}_{np.dtype(dtype).name}_{channels}.tif"] = buf.getvalue()
                if dtype == np.uint8 and channels != 2:
                    buf = io.BytesIO()
                    Image.fromarray(array).save(buf, format="PNG")
                    files[f"s{side}_u8_{channels}.png"] = buf.getvalue()
    paths = []
    for name, data in files.items():
        (root / name).write_bytes(data)
        paths.append(root / name)
    return paths


def test_fuzzed_corpus_never_crashes_and_never_changes_an_input(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    crashes = []
    for path in corpus(tmp_path):
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        counts["tried"] += 1
        try:
            image = read_image(path)
            assert image.ndim in (2, 3) and image.dtype in (np.uint8, np.uint16) or image.dtype.kind == "f"
            fused = gacn.fuse([path, path]).image
            assert fused.shape == image.shape and fused.dtype == image.dtype
            counts["fused"] += 1
        except InputError as exc:
            assert "\n" not in str(exc)
            counts["clean error"] += 1
        except Exception as exc:  # noqa: BLE001 -- anything else is the bug this test looks for
            crashes.append(f"{path.name}: {exc.__class__.__name__}: {exc}")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before, path.name
    print(f"\nfuzz corpus: {counts['tried']} cases tried, {counts['fused']} fused, "
          f"{counts['clean error']} clean errors, {len(crashes)} crashes")
    assert not crashes, "\n".join(crashes)
    assert counts["fused"] >= 30 and counts["clean error"] >= 100  # the corpus exercises both outcomes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(dtype=st.sampled_from([np.dtype(d) for d in (*DTYPES, np.int8, np.float16, np.uint64)]),
                  shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6)))
def test_normalize_layout_gives_a_supported_image_or_a_clean_error(array: np.ndarray) -> None:
    try:
        image = normalize_layout(array)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    assert image.dtype in (np.uint8, np.uint16) or (image.dtype.kind == "f" and 0 <= image.min() <= image.max() <= 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(dtype=st.sampled_from([np.dtype(np.uint8), np.dtype(np.uint16)]),
                  shape=st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
                      lambda hw: st.sampled_from([hw, (*hw, 3)]))),
       st.sampled_from(["png", "tif"]))
def test_png_and_tiff_round_trip_exactly(tmp_path: Path, array: np.ndarray, ext: str) -> None:
    path = tmp_path / f"x.{ext}"
    write_image(path, array)
    assert np.array_equal(read_image(path), array)


@settings(max_examples=25, deadline=None)
@given(st.integers(8, 20), st.integers(8, 20), st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_fuse_keeps_size_dtype_and_channels(h: int, w: int, dtype: type, colour: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if colour else (h, w)
    if np.issubdtype(dtype, np.floating):
        a, b = rng.random(shape).astype(dtype), rng.random(shape).astype(dtype)
    else:
        top = np.iinfo(dtype).max
        a, b = (rng.integers(0, top, shape, endpoint=True).astype(dtype) for _ in range(2))
    fused = gacn.fuse([a, b]).image
    assert fused.shape == shape and fused.dtype == dtype
    lo, hi = np.minimum(a, b).astype(np.float64), np.maximum(a, b).astype(np.float64)
    tol = 1e-6 if np.issubdtype(dtype, np.floating) else 1.0  # a per-pixel blend stays between its sources
    assert np.all(fused >= lo - tol) and np.all(fused <= hi + tol)
