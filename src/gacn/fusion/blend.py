"""Step 4: the fused image from a decision: blending the frames under an index map, and its preview."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from gacn.io import from_float, to_float

Progress = Callable[[str, int, int], None]
#: Rows per strip when a frame is added to the blend.
STRIP_ROWS = 256
#: Most pixels blended at once: bigger images are blended in horizontal bands, each frame read
#: once per band, so that the float accumulators stay about 260 MB (a 24 MP photo in three bands).
BAND_PIXELS = 8_000_000
#: Median filter side and blending sigma of a stack's index map (the fast path, and the faithful
#: path's ``running`` strategy) on the network's decisions,
#: and (smaller: the refiner has already placed the boundaries and removed specks) on refined
#: ones. The refined pair, 3 and 1.0 px, beat 5 and 1.5 px on synthetic stacks (PSNR +0.3 dB on 6
#: frames) and on the Lytro triples (Q_M 2.061 -> 2.100, Q_CV 11.95 -> 11.82, Q_G and Q_CB equal).
MEDIAN_SIZE = 5
BLEND_SIGMA = 1.5
REFINED_MEDIAN_SIZE = 3
REFINED_BLEND_SIGMA = 1.0


def index_preview(index: np.ndarray, n_frames: int) -> np.ndarray:
    """A colourised uint8 RGB view of an index (depth) map: near frames blue, far ones yellow.

    Examples
    --------
    >>> index_preview(np.array([[0, 4]], np.uint16), 5).shape
    (1, 2, 3)
    """
    scaled = np.rint(index.astype(np.float32) * (255.0 / max(n_frames - 1, 1))).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def index_file(index: np.ndarray, n_frames: int) -> np.ndarray:
    """An index (depth) map as it is written to a file: 8-bit up to 256 frames, else 16-bit.

    Examples
    --------
    >>> index_file(np.array([[0, 6]], np.uint16), 7).dtype, index_file(np.array([[0, 300]], np.uint16), 301).dtype
    (dtype('uint8'), dtype('uint16'))
    """
    return index.astype(np.uint8) if n_frames <= 256 else index.astype(np.uint16)


def clean_index(index: np.ndarray, size: int) -> np.ndarray:
    """A ``size`` x ``size`` median of an index map: removes isolated picks.

    Examples
    --------
    >>> int(clean_index(np.array([[0, 0, 0], [0, 3, 0], [0, 0, 0]], np.uint16), 3).max())
    0
    """
    if index.max() < 256:
        return cv2.medianBlur(index.astype(np.uint8), size).astype(np.uint16)
    from scipy.ndimage import median_filter

    return median_filter(index, size=size, mode="nearest")


def bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of a non-empty mask, grown by ``margin`` pixels (clipped to the image).

    Examples
    --------
    >>> m = np.zeros((10, 10), bool); m[4, 5] = True
    >>> bounding_box(m, 2)
    (slice(2, 7, None), slice(3, 8, None))
    """
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = mask.shape
    return (slice(max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, h)),
            slice(max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, w)))


def blend_frames(first: np.ndarray, load: Callable[[int], np.ndarray], index: np.ndarray, sigma: float,
                 progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Build the fused image from an index map: each pixel from its frame.

    With ``sigma`` > 0, each frame's one-hot weight is softened by a Gaussian of that sigma
    (pixels), which hides the seams where the index changes; with 0, a hard copy. Only the
    frames that the index map uses are loaded, one at a time, and each is blended only over
    the bounding box of its pixels (plus the Gaussian's reach); images over
    :data:`BAND_PIXELS` are blended in horizontal bands (:func:`load_order` gives the loads).

    Parameters
    ----------
    first : ndarray
        Frame 0 (its dtype, shape and channels are the output's).
    load : callable
        ``load(k)``: frame ``k`` aligned to the output grid; called in the order of
        :func:`load_order`.
    index : ndarray
        Integer (H, W): the frame of each pixel.
    sigma : float
        Softening of the seams (pixels); 0 for a hard copy.
    progress : callable, optional
        ``progress('blend', done, total)`` after each frame.

    Returns
    -------
    image : ndarray
        Dtype and channels of ``first``.
    chosen : ndarray
        float32 (H, W): the weight of each pixel's own frame in the blend.

    Examples
    --------
    >>> frames = [np.zeros((4, 6), np.uint8), np.full((4, 6), 100, np.uint8)]
    >>> index = np.zeros((4, 6), np.uint16); index[:, 3:] = 1
    >>> blend_frames(frames[0], frames.__getitem__, index, 0.0)[0][0].tolist()
    [0, 0, 0, 100, 100, 100]
    """
    present = np.flatnonzero(np.bincount(index.ravel()))
    if sigma <= 0:
        out = np.empty_like(first)
        for n, k in enumerate(present):
            mask = index == k
            frame = load(int(k))
            out[mask] = (frame if frame.dtype == out.dtype else from_float(to_float(frame), out.dtype))[mask]
            if progress:
                progress("blend", n + 1, len(present))
        return out, np.ones(index.shape, np.float32)
    out = np.empty(first.shape, first.dtype)
    chosen = np.empty(index.shape, np.float32)
    bands = _bands(index, sigma)
    total, done = sum(len(frames) for *_, frames in bands), 0
    for core, window, frames in bands:
        inner = slice(core.start - window.start, core.stop - window.start)
        sub = index[window]
        acc = np.zeros(sub.shape + first.shape[2:], np.float32)
        wsum = np.zeros(sub.shape, np.float32)
        own = np.zeros(sub.shape, np.float32)
        for k in frames:
            mask = sub == k
            box = bounding_box(mask, _reach(sigma))
            w = cv2.GaussianBlur(mask[box].astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
            frame = load(k)[window][box]
            for y0 in range(0, w.shape[0], STRIP_ROWS):  # in strips: no frame-size float temporaries
                rows = slice(y0, y0 + STRIP_ROWS)
                img = to_float(frame[rows])
                acc[box][rows] += w[rows, :, None] * img if img.ndim == 3 else w[rows] * img
            wsum[box] += w
            np.copyto(own[box], w, where=mask[box])
            done += 1
            if progress:
                progress("blend", done, total)
        np.maximum(wsum, 1e-12, out=wsum)
        chosen[core] = own[inner] / wsum[inner]
        for y0 in range(inner.start, inner.stop, STRIP_ROWS):
            rows = slice(y0, min(y0 + STRIP_ROWS, inner.stop))
            weight = wsum[rows, :, None] if acc.ndim == 3 else wsum[rows]
            out[rows.start + window.start:rows.stop + window.start] = from_float(acc[rows] / weight, first.dtype)
    return out, chosen


def _reach(sigma: float) -> int:
    """Rows a Gaussian of ``sigma`` reaches (OpenCV's kernel radius for it)."""
    return int(np.ceil(4.0 * sigma))


def _bands(index: np.ndarray, sigma: float) -> list[tuple[slice, slice, list[int]]]:
    """Horizontal bands of at most :data:`BAND_PIXELS` pixels: (core rows, rows read with the
    Gaussian's reach, the frames used there)."""
    h, w = index.shape
    reach = _reach(sigma)
    step = max(BAND_PIXELS // w, 4 * reach, 1)
    bands = []
    for top in range(0, h, step):
        core = slice(top, min(top + step, h))
        window = slice(max(top - reach, 0), min(core.stop + reach, h))
        bands.append((core, window, np.flatnonzero(np.bincount(index[window].ravel())).tolist()))
    return bands


def load_order(index: np.ndarray, sigma: float) -> list[int]:
    """The frames :func:`blend_frames` loads, in the order it loads them (for prefetching).

    Examples
    --------
    >>> load_order(np.array([[0, 2], [2, 2]], np.uint16), 1.0)
    [0, 2]
    """
    if sigma <= 0:
        return np.flatnonzero(np.bincount(index.ravel())).tolist()
    return [k for *_, frames in _bands(index, sigma) for k in frames]
