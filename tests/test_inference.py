"""The lean inference path computes what the network computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gacn.fusion.pair import cached_model
from gacn.model.inference import activity_difference, features, raw_decision
from gacn.model.network import spatial_frequency
from gacn.training.synthesis import Photo, make_pair


@pytest.fixture(scope="module")
def model():
    return cached_model(None, "cpu")


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    import skimage.data

    from gacn.io import to_gray_float

    photo = Photo(to_gray_float(skimage.data.astronaut()), None)
    a, b, _ = make_pair(np.random.default_rng(3), [photo])
    return torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None]


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
