"""Lean inference: the network's raw decision map with fewer memory passes and a smaller peak.

``GACN.forward`` is written for training (autograd, both sources in one batch). At inference
the same arithmetic can be ordered to touch far less memory, which is what bounds the speed of
this small network on a CPU (about 82 K multiply-adds per pixel, but 64-channel full-resolution
maps):

* the sources are run one after the other, and only the first one's activity map is kept while
  the second is computed, so the 64-channel features of both never coexist;
* spatial frequency is linear in its window sum, so the *difference* of the two sources' energy
  maps is summed once instead of summing each;
* BatchNorm (after the ReLU) and the channel SE scale fold into one in-place multiply-add, and
  the spatial SE and the final sigmoids work in place.

The result equals ``GACN.forward(...).raw_decision`` up to float rounding (the tests check the
maps agree).

References
----------
.. [1] B. Ma et al., "End-to-end learning for simultaneously generating decision map and
   multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gacn.model.network import GACN, SF_WINDOW, SLOPE


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) of an eval-mode BatchNorm."""
    assert bn.running_var is not None and bn.running_mean is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def cse_gate(se: nn.Module, mean: torch.Tensor) -> torch.Tensor:
    """The multipliers a channel SE applies, given the channel means (N, C) of its input."""
    return torch.sigmoid(se.fc2(F.relu(se.fc1(mean))))


def feature_blocks(model: GACN, x: torch.Tensor, weights: list[torch.Tensor] | None = None
                   ) -> Iterator[torch.Tensor]:
    """The four 16-channel outputs of the dense feature blocks for one source ``x`` (1, 1, H, W).

    Yielded one at a time, so a caller can consume each block as soon as it exists.

    ``weights`` are the cSE channel multipliers (as from :func:`gacn.fusion.tiling.channel_weights`);
    when omitted they are computed from ``x`` itself, exactly as the network does.
    """
    outs: list[torch.Tensor] = []
    for k, block in enumerate(model.features.blocks):
        conv, _, bn = block[0]
        scale, shift = _bn_affine(bn)
        y = _dense_conv(conv, outs or [x]).relu_()
        if weights is None:
            mean = y.mean(dim=(2, 3)) * scale + shift
            w = cse_gate(block[1], mean)[0]
        else:
            w = weights[k][0]
        y = torch.addcmul((shift * w)[None, :, None, None], y, (scale * w)[None, :, None, None], out=y)
        outs.append(y)
        yield y


def _dense_conv(conv: nn.Conv2d, inputs: list[torch.Tensor]) -> torch.Tensor:
    """``conv`` applied to the channel concatenation of ``inputs``, without building it.

    A convolution is linear in its input channels, so it is the sum of convolutions of each
    part with the matching slice of the kernel; this saves the concatenated copy, which at
    full resolution is the largest buffer of the feature extractor.
    """
    out = None
    start = 0
    for part in inputs:
        stop = start + part.shape[1]
        y = F.conv2d(part, conv.weight[:, start:stop], conv.bias if out is None else None, padding=conv.padding)
        out = y if out is None else out.add_(y)
        start = stop
    assert out is not None
    return out


def features(model: GACN, x: torch.Tensor, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The 64-channel features of one source ``x`` (1, 1, H, W), as ``model.features`` computes them."""
    return torch.cat(list(feature_blocks(model, x, weights)), dim=1)


#: Rows per band when accumulating squared differences (bounds the temporaries).
BAND_ROWS = 128


def _add_energy(out: torch.Tensor, f: torch.Tensor, alpha: float) -> None:
    """``out += alpha * energy(f)``, energy = squared first differences in x and y (zero across the border)."""
    height = f.shape[2]
    for y0 in range(0, height, BAND_ROWS):
        y1 = min(height, y0 + BAND_ROWS)
        band = f[:, :, y0:y1]
        dx = band[..., 1:] - band[..., :-1]
        out[:, :, y0:y1, 1:].add_(dx.square_(), alpha=alpha)
        r0 = max(y0, 1)
        if r0 < y1:
            dy = f[:, :, r0:y1] - f[:, :, r0 - 1:y1 - 1]
            out[:, :, r0:y1].add_(dy.square_(), alpha=alpha)


def _window_sum(e: torch.Tensor) -> torch.Tensor:
    """Sum over the ``SF_WINDOW``-square window, zero outside the image."""
    pad = SF_WINDOW // 2
    e = F.avg_pool2d(e, (SF_WINDOW, 1), stride=1, padding=(pad, 0), count_include_pad=True)
    e = F.avg_pool2d(e, (1, SF_WINDOW), stride=1, padding=(0, pad), count_include_pad=True)
    return e.mul_(float(SF_WINDOW * SF_WINDOW))


def activity_difference(model: GACN, a: torch.Tensor, b: torch.Tensor,
                        weights_a: list[torch.Tensor] | None = None,
                        weights_b: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Spatial frequency of ``a``'s features minus ``b``'s, shape (1, 64, H, W)."""
    n, _, h, w = a.shape
    width = sum(block[0][0].out_channels for block in model.features.blocks)
    diff = torch.empty((n, width, h, w), dtype=a.dtype, device=a.device, memory_format=torch.channels_last).zero_()
    for src, weights, alpha in ((a, weights_a, 1.0), (b, weights_b, -1.0)):
        start = 0
        for y in feature_blocks(model, src, weights):
            _add_energy(diff[:, start:start + y.shape[1]], y, alpha)
            start += y.shape[1]
            del y
    pad = SF_WINDOW // 2
    diff = F.avg_pool2d(diff, (SF_WINDOW, 1), stride=1, padding=(pad, 0), count_include_pad=True)
    diff = F.avg_pool2d(diff, (1, SF_WINDOW), stride=1, padding=(0, pad), count_include_pad=True)
    return diff.mul_(float(SF_WINDOW * SF_WINDOW))


def spatial_frequency(features: torch.Tensor) -> torch.Tensor:
    """Per-channel spatial frequency, as :func:`gacn.model.network.spatial_frequency` computes it."""
    e = torch.zeros_like(features)
    _add_energy(e, features, 1.0)
    return _window_sum(e)


def _spatial_logit(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The spatial SE's C->1 convolution, as a depthwise convolution summed over channels.

    Same arithmetic, but oneDNN's kernel for a single output channel is slow: on a 520x520
    map with 64 channels this takes 32 ms instead of 75 ms (2 cores).
    """
    channels = x.shape[1]
    if channels == 1:
        return conv(x)
    depthwise = conv.weight.reshape(channels, 1, *conv.kernel_size)
    return F.conv2d(x, depthwise, padding=conv.padding, groups=channels).sum(dim=1, keepdim=True)


def decide(model: GACN, diff: torch.Tensor) -> torch.Tensor:
    """Raw decision map (1, 1, H, W) from an activity difference; ``diff`` is consumed."""
    x = diff.mul_(SLOPE).sigmoid_()
    for layer in model.decision_path.layers:
        if isinstance(layer, nn.Sequential):
            conv, _, bn = layer
            scale, shift = _bn_affine(bn)
            x = conv(x).relu_()
            x = torch.addcmul(shift[None, :, None, None], x, scale[None, :, None, None], out=x)
        else:
            x = x.mul_(_spatial_logit(layer.conv, x).sigmoid_())
    return x.mul_(SLOPE).sigmoid_()


def raw_decision(model: GACN, a: torch.Tensor, b: torch.Tensor,
                 weights_a: list[torch.Tensor] | None = None,
                 weights_b: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The network's raw decision map P(``a`` is sharper) for gray sources (1, 1, H, W) in 0..1.

    Parameters
    ----------
    model : GACN
        The network in eval mode.
    a, b : torch.Tensor
        Gray sources, same shape.
    weights_a, weights_b : list of torch.Tensor, optional
        cSE channel weights to use instead of computing them from the sources (for tiles).

    Returns
    -------
    torch.Tensor
        float32 (1, 1, H, W), before the boundary guided filter.

    Examples
    --------
    >>> from gacn.model import load_model
    >>> m = load_model()
    >>> a = torch.rand(1, 1, 40, 52); b = torch.rand(1, 1, 40, 52)
    >>> with torch.inference_mode():
    ...     lean = raw_decision(m, a, b)
    ...     plain = m(a, b).raw_decision
    >>> bool(((lean > 0.5) == (plain > 0.5)).float().mean() > 0.99)
    True
    """
    with torch.inference_mode():
        return decide(model, activity_difference(model, a, b, weights_a, weights_b))
