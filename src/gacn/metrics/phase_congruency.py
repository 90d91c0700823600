"""Phase-congruency-based fusion metric Q_P (Zhao et al.).

Phase congruency follows Kovesi's ``phasecong3`` as modified by Z. Liu (``myphasecong3.m``
in Liu's toolbox): 4 scales, 6 orientations, minimum wavelength 3, scale factor 2.1,
σ_f = 0.55, dθ/σ = 1.2, noise k = 2, cut-off 0.5, g = 10. Liu's version returns the PC map
as total weighted energy over total amplitude (summed over all orientations), and the maximum
and minimum moments of the PC covariance. The noise estimate is done per orientation with
that orientation's filters.

Everything that depends only on the image size (the filter bank and its noise constants) is
cached, so repeated calls on one size only pay for the image FFTs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from ._common import gauss_same

__all__ = ["phasecong", "q_p"]

_WORKERS = 2

NSCALE = 4
NORIENT = 6
MIN_WAVELENGTH = 3.0
MULT = 2.1
SIGMA_ON_F = 0.55
D_THETA_ON_SIGMA = 1.2
K_NOISE = 2.0
CUT_OFF = 0.5
G_SIGMOID = 10.0
_EPSILON = 1e-4


def _lowpassfilter(rows: int, cols: int, cutoff: float, n: int) -> np.ndarray:
    """Kovesi's ``lowpassfilter``: Butterworth of order n, 0 frequency at the corner."""
    x = (np.arange(1, cols + 1) - (cols // 2 + 1)) / cols
    y = (np.arange(1, rows + 1) - (rows // 2 + 1)) / rows
    radius = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
    return np.fft.fftshift(1.0 / (1.0 + (radius / cutoff) ** (2 * n)))


def _reverse_freq(h: np.ndarray) -> np.ndarray:
    """``h(-k)`` on the unshifted FFT layout (index k -> (n - k) mod n on the last two axes)."""
    return np.roll(np.flip(h, axis=(-2, -1)), shift=(1, 1), axis=(-2, -1))


@lru_cache(maxsize=2)
def _filter_bank(rows: int, cols: int):
    """Radial and angular filter components and per-orientation noise constants.

    Returns ``(log_gabor, spread, em_n, sum_an2, sum_aiaj)``: the radial log-Gabor parts
    (NSCALE, rows, cols) and angular parts (NORIENT, rows, cols), whose products are the
    filters (kept factored to bound the cache's memory), and, for each orientation, ``em_n``
    the sum of the squared smallest-scale filter, and ``sum_an2``/``sum_aiaj`` are the sums
    of ``Σ_s f_s²`` and ``Σ_{i<j} f_i f_j`` over the spatial (inverse FFT, rescaled) filters.
    """
    if cols % 2:
        xrange = (np.arange(cols) - (cols - 1) / 2) / (cols - 1)
    else:
        xrange = (np.arange(cols) - cols / 2) / cols
    if rows % 2:
        yrange = (np.arange(rows) - (rows - 1) / 2) / (rows - 1)
    else:
        yrange = (np.arange(rows) - rows / 2) / rows
    x = xrange[None, :]
    y = yrange[:, None]
    radius = np.sqrt(x * x + y * y)
    radius[rows // 2, cols // 2] = 1.0
    theta = np.arctan2(-y, x)
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    sintheta = np.sin(theta)
    costheta = np.cos(theta)

    lp = _lowpassfilter(rows, cols, 0.45, 15)
    log_gabor = np.empty((NSCALE, rows, cols))
    denom = 2.0 * np.log(SIGMA_ON_F) ** 2
    for s in range(NSCALE):
        fo = 1.0 / (MIN_WAVELENGTH * MULT**s)
        lg = np.exp(-(np.log(radius / fo) ** 2) / denom) * lp
        lg[0, 0] = 0.0
        log_gabor[s] = lg

    theta_sigma = np.pi / NORIENT / D_THETA_ON_SIGMA
    spreads = np.empty((NORIENT, rows, cols))
    em_n = np.empty(NORIENT)
    sum_an2 = np.empty(NORIENT)
    sum_aiaj = np.empty(NORIENT)
    for o in range(NORIENT):
        angl = o * np.pi / NORIENT
        ds = sintheta * np.cos(angl) - costheta * np.sin(angl)
        dc = costheta * np.cos(angl) + sintheta * np.sin(angl)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread = np.exp(-(dtheta**2) / (2 * theta_sigma**2))
        spreads[o] = spread
        filt = log_gabor * spread[None]
        em_n[o] = np.sum(filt[0] ** 2)
        # The MATLAB code sums products of real(ifft2(filter)) * sqrt(rows*cols) over the
        # image. real(ifft2(H)) is the inverse transform of the Hermitian part
        # (H(k) + H(-k))/2, so by Parseval these sums equal sums of products of the
        # symmetrised filters in the frequency domain: no inverse FFT is needed.
        sym = 0.5 * (filt + _reverse_freq(filt))
        sum_an2[o] = np.sum(sym * sym)
        acc = 0.0
        for si in range(NSCALE - 1):
            for sj in range(si + 1, NSCALE):
                acc += np.sum(sym[si] * sym[sj])
        sum_aiaj[o] = acc
    log_gabor.setflags(write=False)
    spreads.setflags(write=False)
    return log_gabor, spreads, em_n, sum_an2, sum_aiaj


def phasecong(im: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase congruency of Kovesi's ``phasecong3`` as modified by Liu (``myphasecong3.m``).

    Parameters
    ----------
    im : 2-D float array.

    Returns
    -------
    pc, M, m : the phase-congruency map (total energy / total amplitude over all
        orientations), and the maximum and minimum moments of the PC covariance.
    """
    im = np.asarray(im, dtype=np.float64)
    rows, cols = im.shape
    log_gabor, spreads, em_n, sum_an2, sum_aiaj = _filter_bank(rows, cols)
    imagefft = sfft.fft2(im, workers=_WORKERS)

    total_energy = np.zeros((rows, cols))
    total_sum_an = np.zeros((rows, cols))
    covx2 = np.zeros((rows, cols))
    covy2 = np.zeros((rows, cols))
    covxy = np.zeros((rows, cols))

    for o in range(NORIENT):
        angl = o * np.pi / NORIENT
        filt = log_gabor * spreads[o]
        eo = sfft.ifft2(imagefft * filt, axes=(-2, -1), workers=_WORKERS, overwrite_x=True)
        e = eo.real
        od = eo.imag
        an = np.abs(eo)
        sum_an = an.sum(axis=0)
        sum_e = e.sum(axis=0)
        sum_o = od.sum(axis=0)
        max_an = an.max(axis=0)

        x_energy = np.sqrt(sum_e**2 + sum_o**2) + _EPSILON
        mean_e = sum_e / x_energy
        mean_o = sum_o / x_energy
        # Σ_s [E_s·MeanE + O_s·MeanO - |E_s·MeanO - O_s·MeanE|]; the first two terms are
        # linear in (E_s, O_s), so they sum to sumE·MeanE + sumO·MeanO.
        cross = e * mean_o
        cross -= od * mean_e
        np.abs(cross, out=cross)
        energy = sum_e * mean_e + sum_o * mean_o - cross.sum(axis=0)

        # Noise compensation from the smallest scale (median of the squared amplitude).
        median_e2n = np.median(an[0] ** 2)
        mean_e2n = -median_e2n / np.log(0.5)
        noise_power = mean_e2n / em_n[o]
        est_noise_energy2 = 2 * noise_power * sum_an2[o] + 4 * noise_power * sum_aiaj[o]
        tau = np.sqrt(est_noise_energy2 / 2)
        est_noise_energy = tau * np.sqrt(np.pi / 2)
        est_noise_sigma = np.sqrt((2 - np.pi / 2) * tau**2)
        t = (est_noise_energy + K_NOISE * est_noise_sigma) / 1.7

        energy = np.maximum(energy - t, 0.0)
        width = sum_an / (max_an + _EPSILON) / NSCALE
        weight = 1.0 / (1.0 + np.exp((CUT_OFF - width) * G_SIGMOID))
        w_energy = weight * energy
        total_sum_an += sum_an
        total_energy += w_energy

        with np.errstate(invalid="ignore", divide="ignore"):
            pc_o = w_energy / sum_an
        covx = pc_o * np.cos(angl)
        covy = pc_o * np.sin(angl)
        covx2 += covx * covx
        covy2 += covy * covy
        covxy += covx * covy

    pc = total_energy / (total_sum_an + _EPSILON)
    covx2 /= NORIENT / 2
    covy2 /= NORIENT / 2
    covxy /= NORIENT
    denom = np.sqrt(covxy**2 + (covx2 - covy2) ** 2) + _EPSILON
    big_m = (covy2 + covx2 + denom) / 2
    small_m = (covy2 + covx2 - denom) / 2
    return pc, big_m, small_m


def _corr_term(x1, x2, xmax, xf, mask1, mask2, mask3) -> float:
    """``correlation_coeffcient`` of Liu's ``metricZhao.m``."""
    c = 1e-4
    x1 = mask1 * x1
    x2 = mask2 * x2
    xmax = mask3 * xmax

    def g(v):
        return gauss_same(v, 11, 1.5)

    mu1, mu2, muf, mum = g(x1), g(x2), g(xf), g(xmax)
    s1 = g(x1 * x1) - mu1 * mu1
    s2 = g(x2 * x2) - mu2 * mu2
    sm = g(xmax * xmax) - mum * mum
    sf = g(xf * xf) - muf * muf
    s1f = g(x1 * xf) - mu1 * muf
    s2f = g(x2 * xf) - mu2 * muf
    smf = g(xmax * xf) - mum * muf

    with np.errstate(invalid="ignore", divide="ignore"):
        r1 = np.where(mask1, (s1f + c) / (np.sqrt(np.abs(s1 * sf)) + c), 0.0)
        r2 = np.where(mask2, (s2f + c) / (np.sqrt(np.abs(s2 * sf)) + c), 0.0)
        r3 = np.where(mask3, (smf + c) / (np.sqrt(np.abs(sm * sf)) + c), 0.0)
    # MATLAB max(buffer, [], 3) ignores NaN.
    result = np.fmax(np.fmax(r1, r2), r3)
    return float(np.sum(result) / np.sum(mask3))


def q_p(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Phase-congruency-based fusion metric Q_P (Zhao et al.).

    Phase congruency (PC), maximum moment M and minimum moment m of each image (Kovesi's
    ``phasecong3`` with Liu's modifications, see :func:`phasecong`). The "max" maps take per
    pixel the source with the strictly larger PC (ties go to B). Features are PC > 0.1. For
    each of PC, M and m a correlation term is computed with an 11x11 Gaussian window
    (σ = 1.5, 'same', zero padding, constant 1e-4): per pixel the largest of the three local
    correlation coefficients (A-F, B-F, max-F, each only where its mask holds), summed and
    divided by the number of pixels where the max map is a feature. Q_P is the product of the
    three terms.

    References
    ----------
    J. Zhao, R. Laganière, Z. Liu, "Performance assessment of combinative pixel-level image
    fusion based on an absolute feature measurement", Int. J. Innovative Computing,
    Information and Control 3(6A), 2007, pp. 1433-1447.
    P. Kovesi, "Image features from phase congruency", Videre 1(3), 1999.

    Range 0..1 (nominally); **higher is better**.
    """
    pc1, big1, small1 = phasecong(a)
    pc2, big2, small2 = phasecong(b)
    pcf, bigf, smallf = phasecong(f)
    mask = pc1 > pc2
    pc_max = np.where(mask, pc1, pc2)
    big_max = np.where(mask, big1, big2)
    small_max = np.where(mask, small1, small2)
    thr = 0.1
    m1 = pc1 > thr
    m2 = pc2 > thr
    m3 = pc_max > thr
    r_pc = _corr_term(pc1, pc2, pc_max, pcf, m1, m2, m3)
    r_big = _corr_term(big1, big2, big_max, bigf, m1, m2, m3)
    r_small = _corr_term(small1, small2, small_max, smallf, m1, m2, m3)
    return r_pc * r_big * r_small
