"""Export the network to ONNX, to run it with ONNX Runtime or other engines without PyTorch.

The exported graph maps two gray sources ``a``, ``b`` (float32, shape (1, 1, H, W), values
0..1, any H and W) to the raw decision map ``raw`` (same shape, before the boundary guided
filter). The guided filter and the colour blend are cheap image operations left to the caller
(:func:`gacn.model.guided_filter.boundary_guided_filter`, or ``F = D * A + (1 - D) * B``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from gacn.model import load_model
from gacn.model.network import GACN

#: ONNX opset of the export.
OPSET = 17


class _RawDecision(nn.Module):
    """The network's raw decision map as a two-input, one-output module."""

    def __init__(self, model: GACN) -> None:
        super().__init__()
        self.model = model

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model(a, b, bgf=False).raw_decision


def export_onnx(path: str | os.PathLike, weights: str | os.PathLike | None = None) -> Path:
    """Write the network (shipped or given weights) as an ONNX model with dynamic height and width.

    Parameters
    ----------
    path : str or path-like
        Output ``.onnx`` file.
    weights : str or path-like, optional
        safetensors weights; the shipped ones by default.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile, onnxruntime, numpy as np
    >>> out = export_onnx(tempfile.mkdtemp() + "/gacn.onnx")
    >>> session = onnxruntime.InferenceSession(str(out))
    >>> a = np.random.default_rng(0).random((1, 1, 40, 52), dtype=np.float32)
    >>> session.run(None, {"a": a, "b": a[..., ::-1].copy()})[0].shape
    (1, 1, 40, 52)
    """
    path = Path(path)
    model = load_model(weights).to(memory_format=torch.contiguous_format)
    example = (torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
    axes = {2: "height", 3: "width"}
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the exporter's notes on shape inference
        torch.onnx.export(_RawDecision(model).eval(), example, str(tmp), input_names=["a", "b"],
                          output_names=["raw"], dynamic_axes={"a": axes, "b": axes, "raw": axes},
                          opset_version=OPSET, dynamo=False)
    tmp.replace(path)
    return path
