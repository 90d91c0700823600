"""Image-feature-based fusion metrics: Q_G (gradient), Q_M (multiscale) and Q_SF (spatial
frequency). Q_P (phase congruency) lives in :mod:`gacn.metrics.phase_congruency`.

All work on the raw gray values (no min-max stretch).
"""

from __future__ import annotations

import numpy as np

from ._common import sobel

__all__ = ["q_g", "q_m", "q_sf"]

_EPS_G = 1e-5


def _grad(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel magnitude and ``atan(gy/gx)`` orientation (gx == 0 replaced by 1e-5)."""
    gx, gy = sobel(img)
    g = np.sqrt(gx * gx + gy * gy)
    gx = np.where(gx == 0, _EPS_G, gx)
    return g, np.arctan(gy / gx)


def _edge_preservation(g_src, a_src, g_f, g_f_ratio, a_f):
    """Per-pixel Q^XF of ``metricXydeas.m``.

    ``g_f`` is the fused magnitude used in the comparison, ``g_f_ratio`` the one used as the
    numerator of ``g_F / g_src``. In the MATLAB code the fused magnitude has its zeros
    replaced by 1e-5 while processing A, and that modified array is then used throughout B.
    """
    bimap = g_src > g_f
    g_src_nz = np.where(g_src == 0, _EPS_G, g_src)
    g_f_nz = np.where(g_f == 0, _EPS_G, g_f)
    # Both magnitudes zero -> 1e-5/1e-5 = 1.
    gaf = np.where(bimap, g_f_ratio / g_src_nz, g_src_nz / g_f_nz)
    aaf = np.abs(np.abs(a_src - a_f) - np.pi / 2) * 2 / np.pi
    qg = 1.0 / (1.0 + np.exp(-10.0 * (gaf - 0.5)))
    qa = 1.0 / (1.0 + np.exp(-20.0 * (aaf - 0.75)))
    return qg * qa, g_src_nz


def q_g(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Gradient-based edge-preservation metric Q_G (Xydeas & Petrović Q^AB/F).

    Sobel gradients (correlation, zero padding), orientation ``atan(gy/gx)``; the per-pixel
    edge preservations Q^AF and Q^BF (sigmoids with k = -10, 0.5 and -20, 0.75) are weighted
    by the source gradient magnitudes (zero replaced by 1e-5) and, as in Liu's
    ``metricXydeas.m``, the result is the **mean over all pixels** of the per-pixel
    normalised value ``(Q^AF w_A + Q^BF w_B) / (w_A + w_B)``.

    References
    ----------
    C. S. Xydeas, V. Petrović, "Objective image fusion performance measure", Electronics
    Letters 36(4), 2000; and Proc. SPIE 4051, 2000.

    Range 0..1; **higher is better**.
    """
    g_f, a_f = _grad(f)
    g_a, a_a = _grad(a)
    g_b, a_b = _grad(b)
    q_af, w_a = _edge_preservation(g_a, a_a, g_f, g_f, a_f)
    g_f_nz = np.where(g_f == 0, _EPS_G, g_f)
    q_bf, w_b = _edge_preservation(g_b, a_b, g_f_nz, g_f_nz, a_f)
    return float(np.mean((q_af * w_a + q_bf * w_b) / (w_a + w_b)))


def _haar(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One level of the orthonormal 2-D Haar transform on 2x2 blocks from the top left.

    Returns the low-pass (block sum / 2) and the three detail bands (block differences / 2).
    A trailing odd row or column is dropped.
    """
    h, w = x.shape
    x = x[: h - h % 2, : w - w % 2]
    p = x[0::2, 0::2]
    q = x[0::2, 1::2]
    r = x[1::2, 0::2]
    s = x[1::2, 1::2]
    low = (p + q + r + s) / 2.0
    hor = (p - q + r - s) / 2.0
    ver = (p + q - r - s) / 2.0
    dia = (p - q - r + s) / 2.0
    return low, (hor, ver, dia)


def q_m(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Multiscale edge-preservation metric Q_M (Wang & Liu), 2-level Haar wavelet.

    Per level l: ``Q_l = sum(EP_A W_A + EP_B W_B) / sum(W_A + W_B)`` with
    ``W = H^2 + V^2 + D^2`` of the source's detail bands and
    ``EP = sum over bands of exp(-|band_src - band_F|)``; ``Q_M = Q_1^(2/3) Q_2^(1/3)``.

    References
    ----------
    P.-W. Wang, B. Liu, "A novel image fusion metric based on multi-scale analysis",
    Proc. ICSP 2008, pp. 965-968.

    Range 0..3; **higher is better** (3 when F equals both sources).
    """
    la, lb, lf = a, b, f
    qs = []
    for _ in range(2):
        la, (ha, va, da) = _haar(la)
        lb, (hb, vb, db) = _haar(lb)
        lf, (hf, vf, df) = _haar(lf)
        w_a = ha * ha + va * va + da * da
        w_b = hb * hb + vb * vb + db * db
        ep_a = np.exp(-np.abs(ha - hf)) + np.exp(-np.abs(va - vf)) + np.exp(-np.abs(da - df))
        ep_b = np.exp(-np.abs(hb - hf)) + np.exp(-np.abs(vb - vf)) + np.exp(-np.abs(db - df))
        qs.append(float(np.sum(ep_a * w_a + ep_b * w_b) / np.sum(w_a + w_b)))
    return qs[0] ** (2.0 / 3.0) * qs[1] ** (1.0 / 3.0)


def _sf_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row, column, main-diagonal and anti-diagonal first differences."""
    row = x[:, 1:] - x[:, :-1]
    col = x[1:, :] - x[:-1, :]
    md = x[1:, 1:] - x[:-1, :-1]
    sd = x[1:, :-1] - x[:-1, 1:]
    return row, col, md, sd


def q_sf(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Spatial-frequency ratio Q_SF = (SF_F - SF_R) / SF_R (Zheng et al.).

    SF uses four directional first differences (row, column, main and anti diagonal); each
    sum of squares is divided by the full pixel count H·W, the diagonal terms are weighted by
    √2/2, and SF = sqrt(sum of the four terms). The reference SF_R takes, per position,
    max(|dA|, |dB|) in place of the difference.

    References
    ----------
    Y. Zheng, E. A. Essock, B. C. Hansen, A. M. Haun, "A new metric based on extended spatial
    frequency and its application to DWT based fusion algorithms", Information Fusion 8(2),
    2007, pp. 177-192 (as modified in Liu's ``metricZheng.m``).

    Range -1..+inf; **closer to 0 is better**.
    """
    n = float(f.size)
    wd = np.sqrt(2.0) / 2.0
    weights = (1.0, 1.0, wd, wd)
    sf_f = 0.0
    sf_r = 0.0
    for w, df, da, db in zip(weights, _sf_terms(f), _sf_terms(a), _sf_terms(b)):
        sf_f += w * float(np.sum(df * df)) / n
        m = np.maximum(np.abs(da), np.abs(db))
        sf_r += w * float(np.sum(m * m)) / n
    sf_f = np.sqrt(sf_f)
    sf_r = np.sqrt(sf_r)
    return float((sf_f - sf_r) / sf_r)
