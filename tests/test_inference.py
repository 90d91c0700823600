"""The lean inference path computes what the network computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gacn.fusion.pair import cached_model
from gacn.model.inference import activity_difference, features, raw_decision
from gacn.model.network import spatial_frequency
from gacn.training.synthesis import method_pair


@pytest.fixture(scope="module")
def model():
    return cached_model(None, "cpu")


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    import skimage.data

    from gacn.io import to_gray_float

    sharp = np.ascontiguousarray(to_gray_float(skimage.data.astronaut())[100:212, 150:262])
    mask = np.zeros_like(sharp)
    mask[:, :60] = 1.0
    a, b, _ = method_pair(sharp, mask, "gauss", 3.0)
    return torch.from_numpy(a.astype(np.float32))[None, None], torch.from_numpy(b.astype(np.float32))[None, None]


def test_features_match_the_network(model, pair) -> None:
    a, _ = pair
    with torch.inference_mode():
        assert torch.allclose(features(model, a), model.features(a), atol=1e-5)


def test_activity_difference_matches_the_network(model, pair) -> None:
    a, b = pair
    with torch.inference_mode():
        ref = spatial_frequency(model.features(a)) - spatial_frequency(model.features(b))
        diff = activity_difference(model, a, b)
    assert torch.allclose(diff, ref, atol=1e-3 * float(ref.abs().max()))


@pytest.mark.parametrize("channels_last", [False, True])
def test_raw_decision_agrees_with_the_network(model, pair, channels_last: bool) -> None:
    a, b = pair
    if channels_last:
        a, b = (x.contiguous(memory_format=torch.channels_last) for x in (a, b))
    with torch.inference_mode():
        ref = model(a, b).raw_decision
    lean = raw_decision(model, a, b)
    assert lean.shape == ref.shape
    assert ((lean > 0.5) == (ref > 0.5)).float().mean().item() >= 0.999
    assert 0.2 < (lean > 0.5).float().mean().item() < 0.8


def test_onnx_export_agrees_with_torch(model, pair, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from gacn.cli import app

    out = tmp_path / "gacn.onnx"
    result = CliRunner().invoke(app, ["export-onnx", str(out)])
    assert result.exit_code == 0, result.output
    a, b = pair
    raw = ort.InferenceSession(str(out)).run(None, {"a": a.numpy(), "b": b.numpy()})[0]
    with torch.inference_mode():
        ref = model(a, b).raw_decision.numpy()
    assert raw.shape == ref.shape
    assert ((raw > 0.5) == (ref > 0.5)).mean() >= 0.999
