"""Boundary refinement: settle the pixels next to a focus boundary with the learned refiner.

The network decides from spatial frequency summed over 11x11 windows, so its focus boundaries
are placed to within a few pixels and small bays and corners are rounded off; on held-out
synthetic pairs most of its wrong pixels lie within 4 px of the true boundary. This step, which is
not part of the published method, re-decides a band of about 12 px on each side of the network's
boundary with :class:`gacn.model.refiner.BoundaryRefiner`, a small network trained on synthetic
pairs to read finer focus cues there (and the glow that a bright defocused object spreads over a
dark background); every other pixel keeps the network's decision. Measured in
``benchmarks/bench_refine.py`` and ``benchmarks/eval_synthetic.py``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from gacn.model.refiner import REACH, BoundaryRefiner, load_refiner, refiner_band

#: Side of the square pieces big images are refined in (the margin around a piece is the
#: refiner's reach): a 1600x1200 pair then peaks about 300 MB lower than with full-width strips.
STRIP = 512


@lru_cache(maxsize=4)
def _shipped_refiner(device: str) -> BoundaryRefiner:
    return load_refiner(None, device)


def refine_boundary(decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor, strip: int = STRIP,
                    refiner: BoundaryRefiner | None = None) -> torch.Tensor:
    """Re-decide the pixels next to the focus boundary of ``decision`` with the boundary refiner.

    Parameters
    ----------
    decision : torch.Tensor
        Decision map in 0..1 (1: take ``a``), shape (N, 1, H, W).
    a, b : torch.Tensor
        Gray sources in 0..1, same shape.
    strip : int
        Side of a piece: big images are refined in square pieces (with a margin as wide as the
        refiner's reach, so the decisions are the same), which bounds the memory of the
        temporaries. Each piece is cut to the bounding box of its band, and pieces without one
        are skipped.
    refiner : BoundaryRefiner, optional
        The refiner to use; the shipped one by default.

    Returns
    -------
    torch.Tensor
        The map with the pixels of the band around its boundary re-decided (probabilities in
        0..1); equal to ``decision`` everywhere else.

    Examples
    --------
    >>> import kornia, torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = 0.5 + 0.15 * torch.randn(1, 1, 48, 48, generator=g)
    >>> blurred = kornia.filters.gaussian_blur2d(x, (13, 13), (2.0, 2.0))
    >>> a = torch.cat([x[..., :24], blurred[..., 24:]], -1)   # sharp left of column 24
    >>> b = torch.cat([blurred[..., :24], x[..., 24:]], -1)
    >>> d = torch.zeros(1, 1, 48, 48); d[..., :, :21] = 1.0  # boundary 3 px left of the truth
    >>> columns_of_a = (refine_boundary(d, a, b)[0, 0, 8:40] > 0.5).sum(1).float()
    >>> bool((columns_of_a.mean() - 24).abs() < 1)
    True
    """
    model = refiner if refiner is not None else _shipped_refiner(str(decision.device))
    height, width = decision.shape[-2:]
    with torch.inference_mode():
        band = refiner_band(decision)
        out = decision.clone()
        step_y = strip if height > strip + 2 * REACH else height
        step_x = strip if width > strip + 2 * REACH else width
        for y0 in range(0, height, step_y):
            for x0 in range(0, width, step_x):
                y1, x1 = min(y0 + step_y, height), min(x0 + step_x, width)
                core_band = band[..., y0:y1, x0:x1].flatten(0, -3).any(0)
                rows, columns = core_band.any(1).nonzero(), core_band.any(0).nonzero()
                if len(rows) == 0:
                    continue
                # the band's bounding box in this piece, and the refiner's reach around it
                top, bottom = y0 + int(rows[0]), y0 + int(rows[-1]) + 1
                left, right = x0 + int(columns[0]), x0 + int(columns[-1]) + 1
                lo, hi = max(top - REACH, 0), min(bottom + REACH, height)
                west, east = max(left - REACH, 0), min(right + REACH, width)
                window = (..., slice(lo, hi), slice(west, east))
                piece = model(decision[window], a[window], b[window])[..., top - lo : bottom - lo, left - west : right - west]
                core = (..., slice(top, bottom), slice(left, right))
                out[core] = torch.where(band[core], piece, decision[core])
        return out
