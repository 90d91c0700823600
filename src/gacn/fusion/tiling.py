"""Tiled GACN inference: bounded memory on big images, results equal to the untiled network.

The network is fully convolutional except for its channel squeeze-excitation (cSE) layers,
which re-weight channels by their mean over the whole image. Tiling therefore has two parts:

* **Receptive field.** A decision pixel depends on the input within ``RECEPTIVE_RADIUS`` = 29
  pixels (feature blocks 4, spatial-frequency difference and window 1 + 5, decision path
  4 convolutions + 5 sSE 7x7 = 19). Tiles are cut with a ``HALO`` of 32 pixels on every side;
  only their core is kept, so stitched maps equal the untiled ones up to float rounding.
* **cSE channel weights.** They are computed once per image, before tiling
  (:func:`channel_weights`): exactly on the whole image when it has at most
  ``EXACT_CSE_PIXELS`` pixels, otherwise from an even grid of full-resolution crops (the mean
  of each block's output over the crops' interiors, layer by layer). Sampling at full
  resolution keeps the statistics unbiased (a downscaled copy would look sharper and shift
  them); the remaining difference to the whole-image mean is measured in ``docs/stacks.md``.

Stored per-pixel activity maps (the 64-channel spatial frequency of a reference frame, or of
the running composite) live in :class:`DiskArray`, a temporary file read and written with
``pread``/``pwrite``, so they do not count towards the process's memory.

References
----------
.. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
   multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import numpy as np
import torch

from gacn.fusion.grid import HALO, RECEPTIVE_RADIUS, TILE, Tile, tile_grid
from gacn.model import inference
from gacn.model.network import GACN

#: Images up to this many pixels get exact whole-image cSE weights.
EXACT_CSE_PIXELS = 512 * 512
#: Side and count of the crops that estimate cSE weights on bigger images.
CSE_CROP = 96
CSE_GRID = 4


def _crops(gray: np.ndarray) -> np.ndarray:
    """An even ``CSE_GRID`` x ``CSE_GRID`` grid of ``CSE_CROP``-pixel crops, stacked."""
    h, w = gray.shape
    side = min(CSE_CROP, h, w)
    ys = np.linspace(0, h - side, CSE_GRID).round().astype(int)
    xs = np.linspace(0, w - side, CSE_GRID).round().astype(int)
    return np.stack([gray[y:y + side, x:x + side] for y in ys for x in xs])


def channel_weights(model: GACN, gray: np.ndarray) -> list[torch.Tensor]:
    """The cSE channel weights of the feature extractor for one image.

    Parameters
    ----------
    model : GACN
        The network (eval mode).
    gray : ndarray
        float32 gray image in 0..1, shape (H, W).

    Returns
    -------
    list of torch.Tensor
        One (1, 16) tensor per feature block: the multipliers its cSE applies. Exact (as in
        the untiled network) for images of at most ``EXACT_CSE_PIXELS`` pixels, else estimated
        from a grid of full-resolution crops, ignoring a 4-pixel margin of each crop.

    Examples
    --------
    >>> from gacn.fusion.pair import cached_model
    >>> w = channel_weights(cached_model(None, "cpu"), np.zeros((40, 40), np.float32))
    >>> [tuple(x.shape) for x in w]
    [(1, 16), (1, 16), (1, 16), (1, 16)]
    """
    dev = next(model.parameters()).device
    exact = gray.size <= EXACT_CSE_PIXELS
    x = torch.from_numpy(np.ascontiguousarray(gray[None] if exact else _crops(gray)))[:, None].to(dev)
    margin = 0 if exact else 4
    weights: list[torch.Tensor] = []
    outs: list[torch.Tensor] = []
    h = x
    with torch.inference_mode():
        for block in model.features.blocks:
            y = block[0](h)
            inner = y[..., margin:y.shape[2] - margin, margin:y.shape[3] - margin]
            w = inference.cse_gate(block[1], inner.float().mean(dim=(0, 2, 3))[None])
            weights.append(w)
            outs.append(y * w[:, :, None, None])
            h = torch.cat(outs, dim=1)
    return weights


def extract_features(model: GACN, x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """The 64-channel features of ``x`` (1, 1, h, w) with given cSE channel weights."""
    return inference.features(model, x, weights)


def activity(model: GACN, gray: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """Spatial frequency (1, 64, h, w) of the features of a gray tile (1, 1, h, w)."""
    return inference.spatial_frequency(extract_features(model, gray, weights))


def decide_from_activity(model: GACN, sf_a: torch.Tensor, sf_b: torch.Tensor) -> torch.Tensor:
    """Raw decision map P(a sharper than b), shape (1, 1, h, w), from two activity maps."""
    return inference.decide(model, sf_a - sf_b)


def tile_tensor(gray: np.ndarray, tile: Tile, device: torch.device) -> torch.Tensor:
    """The padded window of a gray image as a (1, 1, h, w) tensor."""
    x = torch.from_numpy(np.ascontiguousarray(gray[tile.padded]))[None, None].to(device)
    return x.contiguous(memory_format=torch.channels_last)


def tiled_decision(model: GACN, gray_a: np.ndarray, gray_b: np.ndarray,
                   weights_a: list[torch.Tensor], weights_b: list[torch.Tensor],
                   tile: int = TILE) -> np.ndarray:
    """Raw decision map of two gray images computed tile by tile.

    Parameters
    ----------
    model : GACN
        The network.
    gray_a, gray_b : ndarray
        float32 gray images in 0..1, same shape (H, W).
    weights_a, weights_b : list of torch.Tensor
        Their cSE channel weights (:func:`channel_weights`).
    tile : int
        Side of a tile's core.

    Returns
    -------
    ndarray
        float32 (H, W): P(a is sharper) per pixel, before the boundary guided filter.

    Examples
    --------
    >>> from gacn.fusion.pair import cached_model
    >>> m = cached_model(None, "cpu"); g = np.random.default_rng(0).random((48, 40), np.float32)
    >>> w = channel_weights(m, g)
    >>> tiled_decision(m, g, g, w, w, tile=16).shape
    (48, 40)
    """
    dev = next(model.parameters()).device
    out = np.empty(gray_a.shape, np.float32)
    with torch.inference_mode():
        for t in tile_grid(*gray_a.shape, tile=tile):
            diff = inference.activity_difference(model, tile_tensor(gray_a, t, dev), tile_tensor(gray_b, t, dev),
                                                 weights_a, weights_b)
            out[t.core] = inference.decide(model, diff)[0, 0][t.inner].cpu().numpy()
    return out


class DiskArray:
    """A float32 (H, W, C) array in a temporary file, read and written by windows.

    Used for the 64-channel activity maps of whole frames, which would not fit the memory
    budget on big images. Reads return (C, h, w) tensors ready for the network.

    Parameters
    ----------
    shape : tuple of int
        (H, W, C).
    directory : str, optional
        Folder for the file (the system's temporary folder by default).
    """

    def __init__(self, shape: tuple[int, int, int], directory: str | None = None) -> None:
        self.shape = shape
        fd, self.path = tempfile.mkstemp(prefix="gacn-", suffix=".f32", dir=directory)
        self.fd = fd
        os.ftruncate(fd, int(np.prod(shape)) * 4)

    def _rows(self, ys: slice, xs: slice) -> Iterator[tuple[int, int]]:
        h, w, c = self.shape
        nbytes = (xs.stop - xs.start) * c * 4
        for y in range(ys.start, ys.stop):
            yield (y * w + xs.start) * c * 4, nbytes

    def read(self, window: tuple[slice, slice]) -> torch.Tensor:
        """The window ``(rows, cols)`` as a (1, C, h, w) float32 tensor."""
        ys, xs = window
        buf = b"".join(os.pread(self.fd, n, off) for off, n in self._rows(ys, xs))
        arr = np.frombuffer(buf, np.float32).reshape(ys.stop - ys.start, xs.stop - xs.start, self.shape[2])
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]

    def write(self, window: tuple[slice, slice], values: torch.Tensor) -> None:
        """Store a (1, C, h, w) tensor at ``window``."""
        arr = np.ascontiguousarray(values[0].float().cpu().numpy().transpose(1, 2, 0))
        for row, (off, _) in zip(arr, self._rows(*window)):
            os.pwrite(self.fd, row.tobytes(), off)

    def close(self) -> None:
        """Delete the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            os.unlink(self.path)

    def __enter__(self) -> DiskArray:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
