"""gacn: multi-focus image fusion (focus stacking) with the GACN network.

Give it two photos of one scene focused at different depths; it returns one image sharp
everywhere and the map of where each pixel came from.

Examples
--------
>>> import numpy as np, gacn
>>> a = np.zeros((32, 32), np.uint8); b = np.full((32, 32), 255, np.uint8)
>>> gacn.fuse([a, b]).decision_map.shape
(32, 32)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from gacn.io import InputError
from gacn.lazy import lazy_attributes

if TYPE_CHECKING:
    from gacn.fusion.result import FusionResult

__all__ = ["METHODS", "STRATEGIES", "FusionResult", "InputError", "__version__", "fuse"]
__version__ = "0.1.0"

#: Names taken from the fusion pipeline on first use (PEP 562), so that ``import gacn`` and
#: ``gacn --help`` do not import torch and the model (about 1 s).
_LAZY = {"FusionResult": "gacn.fusion.result", "STRATEGIES": "gacn.fusion.stack", "METHODS": "gacn.fusion.stack"}
#: The defaults of :func:`fuse`: ``gacn.fusion.stack.DEFAULT_METHOD``, ``DEFAULT_STRATEGY`` and
#: ``gacn.fusion.grid.TILE``, spelled out here for the lazy import (a test keeps them equal).
DEFAULT_METHOD = "fast"
DEFAULT_STRATEGY = "running"
TILE = 256


__getattr__ = lazy_attributes(__name__, _LAZY)


def fuse(
    images: Iterable[np.ndarray | str | os.PathLike],
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    method: str = DEFAULT_METHOD,
    strategy: str = DEFAULT_STRATEGY,
    align: bool | None = None,
    crop: bool = True,
    tile: int = TILE,
    progress: Callable[[str, int, int], None] | None = None,
    refine: bool = True,
    match_exposure: bool | None = None,
    fill_flat: bool | None = None,
) -> FusionResult:
    """Fuse photos of one scene focused at different depths into one sharp image.

    Two images give the method's pair fusion; more give a focus stack
    (:func:`gacn.fusion.stack.fuse_stack`), streamed from disk with bounded memory.

    Parameters
    ----------
    images : iterable of ndarray or path
        Two or more images (arrays or files; a list or a one-shot iterator), in focus order,
        same size; gray or RGB; uint8, uint16 or float in 0..1.
    weights : str or PathLike, optional
        safetensors weights; the shipped model by default.
    device : str
        ``'cpu'`` or ``'cuda'``.
    method : {'fast', 'gacn'}
        ``'fast'`` (default): a cheap focus measure decides where it is clear, and the network
        (with the boundary refiner) decides the close calls and the focus boundaries
        (:mod:`gacn.fusion.cascade`). ``'gacn'``: the published network on every pixel (the
        faithful path, :mod:`gacn.fusion.faithful`).
    strategy : {'running', 'calibration', 'serial'}
        With ``method='gacn'``, how N > 2 frames are combined; ``'running'`` (compare each frame
        with the best so far) by default.
    align : bool, optional
        Register the frames to the middle one; default on for three or more images.
    crop : bool
        With alignment, crop to the area every frame covers.
    tile : int
        Tile side for the network on big images (memory grows with its square).
    progress : callable, optional
        ``progress(stage, done, total)`` after each frame.
    refine : bool
        The fast path, two images, and the ``running`` and ``serial`` strategies: re-decide the pixels next
        to each focus boundary with the learned boundary refiner (:func:`gacn.fusion.refine.refine_boundary`;
        not part of the published method).
    match_exposure : bool, optional
        Bring every image to the exposure and colour balance of the first one before deciding
        and blending; the output keeps the first image's exposure (as it keeps its metadata).
        Default: on for ``'fast'``, off for ``'gacn'``.
    fill_flat : bool, optional
        ``'fast'`` only (on by default): where no image has texture, decide from the
        surroundings instead of the noise (no patchwork in flat areas, a smooth depth map).

    Returns
    -------
    FusionResult
        ``.image`` (dtype and channels of the first input); ``.index_map`` (uint16 source
        index per pixel: the frame each pixel was blended from); ``.depth_map`` (the index as a
        height map, regularised where focus does not single out a frame); ``.raw_index_map``
        (the index as measured, before flat areas and specks were regularised);
        ``.confidence``; ``.exposure`` (each frame's exposure correction); ``.decision_map`` and
        ``.raw_decision_map`` (two images: weight of the first image after / before the
        boundary guided filter; more: weight of the chosen frame in the blend, and the raw
        index map scaled to 0..1).

    Raises
    ------
    InputError
        Fewer than two images, unreadable files, sizes that differ, an unknown method or strategy.

    References
    ----------
    .. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
       multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.

    Examples
    --------
    >>> import numpy as np, gacn
    >>> a = np.zeros((32, 32), np.uint8); b = np.full((32, 32), 255, np.uint8)
    >>> gacn.fuse([a, b, a], align=False).index_map.shape
    (32, 32)
    """
    from gacn.fusion.stack import fuse_stack

    return fuse_stack(images, method=method, strategy=strategy, align=align, crop=crop, weights=weights, device=device,
                      tile=tile, progress=progress, refine=refine, match_exposure=match_exposure,
                      fill_flat=fill_flat)
