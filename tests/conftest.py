"""Shared fixtures: small photos that ship with scikit-image and the optional shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import skimage.data

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The shared data folder: $GACN_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("GACN_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def data_dir() -> Path:
    path = shared_data()
    if not (path / "train" / "bsds500").is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture
def photo_rgb() -> np.ndarray:
    """A 160x200 RGB crop of scikit-image's astronaut (not a BSDS500 photo)."""
    return skimage.data.astronaut()[40:200, 150:350].copy()


@pytest.fixture
def fake_bsds(tmp_path: Path) -> Path:
    """A tiny BSDS500-shaped folder of random textured photos with two-region segmentations."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    root = tmp_path / "bsds500"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "segments" / split).mkdir(parents=True)
        for i in range(3):
            img = (rng.random((90, 100, 3)) * 255).astype(np.uint8)
            labels = np.ones((90, 100), np.uint8)
            labels[:, 50:] = 2
            labels[40:, :30] = 3
            iio.imwrite(root / "images" / split / f"{i}.jpg", img)
            iio.imwrite(root / "segments" / split / f"{i}.png", labels)
    return root
