"""The boundary refiner: a small learned network that re-decides the pixels next to a focus boundary.

GACN decides from spatial frequency summed over 11x11 windows, so its focus boundaries are placed
to within a few pixels, small bays and corners are rounded off, and where a bright defocused object
glows over a dark background its map follows the object's edge rather than the end of the glow. On
held-out synthetic pairs most of its wrong pixels lie within 4 px of the true boundary. The
refiner, which is not part of the published method, looks again at a band of about 12 px on each
side of the network's boundary with finer cues than the network has:

* the relative contrast ``(Ea - Eb) / (Ea + Eb)`` of the two sources' squared-Laplacian energies
  over 3x3, 7x7 and 15x15 windows (fine windows place the boundary to the pixel, the wide one sees
  the occluding edge that casts a glow);
* the local texture level (log energy), which says how much those contrasts can be trusted;
* the difference of the sources' local mean brightness (the glow or shadow of a defocused object);
* the fine detail of the sources' mean (where the image edges are: focus boundaries follow object
  edges) and their signed difference (which of them carries that detail);
* the network's map itself.

Five 3x3 convolutions of 32 channels (dilations 1, 2, 4, 8, 1; receptive field 33 px) turn these into a logit that
is added to a prior from the network's map, so where the cues are silent the network's decision
stands. The output, inside the band, is the probability that source ``a`` is the sharper, made
crisper by :data:`SHARPNESS`; outside it the network's map is returned unchanged. Trained on synthetic pairs from the BSDS500 ``train``
photos by :mod:`gacn.training.refiner`.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path

import kornia
import torch
from torch import nn

from gacn.model import load_state

__all__ = ["BoundaryRefiner", "default_refiner_path", "load_refiner", "refiner_band"]

REFINER_NAME = "refiner.safetensors"
#: Gaussian sigma (pixels) of the hard map whose soft part is the band re-decided (about 2 sigma
#: on each side of the boundary).
BAND_SIGMA = 6.0
#: Windows of the energy contrasts.
WINDOWS = (3, 7, 15)
#: Gaussian pre-smoothing before the Laplacian (sigma, pixels): keeps sensor noise out of it.
PRESMOOTH = 0.7
#: Gaussian sigma (pixels) of the local mean brightness compared between the sources.
MEAN_SIGMA = 3.0
#: Gaussian sigma (pixels) below which the sources' mean counts as fine detail.
DETAIL_SIGMA = 2.0
#: Weight of the network's map (as -1..1) in the output logit.
PRIOR = 4.0
#: Factor on the logit before the output sigmoid: the trained probabilities, made crisper. A
#: map at factor 1 blends the sources over uncertain pixels and softens the seam; a hard map
#: (factor infinity) leaves pixel steps. 3 gave the best PSNR against the truth on the report's
#: generated pairs (``benchmarks/bench_refine.py --sharpness``).
SHARPNESS = 3.0
#: Pixels a refined pixel depends on in every direction (filters, band and convolutions), rounded up.
REACH = 56


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    size = 2 * int(3.0 * sigma + 0.5) + 1
    return kornia.filters.gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="replicate")


def _box(x: torch.Tensor, window: int) -> torch.Tensor:
    return kornia.filters.box_blur(x, (window, window), border_type="replicate")


def _squared_laplacian(x: torch.Tensor) -> torch.Tensor:
    lap = kornia.filters.laplacian(_blur(x, PRESMOOTH), 3, border_type="replicate", normalized=False)
    return lap * lap


def refiner_band(decision: torch.Tensor) -> torch.Tensor:
    """The pixels the refiner re-decides: within about ``2 * BAND_SIGMA`` px of the boundary of
    ``decision`` thresholded at 0.5 (boolean, same shape)."""
    soft = _blur((decision > 0.5).to(decision.dtype), BAND_SIGMA)
    return (soft > 0.02) & (soft < 0.98)


def refiner_features(decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The eight input channels of the refiner, shape (N, 8, H, W), from a map and two gray sources."""
    la, lb = _squared_laplacian(a), _squared_laplacian(b)
    channels = [2.0 * decision - 1.0]
    for window in WINDOWS:
        ea, eb = _box(la, window), _box(lb, window)
        channels.append((ea - eb) / (ea + eb + 1e-6))
    channels.append(torch.log10(_box(la + lb, 7) + 1e-6) / 3.0 + 1.0)
    channels.append((10.0 * (_blur(a, MEAN_SIGMA) - _blur(b, MEAN_SIGMA))).clamp(-2.0, 2.0))
    mean = 0.5 * (a + b)
    channels.append((10.0 * (mean - _blur(mean, DETAIL_SIGMA))).clamp(-2.0, 2.0))
    channels.append((10.0 * (a - b)).clamp(-2.0, 2.0))
    return torch.cat(channels, 1)


class BoundaryRefiner(nn.Module):
    """Re-decide the band around a focus boundary from fine focus cues (39,361 parameters).

    Parameters
    ----------
    width : int
        Channels of the hidden convolutions.
    sharpness : float
        Factor on the logit before the output sigmoid (:data:`SHARPNESS`; ``inf``: a hard map).
    """

    def __init__(self, width: int = 32, sharpness: float = SHARPNESS) -> None:
        super().__init__()
        self.sharpness = sharpness
        layers: list[nn.Module] = []
        channels = 8
        for dilation in (1, 2, 4, 8, 1):
            layers += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation, padding_mode="replicate"),
                       nn.ReLU(inplace=True)]
            channels = width
        layers.append(nn.Conv2d(channels, 1, 1))
        self.net = nn.Sequential(*layers)

    def logits(self, decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logit that ``a`` is the sharper source, at every pixel (N, 1, H, W)."""
        # channels-last: about 1.5x faster convolutions on CPU
        features = refiner_features(decision, a, b).contiguous(memory_format=torch.channels_last)
        return self.net(features) + PRIOR * (2.0 * decision - 1.0)

    def forward(self, decision: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``decision`` with the band around its boundary replaced by the refiner's (sharpened)
        probabilities."""
        logits = self.logits(decision, a, b)
        if math.isinf(self.sharpness):
            weight = (logits > 0).to(decision.dtype)
        else:
            weight = torch.sigmoid(self.sharpness * logits)
        return torch.where(refiner_band(decision), weight, decision)


def default_refiner_path() -> Path:
    """Path of the refiner weights shipped inside the package."""
    return Path(str(resources.files("gacn.model").joinpath("weights", REFINER_NAME)))


def load_refiner(weights: str | os.PathLike | None = None, device: str = "cpu") -> BoundaryRefiner:
    """The refiner in eval mode with the given (or the shipped) weights on ``device``.

    Raises
    ------
    InputError
        If the weights file is missing, corrupt, or does not fit the refiner.
    """
    model = BoundaryRefiner()
    load_state(model, Path(weights) if weights is not None else default_refiner_path(), "boundary refiner", device)
    return model.to(device, memory_format=torch.channels_last).eval()
