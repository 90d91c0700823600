"""Human-perception-inspired fusion metrics: Q_CV (Chen–Varshney) and Q_CB (Chen–Blum).

Both min-max stretch each image to 0..255 (rounded) and filter in the frequency domain with
a contrast sensitivity function (CSF) sampled on MATLAB ``freqspace(.., 'meshgrid')`` grids.
The CSFs are even in both frequencies, so the filtered images are real; real FFTs are used.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ._common import freqspace_grid, normalize1, sobel

__all__ = ["q_cb", "q_cv"]

_WORKERS = 2


@lru_cache(maxsize=8)
def _csf_half(rows: int, cols: int, kind: str) -> np.ndarray:
    """CSF on the unshifted FFT layout, restricted to the ``rfft2`` half plane."""
    u, v = freqspace_grid(rows, cols)
    if kind == "mannos":
        u = u * (cols / 8.0)
        v = v * (rows / 8.0)
        r = np.sqrt(u * u + v * v)
        csf = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    elif kind == "dog":
        u = u * (cols / 30.0)
        v = v * (rows / 30.0)
        r = np.sqrt(u * u + v * v)
        csf = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    # fftshift(fft2(x)) .* csf, then ifftshift  ==  fft2(x) .* ifftshift(csf)
    out = np.ascontiguousarray(np.fft.ifftshift(csf)[:, : cols // 2 + 1])
    out.setflags(write=False)
    return out


def _csf_filter(x: np.ndarray, kind: str) -> np.ndarray:
    rows, cols = x.shape
    spec = sfft.rfft2(x, workers=_WORKERS)
    spec *= _csf_half(rows, cols, kind)
    return sfft.irfft2(spec, s=(rows, cols), workers=_WORKERS)


def _block_sum(x: np.ndarray, size: int = 16) -> np.ndarray:
    """Sum over non-overlapping size x size blocks; partial edge blocks are zero padded."""
    h, w = x.shape
    ph = -h % size
    pw = -w % size
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw)))
    hb, wb = x.shape[0] // size, x.shape[1] // size
    return x.reshape(hb, size, wb, size).sum(axis=(1, 3))


def q_cv(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Chen–Varshney human-perception metric Q_CV.

    On the min-max stretched images: block saliency ``λ = Σ g^5`` of the Sobel magnitude over
    16x16 blocks; the differences A-F and B-F are filtered with the Mannos–Sakrison CSF
    ``2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)`` (frequencies scaled by W/8 and H/8); per
    block D = mean of the squared filtered difference;
    ``Q_CV = Σ(λ_A D_A + λ_B D_B) / Σ(λ_A + λ_B)``. Partial edge blocks are zero padded to
    16x16.

    References
    ----------
    H. Chen, P. K. Varshney, "A human perception inspired quality metric for image fusion
    based on regional information", Information Fusion 8(2), 2007, pp. 193-207.

    Range 0..+inf; **lower is better** (0 when F equals both sources).
    """
    a = normalize1(a)
    b = normalize1(b)
    f = normalize1(f)
    ga = np.hypot(*sobel(a))
    gb = np.hypot(*sobel(b))
    lam_a = _block_sum(ga**5)
    lam_b = _block_sum(gb**5)
    da = _csf_filter(a - f, "mannos")
    db = _csf_filter(b - f, "mannos")
    d_a = _block_sum(da * da) / 256.0
    d_b = _block_sum(db * db) / 256.0
    return float(np.sum(lam_a * d_a + lam_b * d_b) / np.sum(lam_a + lam_b))


def _gauss_unnorm(sigma: float) -> tuple[np.ndarray, float]:
    x = np.arange(-15, 16, dtype=np.float64)
    return np.exp(-(x * x) / (2 * sigma * sigma)), 1.0 / (2 * np.pi * sigma * sigma)


def _gauss31_same(img: np.ndarray, sigma: float) -> np.ndarray:
    # 31x31 Gaussian exp(-(x²+y²)/2σ²)/(2πσ²) (not normalised to sum 1), correlation with
    # zero padding, 'same' size; computed separably.
    e, c = _gauss_unnorm(sigma)
    out = ndimage.correlate1d(img, e, axis=0, mode="constant", cval=0.0)
    out = ndimage.correlate1d(out, e, axis=1, mode="constant", cval=0.0)
    return out * c


def _masked_contrast(img: np.ndarray) -> np.ndarray:
    filt = _csf_filter(img, "dog")
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.abs(_gauss31_same(filt, 2.0) / _gauss31_same(filt, 4.0) - 1.0)
        return c**3 / (c**2 + 1e-4)


def q_cb(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Chen–Blum human-perception metric Q_CB.

    On the min-max stretched images filtered with the DoG CSF
    ``exp(-(r/15.3870)²) - 0.7622 exp(-(r/1.3456)²)`` (frequencies scaled by W/30 and
    H/30): local contrast ``C = |(G_2 ⋆ I)/(G_4 ⋆ I) - 1|`` with 31x31 Gaussians (σ = 2, 4,
    normalised by 1/(2πσ²)); masked contrast ``C' = C³/(C² + 1e-4)``; preservation
    ``Q_xF = min(C'_x, C'_F)/max(C'_x, C'_F)``; saliency ``λ_x = C'_x²/(C'_A² + C'_B²)``;
    ``Q_CB = mean(λ_A Q_AF + λ_B Q_BF)``.

    References
    ----------
    Y. Chen, R. S. Blum, "A new automated quality assessment algorithm for image fusion",
    Image and Vision Computing 27(10), 2009, pp. 1421-1432.

    Range 0..1; **higher is better** (1 when F equals both sources).
    """
    c1 = _masked_contrast(normalize1(a))
    c2 = _masked_contrast(normalize1(b))
    cf = _masked_contrast(normalize1(f))
    with np.errstate(invalid="ignore", divide="ignore"):
        # Same arithmetic form as metricChenBlum.m (mask-weighted sum of both ratios).
        m1 = (c1 < cf).astype(np.float64)
        q1f = (c1 / cf) * m1 + (cf / c1) * (1.0 - m1)
        m2 = (c2 < cf).astype(np.float64)
        q2f = (c2 / cf) * m2 + (cf / c2) * (1.0 - m2)
        den = c1 * c1 + c2 * c2
        q = (c1 * c1 / den) * q1f + (c2 * c2 / den) * q2f
    return float(np.mean(q))
