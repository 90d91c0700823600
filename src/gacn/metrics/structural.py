"""Structural-similarity-based fusion metrics: Q_S, Q_W (Piella), Q_C (Cvejić), Q_Y (Yang).

All use SSIM maps computed with a Gaussian window (σ = 1.5) by correlation restricted to the
positions where the whole window fits (MATLAB ``filter2(.., 'valid')``), on the raw gray
values. Local (co)variances are E[xy] - E[x]E[y] and are not clamped.

Q_C and Q_Y divide by sums of such (co)variances without a guard, so in windows that are
flat or nearly flat their values are ratios of round-off. To give the reference's numbers
there too (and NaN exactly where it gives NaN), their 7x7 statistics repeat the reference's
window weights and order of summation bit for bit (:func:`._common.filter2_valid_ordered`).
Q_S and Q_W are guarded and use the faster separable filter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._common import filter2_valid_ordered, fspecial_gaussian, gauss_valid

__all__ = ["q_c", "q_s", "q_w", "q_y", "ssim_stats"]


def ssim_stats(x: np.ndarray, y: np.ndarray, n: int, c1: float, c2: float, exact_order: bool = False):
    """SSIM map and local statistics of Wang's ``ssim_index.m`` ('valid' window).

    With ``exact_order`` the window sums follow the reference's round-off exactly (slower:
    one pass per window weight); see the module docstring.

    Returns ``(ssim_map, sigma_x^2, sigma_y^2, sigma_xy)``.
    """
    sigma = 1.5
    window: Callable[[np.ndarray], np.ndarray]
    if exact_order:
        kernel = fspecial_gaussian(n, sigma)
        window = lambda img: filter2_valid_ordered(kernel, img)  # noqa: E731
    else:
        window = lambda img: gauss_valid(img, n, sigma)  # noqa: E731
    mu_x = window(x)
    mu_y = window(y)
    mu_xx = mu_x * mu_x
    mu_yy = mu_y * mu_y
    mu_xy = mu_x * mu_y
    s_xx = window(x * x) - mu_xx
    s_yy = window(y * y) - mu_yy
    s_xy = window(x * y) - mu_xy
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 in flat windows: NaN, as in the reference
        ssim_map = ((2 * mu_xy + c1) * (2 * s_xy + c2)) / ((mu_xx + mu_yy + c1) * (s_xx + s_yy + c2))
    return ssim_map, s_xx, s_yy, s_xy


_C1_WANG = (0.01 * 255) ** 2
_C2_WANG = (0.03 * 255) ** 2
_C_YANG = 2e-16


def _piella_parts(a, b, f):
    _, s_a, s_b, _ = ssim_stats(a, b, 11, _C1_WANG, _C2_WANG)
    zero = (s_a + s_b) == 0
    s_a = np.where(zero, s_a + 0.5, s_a)
    s_b = np.where(zero, s_b + 0.5, s_b)
    lam = s_a / (s_a + s_b)
    ssim_fa, _, _, _ = ssim_stats(f, a, 11, _C1_WANG, _C2_WANG)
    ssim_fb, _, _, _ = ssim_stats(f, b, 11, _C1_WANG, _C2_WANG)
    q = lam * ssim_fa + (1.0 - lam) * ssim_fb
    return q, s_a, s_b


def q_s(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Piella's fusion quality index Q_S.

    SSIM with an 11x11 Gaussian window (σ = 1.5), K = (0.01, 0.03), L = 255;
    ``λ = σ_A² / (σ_A² + σ_B²)`` (both variances set to 0.5 where their sum is exactly 0);
    ``Q_S = mean(λ SSIM(F,A) + (1-λ) SSIM(F,B))``.

    References
    ----------
    G. Piella, H. Heijmans, "A new quality metric for image fusion", Proc. ICIP 2003.

    Range -1..1 (0..1 in practice); **higher is better** (1 when F = A = B).
    """
    q, _, _ = _piella_parts(a, b, f)
    return float(np.mean(q))


def q_w(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Piella's weighted fusion quality index Q_W (extra metric).

    The Q_S map weighted by ``max(σ_A², σ_B²)`` normalised to sum 1.

    References
    ----------
    G. Piella, H. Heijmans, "A new quality metric for image fusion", Proc. ICIP 2003.

    Range -1..1 (0..1 in practice); **higher is better**.
    """
    q, s_a, s_b = _piella_parts(a, b, f)
    cw = np.maximum(s_a, s_b)
    cw = cw / cw.sum()
    return float(np.sum(cw * q))


def q_c(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Cvejić's metric Q_C.

    SSIM with a 7x7 Gaussian window (σ = 1.5) and C1 = C2 = 2e-16; weight
    ``r = σ_AF / (σ_AF + σ_BF)`` (local covariances, unguarded). The per-pixel value
    ``r SSIM(A,F) + (1-r) SSIM(B,F)`` is replaced by 0 where r < 0 and by 1 where r > 1;
    the result is its mean.

    References
    ----------
    N. Cvejić, A. Łoza, D. Bull, N. Canagarajah, "A similarity metric for assessment of image
    fusion algorithms", Int. J. Signal Processing 2(3), 2005, pp. 178-182.

    Range 0..1; **higher is better**. Unregularised ratio: in windows where σ_AF + σ_BF is
    near 0 the value is decided by round-off, reproduced here as the reference computes it.
    NaN where σ_AF = σ_BF = 0 exactly (F flat, or A and B flat, over a 7x7 window), as in
    the reference.
    """
    ssim_af, _, _, s_af = ssim_stats(a, f, 7, _C_YANG, _C_YANG, exact_order=True)
    ssim_bf, _, _, s_bf = ssim_stats(b, f, 7, _C_YANG, _C_YANG, exact_order=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = s_af / (s_af + s_bf)
        sim = r * ssim_af + (1.0 - r) * ssim_bf
    sim = np.where(r < 0, 0.0, sim)
    sim = np.where(r > 1, 1.0, sim)
    return float(np.mean(sim))


def q_y(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Yang's SSIM-based metric Q_Y.

    SSIM with a 7x7 Gaussian window (σ = 1.5) and C1 = C2 = 2e-16. Where SSIM(A,B) >= 0.75
    the map is ``λ SSIM(A,F) + (1-λ) SSIM(B,F)`` with ``λ = σ_A²/(σ_A² + σ_B²)`` (unguarded),
    elsewhere ``max(SSIM(A,F), SSIM(B,F))``; the result is its mean.

    References
    ----------
    C. Yang, J.-Q. Zhang, X.-R. Wang, X. Liu, "A novel similarity based quality metric for
    image fusion", Information Fusion 9(2), 2008, pp. 156-160.

    Range 0..1 (nominally); **higher is better**. NaN where A and B are both exactly flat over
    a 7x7 window (propagates to the mean, as in the reference); in nearly flat windows the
    value is a ratio of round-off, reproduced here as the reference computes it.
    """
    ssim_ab, s_a, s_b, _ = ssim_stats(a, b, 7, _C_YANG, _C_YANG, exact_order=True)
    ssim_af, _, _, _ = ssim_stats(a, f, 7, _C_YANG, _C_YANG, exact_order=True)
    ssim_bf, _, _, _ = ssim_stats(b, f, 7, _C_YANG, _C_YANG, exact_order=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = s_a / (s_a + s_b)
        q1 = lam * ssim_af + (1.0 - lam) * ssim_bf
        # The MATLAB code adds q1.*bin + max(..).*~bin, so a NaN in q1 reaches the mean even
        # where bin is false; reproduce that with arithmetic rather than np.where.
        bin_map = (ssim_ab >= 0.75).astype(np.float64)
        q = q1 * bin_map + np.fmax(ssim_af, ssim_bf) * (1.0 - bin_map)  # MATLAB max ignores NaN
    return float(np.mean(q))
