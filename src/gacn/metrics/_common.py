"""Shared helpers that reproduce the MATLAB conventions of Liu's fusion-metric toolbox.

Everything here works on 2-D ``float64`` arrays. The helpers are private to
:mod:`gacn.metrics`; the public input conversion is :func:`gacn.metrics.to_gray`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

__all__ = [
    "filter2_same",
    "filter2_valid",
    "filter2_valid_ordered",
    "fspecial_gaussian",
    "gauss_same",
    "gauss_valid",
    "gaussian_1d",
    "matlab_round",
    "normalize1",
    "sobel",
]

#: Sobel kernels of the toolbox, applied by *correlation* (``filter2``).
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: half away from zero (``np.round`` rounds half to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def normalize1(x: np.ndarray) -> np.ndarray:
    """Min-max stretch to 0..255 and round, as the toolbox's ``normalize1.m``.

    An image that is all zero is returned unchanged. A constant non-zero image (which makes
    the MATLAB code divide 0 by 0) is mapped to all zeros here.
    """
    x = np.asarray(x, dtype=np.float64)
    hi = x.max()
    lo = x.min()
    if hi == 0 and lo == 0:
        return x.copy()
    if hi == lo:
        return np.zeros_like(x)
    return np.floor((x - lo) / (hi - lo) * 255.0 + 0.5)


@lru_cache(maxsize=16)
def gaussian_1d(n: int, sigma: float) -> np.ndarray:
    """1-D factor of ``fspecial('gaussian', n, sigma)`` (normalised to sum 1).

    ``fspecial``'s 2-D window is the outer product of this vector with itself, because the
    2-D Gaussian separates and its normalisation by the sum factorises.
    """
    half = (n - 1) / 2.0
    x = np.arange(n, dtype=np.float64) - half
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g /= g.sum()
    g.setflags(write=False)
    return g


def filter2_same(kernel: np.ndarray, img: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(kernel, img, 'same')``: correlation with zero padding."""
    return ndimage.correlate(img, kernel, mode="constant", cval=0.0)


def _sep_same(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    # Separable correlation, zero padded, output of the image's size. For an odd-length
    # symmetric kernel, correlate1d's default origin centres it as filter2 does.
    out = ndimage.correlate1d(img, g, axis=0, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, g, axis=1, mode="constant", cval=0.0)


def gauss_same(img: np.ndarray, n: int, sigma: float) -> np.ndarray:
    """``filter2(fspecial('gaussian', n, sigma), img, 'same')`` computed separably."""
    return _sep_same(img, gaussian_1d(n, sigma))


def gauss_valid(img: np.ndarray, n: int, sigma: float) -> np.ndarray:
    """``filter2(fspecial('gaussian', n, sigma), img, 'valid')`` computed separably."""
    g = gaussian_1d(n, sigma)
    h = n // 2
    # 'valid' = the 'same' result without the border where the window leaves the image; the
    # zero padding never enters those interior positions.
    out = ndimage.correlate1d(img, g, axis=0, mode="constant", cval=0.0)[h : img.shape[0] - h]
    out = ndimage.correlate1d(out, g, axis=1, mode="constant", cval=0.0)[:, h : img.shape[1] - h]
    return out


def filter2_valid(kernel: np.ndarray, img: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(kernel, img, 'valid')`` for an odd-sized kernel."""
    kh, kw = kernel.shape
    out = ndimage.correlate(img, kernel, mode="constant", cval=0.0)
    return out[kh // 2 : img.shape[0] - kh // 2, kw // 2 : img.shape[1] - kw // 2]


@lru_cache(maxsize=4)
def fspecial_gaussian(n: int, sigma: float) -> np.ndarray:
    """``fspecial('gaussian', n, sigma)`` renormalised as ``ssim_yang`` does, bit for bit.

    The window is exp(-(x² + y²) / (2σ²)) divided by its sum taken element after element in
    column order (Octave's ``sum(h(:))``), then divided again by ``sum(sum(window))`` (column
    sums, then their sum) as the toolbox's ``ssim_yang`` does. The last bits of the weights
    decide the round-off of E[x²] - E[x]² in flat windows, which Q_C and Q_Y divide by.
    """
    half = (n - 1) / 2.0
    x = np.arange(n, dtype=np.float64) - half
    h = np.exp(-(x[None, :] ** 2 + x[:, None] ** 2) / (2.0 * sigma**2))
    h = h / np.cumsum(h.ravel(order="F"))[-1]  # cumsum adds in order; np.sum adds pairwise
    h = h / np.cumsum(np.cumsum(h, axis=0)[-1])[-1]
    h.setflags(write=False)
    return h


def filter2_valid_ordered(kernel: np.ndarray, img: np.ndarray, block: int = 16) -> np.ndarray:
    """``filter2(kernel, img, 'valid')`` with the reference's order of summation.

    Octave's ``conv2`` (``dconv2i``) accumulates the output one kernel weight at a time: the
    kernel columns from last to first, and in each column the rows from last to first, each
    step adding ``weight * shifted image`` (multiply, then add: no fused multiply-add). The
    result equals :func:`filter2_valid` up to round-off, but reproducing that round-off is what
    makes the unregularised ratios of Q_C and Q_Y match the reference in near-flat windows.
    Bands of ``block`` output rows are done one after the other so that they stay in the CPU
    cache (twice as fast on a 520x520 image; every output value is summed in the same order).
    """
    kh, kw = kernel.shape
    oh, ow = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    out = np.zeros((oh, ow))
    term = np.empty((block, ow))
    order = [(p, q, kernel[p, q]) for q in range(kw - 1, -1, -1) for p in range(kh - 1, -1, -1)]
    for r0 in range(0, oh, block):
        r1 = min(r0 + block, oh)
        band, part = out[r0:r1], term[: r1 - r0]
        for p, q, weight in order:
            np.multiply(img[r0 + p : r1 + p, q : q + ow], weight, out=part)
            band += part
    return out


def sobel(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical Sobel responses, ``filter2(.., 'same')`` (zero padding)."""
    gx = ndimage.correlate(img, SOBEL_X, mode="constant", cval=0.0)
    gy = ndimage.correlate(img, SOBEL_Y, mode="constant", cval=0.0)
    return gx, gy


def freqspace_grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``[u, v] = freqspace([rows, cols], 'meshgrid')``.

    For n samples the frequencies are ``(k - floor(n/2)) * 2/n`` for ``k = 0..n-1``; ``u``
    varies along columns (horizontal), ``v`` along rows.
    """
    fu = (np.arange(cols) - cols // 2) * (2.0 / cols)
    fv = (np.arange(rows) - rows // 2) * (2.0 / rows)
    return fu[None, :], fv[:, None]


def check_same_shape(*arrays: np.ndarray) -> None:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(
            "all images must have the same shape, got " + ", ".join(str(a.shape) for a in arrays)
        )
