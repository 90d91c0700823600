"""Information-theory-based fusion metrics: Q_MI, Q_TE, Q_TE_C and Q_NCIE.

All four first min-max stretch each image on its own to 0..255 and round (MATLAB ``round``),
then use 256x256 joint histograms of the integer gray levels divided by the pixel count.
Entropies are in bits with 0·log 0 = 0.
"""

from __future__ import annotations

import numpy as np

from ._common import normalize1

__all__ = ["joint_histogram", "q_mi", "q_ncie", "q_te", "q_te_c"]

_N = 256


def _levels(x: np.ndarray) -> np.ndarray:
    v = normalize1(x)
    return v.astype(np.intp).ravel()


def joint_histogram(x_levels: np.ndarray, y_levels: np.ndarray) -> np.ndarray:
    """Joint probability ``p[i, j] = P(X = i, Y = j)`` of two integer-level images (0..255)."""
    h = np.bincount(x_levels * _N + y_levels, minlength=_N * _N).astype(np.float64)
    h = h.reshape(_N, _N)
    return h / h.sum()


def _entropy(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def _mi_terms(p: np.ndarray) -> tuple[float, float, float, float]:
    """Return ``(I, H_xy, H_x, H_y)`` in bits for a joint probability table."""
    hx = _entropy(p.sum(axis=1))
    hy = _entropy(p.sum(axis=0))
    hxy = _entropy(p)
    return hx + hy - hxy, hxy, hx, hy


def _tsallis(p: np.ndarray, q: float) -> float:
    """Tsallis mutual information with the toolbox's *crosswise* marginals.

    For ``p[i, j] = P(X=i, Y=j)`` the denominator is ``(p_Y(i) p_X(j))^(q-1)``, as in
    ``tsallis.m``; terms whose marginal product is zero are skipped.
    """
    px = p.sum(axis=1)
    py = p.sum(axis=0)
    buff = np.outer(py, px)  # buff[i, j] = p_Y(i) * p_X(j)
    ok = buff != 0
    s = float((p[ok] ** q / buff[ok] ** (q - 1.0)).sum())
    return (1.0 - s) / (1.0 - q)


def q_mi(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Normalised mutual information Q_MI (Hossny et al.).

    ``Q_MI = 2 [ I(A,F) / (H(A) + H(F)) + I(B,F) / (H(B) + H(F)) ]`` on the min-max
    stretched, rounded images.

    References
    ----------
    M. Hossny, S. Nahavandi, D. Creighton, "Comments on 'Information measure for performance
    of image fusion'", Electronics Letters 44(18), 2008.

    Range 0..2; **higher is better** (2 when F equals both sources).
    """
    la, lb, lf = _levels(a), _levels(b), _levels(f)
    i_af, _, h_a, h_f1 = _mi_terms(joint_histogram(la, lf))
    i_bf, _, h_b, h_f2 = _mi_terms(joint_histogram(lb, lf))
    return 2.0 * (i_af / (h_f1 + h_a) + i_bf / (h_f2 + h_b))


def q_te(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Tsallis-entropy metric Q_TE with Nava's normalisation, q = 0.43137.

    ``Q_TE = (T(A,F) + T(B,F)) / (H(A)^q + H(B)^q + T(A,B))`` with T the Tsallis mutual
    information (crosswise marginals, see ``tsallis.m``) and H the Shannon entropy in bits.

    References
    ----------
    R. Nava, G. Cristóbal, B. Escalante-Ramírez, "Mutual information improves image fusion
    quality assessments", SPIE Newsroom, 2007.

    Range: unbounded positive in practice (about 0.3..1); **higher is better**.
    """
    q = 0.43137
    la, lb, lf = _levels(a), _levels(b), _levels(f)
    t_af = _tsallis(joint_histogram(la, lf), q)
    t_bf = _tsallis(joint_histogram(lb, lf), q)
    p_ab = joint_histogram(la, lb)
    t_ab = _tsallis(p_ab, q)
    _, _, h_x, h_y = _mi_terms(p_ab)
    return (t_af + t_bf) / (h_x**q + h_y**q + t_ab)


def q_te_c(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Cvejić's Tsallis mutual information Q_TE_C, q = 1.85, not normalised (extra metric).

    ``Q_TE_C = T(A,F) + T(B,F)`` (crosswise marginals, see ``tsallis.m``).

    References
    ----------
    N. Cvejić, C. N. Canagarajah, D. R. Bull, "Image fusion metric based on mutual
    information and Tsallis entropy", Electronics Letters 42(11), 2006.

    Range: unbounded positive (about 10..100 on 8-bit images); **higher is better**.
    """
    q = 1.85
    la, lb, lf = _levels(a), _levels(b), _levels(f)
    return _tsallis(joint_histogram(la, lf), q) + _tsallis(joint_histogram(lb, lf), q)


def q_ncie(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Nonlinear correlation information entropy Q_NCIE (Wang et al.).

    ``NCC(X,Y) = H(X) + H(Y) - H(X,Y)`` in base-256 entropies; R is the 3x3 matrix with unit
    diagonal and NCC_AB, NCC_AF, NCC_BF off it; ``Q_NCIE = 1 + sum_k (l_k/3) log_256(l_k/3)``
    over the eigenvalues ``l_k`` of R.

    References
    ----------
    Q. Wang, Y. Shen, J. Jin, "Performance evaluation of image fusion techniques", ch. 19 in
    *Image Fusion: Algorithms and Applications*, T. Stathaki (ed.), Academic Press, 2008.

    Range 0..1; **higher is better** (1 when all three images are identical).
    """
    la, lb, lf = _levels(a), _levels(b), _levels(f)

    def ncc(x: np.ndarray, y: np.ndarray) -> float:
        i, _, _, _ = _mi_terms(joint_histogram(x, y))
        return i / 8.0  # bits -> base 256

    n_ab, n_af, n_bf = ncc(la, lb), ncc(la, lf), ncc(lb, lf)
    r = np.array([[1.0, n_ab, n_af], [n_ab, 1.0, n_bf], [n_af, n_bf, 1.0]])
    lam = np.linalg.eigvalsh(r)
    k = 3.0
    # MATLAB sums r.*log2(r/K)/K literally; an eigenvalue of exactly 0 would give NaN there.
    hr = -float(np.sum(lam * np.log2(lam / k) / k)) / 8.0
    return 1.0 - hr
