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

#: Rows per strip on big images (the margin around a strip is the refiner's reach).
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
        Rows per piece: big images are refined in horizontal strips (with a margin as wide as
        the refiner's reach, so the decisions are the same), which bounds the memory of the
        temporaries. Each piece is cut to the columns of its band, and pieces without one are
        skipped.
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
    height = decision.shape[-2]
    with torch.inference_mode():
        band = refiner_band(decision)
        out = decision.clone()
        rows = strip if height > strip + 2 * REACH else height
        for y0 in range(0, height, rows):
            y1 = min(y0 + rows, height)
            columns = band[..., y0:y1, :].flatten(0, -2).any(0).nonzero()
            if len(columns) == 0:
                continue
            lo, hi = max(y0 - REACH, 0), min(y1 + REACH, height)
            left, right = max(int(columns[0]) - REACH, 0), min(int(columns[-1]) + 1 + REACH, decision.shape[-1])
            window = (..., slice(lo, hi), slice(left, right))
            piece = model(decision[window], a[window], b[window])[..., y0 - lo : y1 - lo, :]
            core = (..., slice(y0, y1), slice(left, right))
            out[core] = torch.where(band[core], piece, decision[core])
        return out
