"""Two-image fusion: numpy in, numpy out, the network kept inside."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from gacn.fusion.refine import refine_boundary
from gacn.io import InputError, from_float, normalize_layout, to_float, to_gray_float
from gacn.model import GACN, load_model
from gacn.model.guided_filter import boundary_guided_filter
from gacn.model.inference import raw_decision
from gacn.model.refiner import BoundaryRefiner


@dataclass
class FusionResult:
    """The outcome of a fusion.

    Attributes
    ----------
    image : ndarray
        The fused image, with the dtype and channels of the first input.
    decision_map : ndarray
        float32 in 0..1, shape (H, W): the weight of source 1 per pixel, after the boundary
        guided filter and the boundary refinement (the map the image was blended with).
    raw_decision_map : ndarray
        float32 in 0..1, the network's map before the boundary guided filter.
    timings : dict
        Seconds spent per stage.
    index_map : ndarray or None
        uint16 (H, W): the index of the source each pixel comes from (0 = first); for a focus
        stack, a depth map. Set by N-image fusion (:func:`gacn.fusion.stack.fuse_stack`).
    confidence : ndarray or None
        float32 0..1 (H, W): how clearly the chosen source won its comparisons (0 where focus
        did not decide: flat areas decided from their surroundings).
    raw_index_map : ndarray or None
        uint16 (H, W): ``index_map`` as measured, before the flat areas were decided from their
        surroundings and specks removed.

    For more than two sources (see :func:`gacn.fusion.stack.fuse_stack`), ``decision_map`` is
    the weight of the source in ``index_map`` in the blend and ``raw_decision_map`` the index
    map before smoothing, scaled to 0..1.
    """

    image: np.ndarray
    decision_map: np.ndarray
    raw_decision_map: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    index_map: np.ndarray | None = None
    confidence: np.ndarray | None = None
    raw_index_map: np.ndarray | None = None


#: Pairs up to this many pixels are fused in one piece (:func:`fuse_pair`); bigger ones in tiles.
#: At 640x640 the lean path's peak is about 280 MB above the loaded model; a 520x520 Lytro
#: pair peaks at 467 MB for the whole process.
UNTILED_PIXELS = 640 * 640


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


def check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two sources: supported layout and dtype, same height, width and channels."""
    a = normalize_layout(np.asarray(a), "image 1")
    b = normalize_layout(np.asarray(b), "image 2")
    if a.shape[:2] != b.shape[:2]:
        raise InputError(f"image sizes differ: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    if a.ndim != b.ndim:
        raise InputError("one image is gray and the other colour: convert them to the same kind")
    if min(a.shape[:2]) < 8:
        raise InputError(f"images are too small ({a.shape[1]}x{a.shape[0]}); at least 8x8 pixels are needed")
    return a, b


#: Rows per strip in :func:`mix`.
MIX_ROWS = 256


def mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``weight * a + (1 - weight) * b`` per pixel (every channel), in ``a``'s dtype.

    Examples
    --------
    >>> mix(np.zeros((1, 2), np.uint8), np.full((1, 2), 200, np.uint8), np.float32([[1, 0.5]])).tolist()
    [[0, 100]]
    """
    out = np.empty(a.shape, a.dtype)
    for y0 in range(0, a.shape[0], MIX_ROWS):  # in strips: no full-size float temporaries
        rows = slice(y0, y0 + MIX_ROWS)
        fa, fb = to_float(a[rows]), to_float(b[rows])
        w = weight[rows, :, None] if fa.ndim == 3 else weight[rows]
        out[rows] = from_float(w * fa + (1.0 - w) * fb, a.dtype)
    return out


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
