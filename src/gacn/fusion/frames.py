"""Reading the frames of a fusion: files, folders and patterns, RAW files, arrays, and random access."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from gacn.fusion.exposure import (
    CLIP_MARGIN,
    IDENTITY,
    apply_exposure,
    estimate_exposure,
    focus_shares,
    thumbnail,
)
from gacn.fusion.result import check_pair
from gacn.io import InputError, normalize_layout, read_image, to_float

#: File name endings taken as images when a folder is given, and the RAW ones (read with rawpy).
RAW_SUFFIXES = {".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"} | RAW_SUFFIXES

ImageLike = np.ndarray | str | os.PathLike
T = TypeVar("T")


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read one frame: any image :func:`gacn.io.read_image` reads, or a camera RAW file.

    RAW files (``RAW_SUFFIXES``) are demosaiced by rawpy (``pip install gacn[raw]``) with the
    camera white balance into 16-bit RGB.

    Raises
    ------
    InputError
        Missing or unreadable file, or a RAW file without rawpy installed.
    """
    path = Path(path)
    if path.suffix.lower() not in RAW_SUFFIXES:
        return read_image(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        import rawpy
    except ImportError:
        raise InputError(f"reading RAW file {path} needs rawpy: pip install 'gacn[raw]'") from None
    try:
        with rawpy.imread(str(path)) as raw:
            return raw.postprocess(output_bps=16, use_camera_wb=True)
    except Exception as exc:  # rawpy raises its own error types for undecodable files
        raise InputError(f"cannot read RAW file {path}: {exc.__class__.__name__}") from None


def expand_inputs(args: Sequence[str | os.PathLike]) -> list[Path]:
    """Turn command-line inputs (files, folders, glob patterns) into a sorted list of files.

    A folder gives its image files (``IMAGE_SUFFIXES``) sorted by name; a pattern with
    ``*``, ``?`` or ``[`` that is not an existing file gives its matches sorted by name.

    Raises
    ------
    InputError
        A folder without images or a pattern that matches nothing.

    Examples
    --------
    >>> expand_inputs(["a.png", "b.png"])
    [PosixPath('a.png'), PosixPath('b.png')]
    """
    import glob

    files: list[Path] = []
    for arg in map(Path, args):
        if arg.is_dir():
            found = sorted(p for p in arg.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"no image files in folder {arg}")
            files += found
        elif not arg.exists() and any(c in str(arg) for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(arg)) if Path(p).is_file())
            if not found:
                raise InputError(f"no files match {arg}")
            files += found
        else:
            files.append(arg)
    return files


class Frames:
    """Random access to the frames of a fusion: arrays kept as given, files read on demand.

    Frames given as arrays by a one-shot iterator are spilled to ``spill_dir`` as ``.npy`` files,
    so every frame can be read twice (decision, then blending) without holding them all.
    Frame 0 stays in memory (:attr:`first`); :meth:`load` checks each frame against it.
    After :meth:`match_exposure`, every frame is loaded matched to one frame's exposure
    (:attr:`reference_index`).
    """

    def __init__(self, images: Iterable[ImageLike], spill_dir: str) -> None:
        if isinstance(images, (str, os.PathLike, np.ndarray)):
            raise InputError("give the images as a list (or iterator) of arrays or paths")
        self.items: list[ImageLike] = []
        one_shot = not isinstance(images, Sequence)
        for k, item in enumerate(images):
            if isinstance(item, (str, os.PathLike)):
                if not Path(item).is_file():
                    raise InputError(f"input file not found: {item}")
                self.items.append(item)
            elif one_shot:
                path = os.path.join(spill_dir, f"frame{k:05d}.npy")
                np.save(path, normalize_layout(np.asarray(item), f"image {k + 1}"))
                self.items.append(path)
            else:
                self.items.append(item)
        if len(self.items) < 2:
            raise InputError(f"need at least two images to fuse, got {len(self.items)}")
        self.first = self.first_raw = self._read(0)
        self.second_raw: np.ndarray | None = None
        self.reference: np.ndarray | None = None
        self.reference_index: int | None = None
        self.exposure: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, k: int) -> np.ndarray:
        item = self.items[k]
        if isinstance(item, (str, os.PathLike)):
            arr = np.load(item) if str(item).endswith(".npy") else read_frame(item)
        else:
            arr = np.asarray(item)
        return normalize_layout(arr, f"image {k + 1}")

    def raw(self, k: int) -> np.ndarray:
        """Frame ``k`` as given, checked against frame 0 (size and gray/colour). The second frame
        of a pair is kept after its first read: a pair uses it three or four times."""
        if k == 0:
            return self.first_raw
        if k == 1 and self.second_raw is not None:
            return self.second_raw
        arr = self._read(k)
        check_pair(self.first, arr)
        if k == 1 and len(self.items) == 2:
            self.second_raw = arr
        return arr

    def load(self, k: int) -> np.ndarray:
        """Frame ``k`` (:meth:`raw`), matched to the reference exposure after :meth:`match_exposure`."""
        return self.first if k == 0 else self.adjust(k, self.raw(k))

    def adjust(self, k: int, arr: np.ndarray) -> np.ndarray:
        """``arr`` (frame ``k`` as given) matched to the reference exposure: ``arr`` itself when
        no reference is set or the correction is the identity."""
        if self.reference is None:
            return arr
        return apply_exposure(arr, self._estimate(k, arr))

    def match_exposure(self, reference: int | None = None) -> None:
        """From now on, load every frame matched to frame ``reference``'s exposure and colour
        balance (:mod:`gacn.fusion.exposure`; each frame's gain per channel is estimated on its
        first load and kept in :attr:`exposure`).

        With ``reference`` None, the reference is the frame that gives most of the detail
        (:meth:`dominant_frame`): the fused image keeps its exposure, and the least detail is
        rescaled (matching every frame to the first rescaled all of a pair whose second frame
        gave 80 % of the pixels, and lowered its Q_M). The frame chosen is
        :attr:`reference_index`; its correction in :meth:`corrections` is the identity.
        """
        if reference is None:
            reference = self.dominant_frame()
        self.reference_index = reference
        self.reference = thumbnail(self.raw(reference))
        self.exposure = {reference: np.tile(IDENTITY, (self.reference.shape[2], 1))}
        self.first = self.adjust(0, self.first_raw)

    def dominant_frame(self) -> int:
        """The frame that gives most of the detail, by :func:`gacn.fusion.exposure.focus_shares` on
        the frames' thumbnails as given (read ahead in two threads: a stack of files is read
        once more for it, a pair not)."""
        with Prefetch(lambda k: thumbnail(self.raw(k)), range(len(self))) as thumbnails:
            return int(np.argmax(focus_shares(thumbnails(k) for k in range(len(self)))))

    def corrections(self) -> list[np.ndarray] | None:
        """Each frame's exposure correction as applied (:func:`gacn.fusion.exposure.apply_exposure`;
        the estimate is already the identity where no correction is warranted): gain 1 and offset
        0 also for a frame that was not loaded matched; None before :meth:`match_exposure`."""
        if self.reference is None:
            return None
        identity = np.tile(IDENTITY, (self.reference.shape[2], 1))
        return [p if p is not None else identity for p in (self.exposure.get(k) for k in range(len(self)))]

    def lost_highlights(self, k: int) -> np.ndarray | None:
        """bool (H, W): where frame ``k`` clipped its highlights and matching darkened them (its
        white became a grey that the scene is not); None when matching did not darken its white.
        There, another frame's pixel is the better one."""
        if self.reference is None:
            return None
        raw = self.raw(k)
        if np.all(self._estimate(k, raw).sum(axis=1) >= 1.0):
            return None
        high = to_float(raw) >= 1.0 - CLIP_MARGIN
        return high.any(axis=2) if high.ndim == 3 else high

    def _estimate(self, k: int, arr: np.ndarray) -> np.ndarray:
        """Frame ``k``'s exposure correction (estimated from ``arr``, its pixels as given, once)."""
        if k not in self.exposure:
            assert self.reference is not None
            self.exposure[k] = estimate_exposure(self.reference, arr, offset=False)
        return self.exposure[k]


class Prefetch(Generic[T]):
    """``fn(k)`` for the keys k in order, computed ahead in worker threads.

    Reading, aligning and measuring a frame is mostly OpenCV and image decoding, which release
    the GIL: with two workers the next frame is prepared while the current one is used. At most
    ``ahead`` results wait, so memory stays bounded. Asking for a key out of order computes it
    directly. Use it as a context manager: leaving it cancels what is still queued.

    Examples
    --------
    >>> with Prefetch(lambda k: k * k, range(4)) as squares:
    ...     [squares(k) for k in range(4)]
    [0, 1, 4, 9]
    """

    def __init__(self, fn: Callable[[int], T], keys: Iterable[int], workers: int = 2, ahead: int = 2) -> None:
        self.fn, self.keys, self.ahead = fn, list(keys), ahead
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.pending: dict[int, Future[T]] = {}
        self.submitted = 0
        self.called = 0

    def __call__(self, k: int) -> T:
        """The result for key ``k`` (keys may repeat; each call takes the next one in order)."""
        if self.called >= len(self.keys) or self.keys[self.called] != k:
            return self.fn(k)
        position = self.called
        self.called += 1
        while self.submitted < min(position + 1 + self.ahead, len(self.keys)):
            self.pending[self.submitted] = self.pool.submit(self.fn, self.keys[self.submitted])
            self.submitted += 1
        return self.pending.pop(position).result()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
