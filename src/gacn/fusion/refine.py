"""Boundary refinement: settle the pixels next to a focus boundary with a finer focus measure.

The network decides from spatial frequency summed over 11x11 windows, so its focus boundaries
are placed to within a few pixels and small bays and corners are rounded off; on held-out
synthetic pairs most of its wrong pixels lie within 4 px of the true boundary. This step, which
is not part of the published method, re-decides the pixels of a narrow band around the network's
boundary, in one of two ways:

* where the two sources agree in local mean brightness (the Gaussian means differ by less
  than ``GLOW_GAP``), by a focus measure over a much smaller window (a 5x5 sum of the
  squared Laplacian), which is usually decisive right at the boundary;
* where they do not, one source carries the light of a defocused object spread over its
  neighbourhood: the glow of a bright foreground over a dark background (or the shadow of a
  dark one). There the right choice on both sides of the edge, as far as the spread reaches,
  is the source in which the occluding edge itself is sharp, and the other source's background
  detail is no evidence; a 15x15 window of the same energy is dominated by that edge and finds
  it.

Either way a pixel is only re-decided where the relative difference of the two energies is
above ``THRESHOLD``, and the re-decided hard map is cleaned of specks by a 5x5 median (noise
in flat parts of the band would otherwise flip single pixels); every other pixel keeps the
network's decision. Measured in
``benchmarks/bench_refine.py``.
"""

from __future__ import annotations

import kornia
import torch

#: Half-width scale of the band around the network's boundary (Gaussian sigma, pixels).
BAND_SIGMA = 3.0
#: Side of the window of the fine focus measure.
WINDOW = 5
#: Gaussian pre-smoothing before the Laplacian (sigma, pixels): keeps sensor noise out of it.
PRESMOOTH = 0.7
#: Minimum relative difference ``|Ea - Eb| / (Ea + Eb)`` of the two energies to re-decide.
THRESHOLD = 0.3
#: Difference of local mean brightness (0..1 scale, sigma 3 px) from which a pixel is in a glow zone.
GLOW_GAP = 0.04
#: Side of the window of the focus measure in glow zones (the edge that casts the glow dominates it).
GLOW_WINDOW = 15
#: Side of the median (on a binary map: a majority vote, computed as a box mean) that removes
#: specks from the re-decided map.
MEDIAN = 5
#: Rows per strip on big images, and the margin around a strip: more than the filters reach
#: (a 9-px Gaussian radius; 2 + 1 + 7 px for pre-smoothing, Laplacian and the glow window,
#: then 2 px of median).
STRIP = 256
MARGIN = 16


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    size = 2 * int(3.0 * sigma + 0.5) + 1
    return kornia.filters.gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="replicate")


def _squared_laplacian(x: torch.Tensor) -> torch.Tensor:
    lap = kornia.filters.laplacian(_blur(x, PRESMOOTH), 3, border_type="replicate", normalized=False)
    return lap * lap


def _contrast(la: torch.Tensor, lb: torch.Tensor, window: int) -> torch.Tensor:
    """``(Ea - Eb) / (Ea + Eb)`` of the squared Laplacians ``la``, ``lb`` summed over ``window`` x ``window``."""
    ea = kornia.filters.box_blur(la, (window, window), border_type="replicate")
    eb = kornia.filters.box_blur(lb, (window, window), border_type="replicate")
    return (ea - eb) / (ea + eb + 1e-6)


def _refine(decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    band = _blur((decision > 0.5).to(a.dtype), BAND_SIGMA)
    band = (band > 0.02) & (band < 0.98)
    la, lb = _squared_laplacian(a), _squared_laplacian(b)
    contrast = _contrast(la, lb, WINDOW)
    glow = band & ((_blur(a, BAND_SIGMA) - _blur(b, BAND_SIGMA)).abs() >= GLOW_GAP)
    if glow.any():
        contrast = torch.where(glow, _contrast(la, lb, GLOW_WINDOW), contrast)
    redo = band & (contrast.abs() > THRESHOLD)
    side = decision > 0.5
    hard = torch.where(redo, contrast > 0, side).to(decision.dtype)
    hard = (kornia.filters.box_blur(hard, (MEDIAN, MEDIAN), border_type="replicate") > 0.5).to(decision.dtype)
    return torch.where(band & (redo | ((hard > 0.5) != side)), hard, decision)


def refine_boundary(decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor, strip: int = STRIP
                    ) -> torch.Tensor:
    """Re-decide the pixels next to the focus boundary of ``decision`` by a finer focus measure.

    Parameters
    ----------
    decision : torch.Tensor
        Decision map in 0..1 (1: take ``a``), shape (N, 1, H, W).
    a, b : torch.Tensor
        Gray sources in 0..1, same shape.
    strip : int
        Rows per piece: big images are refined in horizontal strips (with a margin wider than
        the filters reach, so the result is the same), which bounds the memory of the
        temporaries.

    Returns
    -------
    torch.Tensor
        The map with the re-decided pixels (within the band) set to exactly 0 or 1; equal to
        ``decision`` everywhere else.

    Examples
    --------
    >>> import torch
    >>> i = torch.arange(32)
    >>> x = (0.3 + 0.4 * ((i[:, None] // 2 + i[None, :] // 2) % 2)).expand(1, 1, 32, 32)
    >>> blurred = torch.full_like(x, 0.5)
    >>> d = torch.zeros(1, 1, 32, 32); d[..., :, :13] = 1.0  # boundary 3 px left of the truth
    >>> a = torch.cat([x[..., :16], blurred[..., 16:]], -1)   # sharp on the left half
    >>> b = torch.cat([blurred[..., :16], x[..., 16:]], -1)
    >>> refine_boundary(d, a, b)[0, 0, 16, 13:15].tolist()
    [1.0, 1.0]
    """
    height = decision.shape[-2]
    if height <= strip + 2 * MARGIN:
        return _refine(decision, a, b)
    out = torch.empty_like(decision)
    for y0 in range(0, height, strip):
        y1 = min(y0 + strip, height)
        lo, hi = max(y0 - MARGIN, 0), min(y1 + MARGIN, height)
        piece = _refine(decision[..., lo:hi, :], a[..., lo:hi, :], b[..., lo:hi, :])
        out[..., y0:y1, :] = piece[..., y0 - lo : y1 - lo, :]
    return out
