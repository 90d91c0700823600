"""Boundary guided filter (BGF): smooths the decision map only along focus boundaries.

A near-binary decision map leaves a staircase wherever the true boundary between the
in-focus regions runs through a pixel. The BGF replaces the map by its guided-filter
output (He et al.) in a band around the boundary and leaves it untouched elsewhere, so
flat decisions stay exactly 0 or 1.

The reference implementation weights the band softly with a slightly discontinuous
function; here the band is a hard mask ``low <= gaussian(D) <= high``, a clean
equivalent that the method allows.

References
----------
.. [1] K. He, J. Sun, X. Tang, "Guided image filtering", IEEE TPAMI 35(6) (2013) 1397-1409.
.. [2] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
   multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

import kornia
import torch

#: Gaussian used to find the boundary band: sigma 8 on a 9x9 kernel, as in the method.
BAND_KERNEL = 9
BAND_SIGMA = 8.0
BAND_LOW = 0.1
BAND_HIGH = 0.8
#: Guided filter radius and regulariser of the method (r = 3 -> 7x7 box, eps = 0.1).
GF_RADIUS = 3
GF_EPS = 0.1
#: Largest piece (pixels) that :func:`boundary_guided_filter` filters at once; bigger maps go in
#: horizontal strips of about this many pixels (its temporaries take about 100 bytes per pixel).
PIECE_PIXELS = 640 * 640


def boundary_band(decision: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the pixels near a focus boundary of ``decision`` (N, 1, H, W)."""
    blurred = kornia.filters.gaussian_blur2d(
        decision, (BAND_KERNEL, BAND_KERNEL), (BAND_SIGMA, BAND_SIGMA), border_type="replicate"
    )
    return (blurred >= BAND_LOW) & (blurred <= BAND_HIGH)


def boundary_guided_filter(
    decision: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    radius: int = GF_RADIUS,
    eps: float = GF_EPS,
    piece_pixels: int = PIECE_PIXELS,
) -> torch.Tensor:
    """Refine a decision map with a guided filter inside its boundary band.

    Parameters
    ----------
    decision : torch.Tensor
        Decision map in 0..1, shape (N, 1, H, W).
    a, b : torch.Tensor
        Gray sources in 0..1, same shape; the guide is the fused gray image
        ``decision * a + (1 - decision) * b``.
    radius, eps : int, float
        Guided filter window radius and regulariser.
    piece_pixels : int
        Maps with more pixels are filtered in horizontal strips of about this many pixels, with
        a margin as wide as the filter's reach: this bounds the memory of its temporaries (a
        2048x1536 map in one piece needs about 300 MB of them) and gives the same map up to
        float rounding.

    Returns
    -------
    torch.Tensor
        The refined map: equal to ``decision`` outside the band.
    """
    height, width = decision.shape[-2:]
    margin = 2 * radius + BAND_KERNEL // 2
    strip = max(piece_pixels // width - 2 * margin, margin)
    if height * width <= piece_pixels or height <= strip + 2 * margin:
        return _filter_in_band(decision, a, b, radius, eps)
    pieces = []
    for y0 in range(0, height, strip):
        y1 = min(y0 + strip, height)
        lo, hi = max(y0 - margin, 0), min(y1 + margin, height)
        rows = (..., slice(lo, hi), slice(None))
        pieces.append(_filter_in_band(decision[rows], a[rows], b[rows], radius, eps)[..., y0 - lo : y1 - lo, :])
    return torch.cat(pieces, -2)


def _filter_in_band(decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    guide = decision * a + (1.0 - decision) * b
    size = 2 * radius + 1
    filtered = kornia.filters.guided_blur(guide, decision, (size, size), eps, border_type="replicate")
    band = boundary_band(decision.detach())
    return torch.where(band, filtered.clamp(0.0, 1.0), decision)
