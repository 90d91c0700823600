"""Tiled inference: tiles cover the image once, stored maps round-trip, tiled == untiled."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from gacn.fusion.pair import cached_model
from gacn.fusion.synthetic import make_stack
from gacn.fusion.tiling import (
    HALO,
    RECEPTIVE_RADIUS,
    DiskArray,
    channel_weights,
    extract_features,
    tile_grid,
    tiled_decision,
)
from gacn.model.inference import spatial_frequency
from gacn.model.network import spatial_frequency as network_sf


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    return cached_model(None, "cpu")


def test_tile_cores_partition_the_image() -> None:
    count = np.zeros((300, 517), int)
    for t in tile_grid(300, 517, tile=128):
        count[t.core] += 1
        assert t.py0 == max(t.y0 - HALO, 0) and t.px1 == min(t.x1 + HALO, 517)
    assert (count == 1).all()
    assert HALO >= RECEPTIVE_RADIUS


def test_disk_array_round_trip(tmp_path) -> None:
    values = torch.rand(1, 5, 7, 9)
    with DiskArray((20, 30, 5), str(tmp_path)) as store:
        store.write((slice(3, 10), slice(11, 20)), values)
        assert torch.equal(store.read((slice(3, 10), slice(11, 20))), values)
        assert torch.equal(store.read((slice(0, 2), slice(0, 3))), torch.zeros(1, 5, 2, 3))
        path = store.path
    assert not list(tmp_path.iterdir()) and path


def test_separable_spatial_frequency_matches_the_network() -> None:
    f = torch.rand(1, 8, 40, 33)
    ref = network_sf(f)
    assert torch.allclose(spatial_frequency(f), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_exact_channel_weights_reproduce_the_network_features(model) -> None:
    g = np.random.default_rng(1).random((60, 70), dtype=np.float32)
    x = torch.from_numpy(g)[None, None]
    with torch.inference_mode():
        assert torch.allclose(extract_features(model, x, channel_weights(model, g)), model.features(x), atol=1e-5)


def test_tiled_equals_untiled_on_1024(model) -> None:
    """1024x1024: tiles of 512 + halo vs the untiled network (same cSE weights): equal maps."""
    s = make_stack(skimage.data.coffee(), n_frames=2, size=(1024, 1024), max_blur=4.0)
    ga, gb = (f.mean(axis=2).astype(np.float32) / 255.0 for f in s.frames)
    wa, wb = channel_weights(model, ga), channel_weights(model, gb)
    tiled = tiled_decision(model, ga, gb, wa, wb, tile=512)
    with torch.inference_mode():
        fa = extract_features(model, torch.from_numpy(ga)[None, None], wa)
        fb = extract_features(model, torch.from_numpy(gb)[None, None], wb)
        untiled = model.decide(fa, fb)[0, 0].numpy()
        del fa, fb
    differ = np.abs(tiled - untiled) > 1e-3
    assert differ.mean() < 1e-3, differ.sum()
