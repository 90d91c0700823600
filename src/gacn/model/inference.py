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


def features(model: GACN, x: torch.Tensor, weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The 64-channel features of one source ``x`` (1, 1, H, W).

    ``weights`` are the cSE channel multipliers (as from :func:`gacn.fusion.tiling.channel_weights`);
    when omitted they are computed from ``x`` itself, exactly as the network does.
    """
    outs: list[torch.Tensor] = []
    h = x
    for k, block in enumerate(model.features.blocks):
        conv, _, bn = block[0]
        scale, shift = _bn_affine(bn)
        y = conv(h).relu_()
        if weights is None:
            mean = y.mean(dim=(2, 3)) * scale + shift
            w = cse_gate(block[1], mean)[0]
        else:
            w = weights[k][0]
        y = torch.addcmul((shift * w)[None, :, None, None], y, (scale * w)[None, :, None, None], out=y)
        outs.append(y)
        h = torch.cat(outs, dim=1) if len(outs) > 1 else y
    return h


def _energy(f: torch.Tensor) -> torch.Tensor:
    """Squared first differences summed over both directions (zero across the border)."""
    e = torch.zeros_like(f)
    torch.sub(f[..., :, 1:], f[..., :, :-1], out=e[..., :, 1:])
    e.square_()
    dy = f[..., 1:, :] - f[..., :-1, :]
    e[..., 1:, :].addcmul_(dy, dy)
    return e


def activity_difference(model: GACN, a: torch.Tensor, b: torch.Tensor,
                        weights_a: list[torch.Tensor] | None = None,
                        weights_b: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Spatial frequency of ``a``'s features minus ``b``'s, shape (1, 64, H, W)."""
    diff = _energy(features(model, a, weights_a))
    diff -= _energy(features(model, b, weights_b))
    return _window_sum(diff)


def _window_sum(e: torch.Tensor) -> torch.Tensor:
    """Sum over the ``SF_WINDOW``-square window, zero outside the image."""
    pad = SF_WINDOW // 2
    e = F.avg_pool2d(e, (SF_WINDOW, 1), stride=1, padding=(pad, 0), count_include_pad=True)
    e = F.avg_pool2d(e, (1, SF_WINDOW), stride=1, padding=(0, pad), count_include_pad=True)
    return e.mul_(float(SF_WINDOW * SF_WINDOW))


def spatial_frequency(features: torch.Tensor) -> torch.Tensor:
    """Per-channel spatial frequency, as :func:`gacn.model.network.spatial_frequency` computes it."""
    return _window_sum(_energy(features))


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
            x = x.mul_(layer.conv(x).sigmoid_())
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
