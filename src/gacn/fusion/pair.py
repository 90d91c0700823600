"""Two-image fusion: numpy in, numpy out, the network kept inside."""

from __future__ import annotations

import os
import time
from functools import lru_cache

import numpy as np
import torch

from gacn.fusion.refine import refine_boundary
from gacn.fusion.result import UNTILED_PIXELS, FusionResult, check_pair, mix
from gacn.io import to_gray_float
from gacn.model import GACN, load_model
from gacn.model.guided_filter import boundary_guided_filter
from gacn.model.inference import raw_decision
from gacn.model.refiner import BoundaryRefiner

#: The names of :mod:`gacn.fusion.result` stay importable from here, where they were first.
__all__ = ["UNTILED_PIXELS", "FusionResult", "blend_map", "cached_model", "check_pair", "fuse_pair", "mix"]


def blend_map(raw: torch.Tensor, a: torch.Tensor, b: torch.Tensor, refine: bool = True,
              refiner: BoundaryRefiner | None = None) -> torch.Tensor:
    """The map a pair is blended with: the network's ``raw`` map after the boundary guided
    filter and, with ``refine``, the boundary refinement by ``refiner`` (the shipped one by
    default) (all (N, 1, H, W); ``a``, ``b`` gray)."""
    decision = boundary_guided_filter(raw, a, b)
    return refine_boundary(decision, a, b, refiner=refiner) if refine else decision


@lru_cache(maxsize=4)
def cached_model(weights: str | None, device: str) -> GACN:
    """Load a model once per (weights, device) pair."""
    return load_model(weights, device)


def fuse_pair(
    a: np.ndarray,
    b: np.ndarray,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    model: GACN | None = None,
    refine: bool = True,
    refiner: BoundaryRefiner | None = None,
) -> FusionResult:
    """Fuse two photos of one scene focused at different depths.

    The decision is made on the luma of the sources and applied to every colour channel.

    Parameters
    ----------
    a, b : ndarray
        Gray (H, W) or RGB (H, W, 3) images, uint8, uint16 or float in 0..1, same size.
    weights : str or PathLike, optional
        A safetensors weights file; the weights shipped with the package by default.
    device : str
        ``'cpu'`` or ``'cuda'``.
    model : GACN, optional
        An already loaded model (overrides ``weights`` and ``device``).
    refine : bool
        Re-decide the pixels next to the focus boundary with the learned boundary refiner
        (:func:`gacn.fusion.refine.refine_boundary`; not part of the published method).
    refiner : BoundaryRefiner, optional
        The refiner to use (:func:`gacn.model.refiner.load_refiner`); the shipped one by default.

    Returns
    -------
    FusionResult

    References
    ----------
    .. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
       multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (64, 80), dtype=np.uint8); b = a.copy()
    >>> fuse_pair(a, b).image.shape
    (64, 80)
    """
    a, b = check_pair(a, b)
    if model is None:
        model = cached_model(None if weights is None else str(weights), device)
    dev = next(model.parameters()).device
    t0 = time.perf_counter()
    ga = torch.from_numpy(to_gray_float(a))[None, None].to(dev).contiguous(memory_format=torch.channels_last)
    gb = torch.from_numpy(to_gray_float(b))[None, None].to(dev).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        raw_t = raw_decision(model, ga, gb)
        decision = blend_map(raw_t, ga, gb, refine, refiner)[0, 0].float().cpu().numpy()
        raw = raw_t[0, 0].float().cpu().numpy()
    t1 = time.perf_counter()
    image = mix(a, b, decision)
    t2 = time.perf_counter()
    return FusionResult(image=image, decision_map=decision, raw_decision_map=raw,
                        timings={"network": t1 - t0, "blend": t2 - t1})
