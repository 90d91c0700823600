"""The GACN network: dense feature extraction, spatial-frequency comparison, decision path, BGF.

The modules follow the method of Ma et al. (2022): one small fully convolutional network
(68,820 parameters, no pooling) that maps two gray sources to a near-binary decision map
and the fused image in one forward pass.

References
----------
.. [1] B. Ma, X. Yin, D. Wu, H. Shen, X. Ban, Y. Wang, "End-to-end learning for simultaneously
   generating decision map and multi-focus image fusion result", Neurocomputing 470 (2022) 204-216.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gacn.model.guided_filter import boundary_guided_filter

#: Slope of the soft comparisons: the method's sigmoid(1000 * x) makes both maps near-binary.
SLOPE = 1000.0
#: Side of the window over which spatial frequency is summed.
SF_WINDOW = 11


class ConvBlock(nn.Sequential):
    """3x3 convolution (padding 1), ReLU, BatchNorm: the method's conv block."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(cout),
        )


class ChannelSE(nn.Module):
    """Channel squeeze-excitation: re-weights channels from their global mean (no biases)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3))
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(w))))
        return x * w[:, :, None, None]


class SpatialSE(nn.Module):
    """Spatial squeeze-excitation: re-weights pixels from a 7x7 view of all channels (no bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class FeatureExtractor(nn.Module):
    """Densely connected feature extraction shared by both sources: 1 gray channel -> 64."""

    def __init__(self, se: bool = True) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(ConvBlock(cin, 16), ChannelSE(16) if se else nn.Identity()) for cin in (1, 16, 32, 48)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        h = x
        for block in self.blocks:
            h = block(h)
            outs.append(h)
            h = torch.cat(outs, dim=1)
        return h


def spatial_frequency(features: torch.Tensor, window: int = SF_WINDOW) -> torch.Tensor:
    """Per-channel spatial frequency: windowed sum of squared first differences.

    SF(x, y) = sum over a ``window`` x ``window`` neighbourhood of
    (f(x-1, y) - f(x, y))^2 + (f(x, y-1) - f(x, y))^2, without a square root.
    Differences across the image border are taken as zero (edge replication), and the
    window sum treats pixels outside the image as zero, so a constant image has SF = 0
    everywhere and tiles cut from a larger image agree with it away from their borders.

    Parameters
    ----------
    features : torch.Tensor
        Feature maps, shape (N, C, H, W).
    window : int
        Odd window side.

    Returns
    -------
    torch.Tensor
        Same shape as ``features``.
    """
    dx = F.pad(features[..., :, 1:] - features[..., :, :-1], (1, 0, 0, 0))
    dy = F.pad(features[..., 1:, :] - features[..., :-1, :], (0, 0, 1, 0))
    energy = dx * dx + dy * dy
    pad = window // 2
    rows = F.avg_pool2d(energy, (window, 1), stride=1, padding=(pad, 0), count_include_pad=True)
    return F.avg_pool2d(rows, (1, window), stride=1, padding=(0, pad), count_include_pad=True) * (window * window)


class DecisionPath(nn.Module):
    """Maps the 64-channel activity comparison to one logit per pixel (spatial SE between blocks)."""

    def __init__(self, se: bool = True) -> None:
        super().__init__()
        widths = (64, 48, 32, 16, 1)
        layers: list[nn.Module] = [SpatialSE(64) if se else nn.Identity()]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [ConvBlock(cin, cout), SpatialSE(cout) if se else nn.Identity()]
        self.layers = nn.Sequential(*layers)

    def forward(self, comparison: torch.Tensor) -> torch.Tensor:
        return self.layers(comparison)


@dataclass
class GACNOutput:
    """Outputs of one forward pass, all of shape (N, 1, H, W) except ``fused`` (N, C, H, W)."""

    raw_decision: torch.Tensor
    decision: torch.Tensor
    fused: torch.Tensor


class GACN(nn.Module):
    """Gradient-aware cascade network for two-source multi-focus fusion.

    The decision map D is P(source A is the sharper one) per pixel; the fused image is
    F = D_BGF * A + (1 - D_BGF) * B, where D_BGF is D refined by the boundary guided filter
    near focus boundaries.

    Parameters
    ----------
    se : bool
        With the channel and spatial squeeze-excitation blocks (the method). ``False`` builds
        the ablation without them; only ``True`` models run on the lean inference path.

    Examples
    --------
    >>> import torch
    >>> net = GACN().eval()
    >>> a = torch.rand(1, 1, 32, 40); b = torch.rand(1, 1, 32, 40)
    >>> net(a, b).decision.shape
    torch.Size([1, 1, 32, 40])
    """

    def __init__(self, se: bool = True) -> None:
        super().__init__()
        self.features = FeatureExtractor(se)
        self.decision_path = DecisionPath(se)

    def decide(self, feat_a: torch.Tensor, feat_b: torch.Tensor) -> torch.Tensor:
        """Raw decision map (before BGF) from the two sources' features."""
        sf_a = spatial_frequency(feat_a.float())
        sf_b = spatial_frequency(feat_b.float())
        comparison = torch.sigmoid(SLOPE * (sf_a - sf_b)).to(feat_a.dtype)
        logit = self.decision_path(comparison).float()
        return torch.sigmoid(SLOPE * logit)

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        a_color: torch.Tensor | None = None,
        b_color: torch.Tensor | None = None,
        bgf: bool = True,
    ) -> GACNOutput:
        """Fuse gray sources ``a`` and ``b`` (N, 1, H, W) in 0..1.

        ``a_color`` / ``b_color`` (N, C, H, W), when given, are blended with the same map
        instead of the gray sources.
        """
        n = a.shape[0]
        feats = self.features(torch.cat([a, b], dim=0))
        raw = self.decide(feats[:n], feats[n:])
        decision = boundary_guided_filter(raw, a.float(), b.float()) if bgf else raw
        src_a = a if a_color is None else a_color
        src_b = b if b_color is None else b_color
        fused = decision * src_a.float() + (1.0 - decision) * src_b.float()
        return GACNOutput(raw_decision=raw, decision=decision, fused=fused)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
