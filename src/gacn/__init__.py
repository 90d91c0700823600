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
from collections.abc import Iterable

import numpy as np

from gacn.fusion.pair import FusionResult, fuse_pair
from gacn.io import InputError, read_image

__all__ = ["fuse", "FusionResult", "InputError", "__version__"]
__version__ = "0.1.0"


def fuse(
    images: Iterable[np.ndarray | str | os.PathLike],
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
) -> FusionResult:
    """Fuse photos of one scene focused at different depths into one sharp image.

    Parameters
    ----------
    images : iterable of ndarray or path
        Two images (arrays or files), same size; gray or RGB; uint8, uint16 or float in 0..1.
    weights : str or PathLike, optional
        safetensors weights; the shipped model by default.
    device : str
        ``'cpu'`` or ``'cuda'``.

    Returns
    -------
    FusionResult
        ``.image`` (dtype and channels of the first input), ``.decision_map`` and
        ``.raw_decision_map`` (float32 0..1, weight of the first image).

    Raises
    ------
    InputError
        Fewer than two images, unreadable files, or sizes that differ.
    """
    arrays = [read_image(x) if isinstance(x, (str, os.PathLike)) else np.asarray(x) for x in images]
    if len(arrays) < 2:
        raise InputError(f"need at least two images to fuse, got {len(arrays)}")
    if len(arrays) > 2:
        raise InputError(f"got {len(arrays)} images: this version fuses exactly two")
    return fuse_pair(arrays[0], arrays[1], weights=weights, device=device)
