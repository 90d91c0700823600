"""Synthetic pairs: the sources equal the sharp photo where they should."""

from __future__ import annotations

import numpy as np

from gacn.training.synthesis import (Photo, SynthesisConfig, blob_mask, disc_kernel, make_pair, method_pair,
                                     occlusion_pair, segment_mask)


def _photo() -> np.ndarray:
    return np.random.default_rng(1).random((80, 90)).astype(np.float32)


def test_method_pair_sources_equal_sharp_photo() -> None:
    sharp = _photo()
    mask = np.zeros_like(sharp)
    mask[:, :40] = 1
    s1, s2, target = method_pair(sharp, mask, "gauss", 2.0)
    assert np.array_equal(s1[mask == 1], sharp[mask == 1])
    assert not np.allclose(s1[:, 45:], sharp[:, 45:], atol=0.05)
    far = slice(None), slice(75, None)  # far from the mask: softened mask (sigma 8) is ~0
    assert np.allclose(s2[far], sharp[far], atol=1e-4)
    assert np.array_equal(target, mask)


def test_occlusion_pair_layers() -> None:
    fg, bg = _photo(), np.random.default_rng(2).random((80, 90)).astype(np.float32)
    alpha = np.zeros_like(fg)
    alpha[20:60, 20:60] = 1
    near, far, target, truth = occlusion_pair(fg, bg, alpha, "disc", 4.0)
    assert np.allclose(near[alpha == 1], fg[alpha == 1])
    assert np.allclose(far[:, 75:], bg[:, 75:], atol=1e-6)  # background far from the object is sharp
    assert np.array_equal(truth, fg * alpha + bg * (1 - alpha))
    assert target[40, 40] == 1 and target[5, 5] == 0


def test_masks_cover_30_to_70_percent() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert 0.29 <= blob_mask(rng, (64, 64)).mean() <= 0.71
    labels = np.repeat(np.arange(10), 10)[None, :].repeat(20, axis=0)
    mask = segment_mask(rng, labels)
    assert mask is not None and 0.3 <= mask.mean() <= 0.7


def test_disc_kernel_is_normalised_and_round() -> None:
    k = disc_kernel(4.0)
    assert k.shape == (9, 9) and abs(k.sum() - 1) < 1e-6
    assert k[4, 4] > 0 and k[0, 0] == 0


def test_make_pair_is_reproducible() -> None:
    photos = [Photo(_photo(), None)]
    cfg = SynthesisConfig(size=48)
    p1 = make_pair(np.random.default_rng(5), photos, cfg)
    p2 = make_pair(np.random.default_rng(5), photos, cfg)
    assert all(np.array_equal(x, y) for x, y in zip(p1, p2))
    assert p1[0].shape == (48, 48) and set(np.unique(p1[2])) <= {0.0, 1.0}


def test_thin_structures_keep_the_mask_binary_and_change_a_little() -> None:
    from gacn.training.synthesis import thin_structures

    mask = np.zeros((96, 96), np.float32)
    mask[:, :48] = 1.0
    out = thin_structures(np.random.default_rng(0), mask)
    assert set(np.unique(out)) <= {0.0, 1.0}
    changed = (out != mask).mean()
    assert 0.0 < changed < 0.3


def test_jpeg_and_breathing_are_small_changes() -> None:
    from gacn.training.synthesis import breathe, jpeg

    img = np.random.default_rng(1).random((64, 64), dtype=np.float32)
    smooth = np.asarray(np.cumsum(np.ones((64, 64), np.float32), axis=1) / 64.0)
    assert np.abs(jpeg(smooth, 90) - smooth).mean() < 0.01
    assert np.abs(jpeg(img, 50) - img).mean() > 0.01
    np.testing.assert_allclose(breathe(img, 1.0), img, atol=1e-6)
    assert np.abs(breathe(smooth, 1.02) - smooth)[8:-8, 8:-8].max() < 0.02


def test_segment_mask_merges_tiny_segments_into_their_surroundings() -> None:
    labels = np.zeros((60, 60), np.int32)
    labels[:, 30:] = 1
    labels[10:50:4, 4:26:4] = np.arange(2, 2 + 10 * 6).reshape(10, 6)
    rng = np.random.default_rng(3)
    for _ in range(5):
        mask = segment_mask(rng, labels)
        assert mask is not None
        left = mask[:, :30]
        assert np.all(left == left[0, 0]) and np.all(mask[:, 30:] == 1 - left[0, 0])
