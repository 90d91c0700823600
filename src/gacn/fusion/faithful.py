"""The faithful path: the published network decides every pixel of every frame (``method='gacn'``).

Three strategies decide, per pixel, which frame is in focus (:data:`gacn.fusion.stack.STRATEGIES`):

``running`` (default)
    Compares each frame with the *running best composite*: the network's 64-channel activity
    map (spatial frequency of the features) of the frame chosen so far at each pixel. The
    decision path answers "is frame k sharper than the best so far?"; where it says yes, the
    frame takes the pixel and its activity replaces the composite's. One feature extraction
    and one decision per frame (as calibration), but every comparison is against a sharp
    competitor, so frames that are all sharper than a blurred reference cannot tie. Each
    frame's map against the composite gets the boundary guided filter and the boundary refiner
    (against a gray best-so-far image) before it decides which pixels the frame takes. The index
    map then gets a 3x3 median (5x5 without the refiner; removes isolated picks) and the frames
    are blended with Gaussian-softened (sigma 1 px; 1.5 px without the refiner) one-hot weights,
    which hides seams.
``calibration``
    The method's decision calibration: frame 0 is the reference, each frame's features are
    extracted once, M_k = P(frame 0 sharper than frame k) from the decision path, and
    V_0 = M_1, V_1 = 1 - M_1, V_k = M_1 (1 - M_k) / max(M_k, 1e-6); each pixel is copied from
    argmax_k V_k.
``serial``
    The method's baseline: fuse frame 0 with frame 1 (network + boundary guided filter), the
    result with frame 2, and so on; two feature extractions per step.

With two images every strategy is the method's pair fusion. Each strategy is a decision pass
(one feature extraction per frame, on tiles, with the 64-channel activity maps in temporary files)
that returns the index map and confidence; :mod:`gacn.fusion.stack` blends the frames.

References
----------
.. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
   multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gacn.fusion.align import warp_image
from gacn.fusion.frames import Frames
from gacn.fusion.pair import blend_map
from gacn.fusion.tiling import (
    DiskArray,
    activity,
    channel_weights,
    decide_from_activity,
    tile_grid,
    tile_tensor,
    tiled_decision,
)
from gacn.io import from_float, to_float
from gacn.model import GACN

#: Guard of the calibration's division by M_k.
CALIBRATION_EPS = 1e-6

Progress = Callable[[str, int, int], None]


def _pair_map(raw: np.ndarray, ga: np.ndarray, gb: np.ndarray, device: torch.device, refine: bool) -> np.ndarray:
    """The blending map of a pair from its raw map (BGF, and the refiner with ``refine``), in numpy."""
    t = lambda x: torch.from_numpy(x)[None, None].to(device)
    with torch.inference_mode():
        return blend_map(t(raw), t(ga), t(gb), refine)[0, 0].cpu().numpy()



def decide_running(model: GACN, frames: Frames, gray_of: Callable[[int], np.ndarray],
                   matrices: list[np.ndarray], tile: int, dev: torch.device, tmp: str,
                   progress: Progress | None, refine: bool = True) -> dict[str, np.ndarray]:
    """Pass 1 of ``running``: compare each frame with the best-so-far activity composite.

    With ``refine``, each frame's map against the composite also gets the boundary guided
    filter and the boundary refiner, against the gray best-so-far composite; the refined map
    then decides which pixels the frame takes. The activity composite follows the network's
    own decision (it only steers the next comparisons)."""
    n = len(frames)
    h, w = frames.first.shape[:2]
    index = np.zeros((h, w), np.uint16)
    conf = np.ones((h, w), np.float32)
    tiles = tile_grid(h, w, tile=tile)
    decision = np.empty((h, w), np.float32)
    composite = None
    with DiskArray((h, w, 64), tmp) as prev, DiskArray((h, w, 64), tmp) as nxt, torch.inference_mode():
        for k in range(n):
            gray = gray_of(k)
            cse = channel_weights(model, gray)
            if k == 0:
                composite = gray
            for t in tiles:
                sf = activity(model, tile_tensor(gray, t, dev), cse)
                core = (slice(None), slice(None)) + t.inner
                if k == 0:
                    prev.write(t.core, sf[core])
                    continue
                comp = prev.read(t.padded).to(dev)
                d = decide_from_activity(model, sf, comp)[0, 0][t.inner]
                nxt.write(t.core, torch.where(d > 0.5, sf[core], comp[core]))
                decision[t.core] = d.cpu().numpy()
            if k > 0:
                margin = np.abs(2.0 * decision - 1.0)
                if refine:
                    win = _pair_map(decision, gray, composite, dev, refine) > 0.5
                    composite = np.where(win, gray, composite)
                else:
                    win = decision > 0.5
                index[win] = k
                conf = np.where(win, margin, np.minimum(conf, margin))
                prev, nxt = nxt, prev
            if progress:
                progress("decide", k + 1, n)
    return {"index": index, "confidence": conf}


def decide_calibration(model: GACN, frames: Frames, gray_of: Callable[[int], np.ndarray],
                       matrices: list[np.ndarray], tile: int, dev: torch.device, tmp: str,
                       progress: Progress | None) -> dict[str, np.ndarray]:
    """Pass 1 of ``calibration``: decisions against frame 0 on one common scale, argmax."""
    n = len(frames)
    h, w = frames.first.shape[:2]
    tiles = tile_grid(h, w, tile=tile)
    index = np.zeros((h, w), np.uint16)
    m1 = np.empty((h, w), np.float32)
    best = np.empty((h, w), np.float32)
    total = np.empty((h, w), np.float32)
    with DiskArray((h, w, 64), tmp) as ref, torch.inference_mode():
        for k in range(n):
            gray = gray_of(k)
            cse = channel_weights(model, gray)
            for t in tiles:
                sf = activity(model, tile_tensor(gray, t, dev), cse)
                if k == 0:
                    ref.write(t.core, sf[(slice(None), slice(None)) + t.inner])
                    continue
                mk = decide_from_activity(model, ref.read(t.padded).to(dev), sf)[0, 0][t.inner].cpu().numpy()
                if k == 1:
                    m1[t.core] = mk
                    best[t.core] = np.maximum(mk, 1.0 - mk)
                    index[t.core] = (mk < 0.5).astype(np.uint16)
                    total[t.core] = 1.0
                    continue
                v = m1[t.core] * (1.0 - mk) / np.maximum(mk, CALIBRATION_EPS)
                better = v > best[t.core]
                index[t.core][better] = k
                best[t.core] = np.maximum(best[t.core], v)
                total[t.core] += v
            if progress:
                progress("decide", k + 1, n)
    return {"index": index, "confidence": best / total}


def decide_serial(model: GACN, frames: Frames, gray_of: Callable[[int], np.ndarray],
                  matrices: list[np.ndarray], tile: int, dev: torch.device, tmp: str,
                  progress: Progress | None, refine: bool = True) -> dict[str, np.ndarray]:
    """``serial``: fuse the running result with each next frame (network + BGF), one pass."""
    n = len(frames)
    gray = gray_of(0)
    fused = to_float(warp_image(frames.first, matrices[0]))
    h, w = gray.shape
    index = np.zeros((h, w), np.uint16)
    conf = np.ones((h, w), np.float32)
    chosen = np.ones((h, w), np.float32)
    raw = decision = chosen
    if progress:
        progress("decide", 1, n)
    for k in range(1, n):
        gk = gray_of(k)
        raw = tiled_decision(model, gray, gk, channel_weights(model, gray), channel_weights(model, gk), tile)
        decision = _pair_map(raw, gray, gk, dev, refine)
        img = to_float(warp_image(frames.load(k), matrices[k]))
        wd = decision[..., None] if img.ndim == 3 else decision
        fused = wd * fused + (1.0 - wd) * img
        gray = decision * gray + (1.0 - decision) * gk
        take = decision < 0.5
        index[take] = k
        conf = np.where(take, np.abs(2.0 * raw - 1.0), np.minimum(conf, np.abs(2.0 * raw - 1.0)))
        chosen = np.where(take, 1.0 - decision, chosen * decision)
        if progress:
            progress("decide", k + 1, n)
    return {"index": index, "confidence": conf, "image": from_float(fused, frames.first.dtype),
            "chosen": chosen, "raw": raw, "decision": decision}
