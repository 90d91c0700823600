"""Step 3 of the fast path: the network decides only where the cheap measure is not sure.

The cheap focus measure (:mod:`gacn.fusion.measure`) decides most pixels as well as the
network does. It is unreliable in two places: where the two best frames are close (neither
is clearly sharper), and next to a focus boundary, where a defocused object's blur spreads
over its sharp neighbour (a halo) and where the network and the boundary refiner were
trained to do better. Given those pixels, :func:`decide` runs GACN on the tiles that hold them
(its receptive field around each tile, so each computed pixel is the network's own decision there), keeps the cheap choice elsewhere, and settles the focus
boundaries of the combined map with the boundary guided filter and the boundary refiner, as
the faithful path does, on the same tiles (with the filters' reach around them).
"""

from __future__ import annotations

import numpy as np
import torch

from gacn.fusion.grid import Tile, cover
from gacn.fusion.pair import blend_map
from gacn.fusion.tiling import channel_weights, tile_tensor
from gacn.model import GACN
from gacn.model import inference

#: Pixels around a piece that the boundary guided filter and the refiner read (the refiner's
#: reach, 56 px, and the filter's, 10 px): each piece's map is then as on the whole image.
FILTER_REACH = 66
#: When the pieces, with that margin, would cover more than this share of the image, the
#: boundary filters run on the whole image at once.
WHOLE_SHARE = 0.6


def _network_tiles(model: GACN, x: np.ndarray, y: np.ndarray, mask: np.ndarray, raw: np.ndarray,
                   tiles: list[Tile]) -> None:
    """Write the network's raw map P(x sharper) into ``raw`` at the ``mask`` pixels, computing
    it on ``tiles`` (the cover of the mask)."""
    dev = next(model.parameters()).device
    with torch.inference_mode():
        if len(tiles) == 1 and tiles[0].core == tiles[0].padded:  # the whole image: exact channel weights
            whole = inference.raw_decision(model, tile_tensor(x, tiles[0], dev), tile_tensor(y, tiles[0], dev))
            np.copyto(raw, whole[0, 0].float().cpu().numpy(), where=mask)
            return
        wx, wy = channel_weights(model, x), channel_weights(model, y)
        for t in tiles:
            diff = inference.activity_difference(model, tile_tensor(x, t, dev), tile_tensor(y, t, dev), wx, wy)
            net = inference.decide(model, diff)[0, 0][t.inner].float().cpu().numpy()
            np.copyto(raw[t.core], net, where=mask[t.core])


def decide(model: GACN, x: np.ndarray, y: np.ndarray, cheap: np.ndarray, mask: np.ndarray,
           refine: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """The map P(``x`` is sharper than ``y``): the network where ``mask``, ``cheap`` elsewhere.

    Parameters
    ----------
    model : GACN
        The network.
    x, y : ndarray
        float32 gray images in 0..1, shape (H, W): two frames.
    cheap : ndarray
        bool (H, W): the cheap measure's choice (True: ``x``).
    mask : ndarray
        bool (H, W): the pixels the network decides.
    refine : bool
        Settle the focus boundaries with the boundary refiner (after the boundary guided filter).

    Returns
    -------
    decision : ndarray
        float32 (H, W) in 0..1, after the boundary guided filter (and the refiner).
    raw : ndarray
        float32 (H, W): the map before them (the network's raw map on its tiles, the cheap
        choice as 0 or 1 elsewhere).
    share : float
        The area the network computed (tiles with their margins), as a fraction of the image.

    Examples
    --------
    >>> import cv2
    >>> from gacn.fusion.pair import cached_model
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((48, 48)).astype(np.float32)
    >>> soft = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    >>> cheap = np.ones((48, 48), bool); mask = np.zeros((48, 48), bool); mask[:8, :8] = True
    >>> d, raw, share = decide(cached_model(None, "cpu"), sharp, soft, cheap, mask)
    >>> bool(d.min() > 0.5), share > 0
    (True, True)
    """
    raw = cheap.astype(np.float32)
    decision = raw.copy()
    if not mask.any():
        return decision, raw, 0.0
    tiles = cover(mask)
    _network_tiles(model, x, y, mask, raw, tiles)
    share = sum(t.area for t in tiles) / float(mask.size)
    dev = next(model.parameters()).device
    to_t = lambda arr: torch.from_numpy(np.ascontiguousarray(arr))[None, None].to(dev)  # noqa: E731
    h, w = mask.shape
    pieces = [t.core for t in tiles]
    grown = [(slice(max(r.start - FILTER_REACH, 0), min(r.stop + FILTER_REACH, h)),
              slice(max(c.start - FILTER_REACH, 0), min(c.stop + FILTER_REACH, w))) for r, c in pieces]
    if sum((r.stop - r.start) * (c.stop - c.start) for r, c in grown) > WHOLE_SHARE * h * w:
        pieces = grown = [(slice(0, h), slice(0, w))]
    with torch.inference_mode():
        for core, window in zip(pieces, grown):
            d = blend_map(to_t(raw[window]), to_t(x[window]), to_t(y[window]), refine)[0, 0].float().cpu().numpy()
            inner = (slice(core[0].start - window[0].start, core[0].stop - window[0].start),
                     slice(core[1].start - window[1].start, core[1].stop - window[1].start))
            np.copyto(decision[core], d[inner], where=mask[core])  # elsewhere the cheap choice stands
    return decision, raw, share
