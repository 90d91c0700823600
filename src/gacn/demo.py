"""The embedded demo: a synthetic multi-focus pair with a known focus mask, made from a photo
that ships with scikit-image, so it runs with no download and no data folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from gacn.fusion.pair import FusionResult, fuse_pair
from gacn.io import write_image
from gacn.metrics.reference import map_accuracy, map_iou, psnr
from gacn.training.synthesis import blur


@dataclass
class DemoPair:
    """Two sources, the all-in-focus photo they came from, and where source 1 is in focus."""

    source1: np.ndarray
    source2: np.ndarray
    sharp: np.ndarray
    mask: np.ndarray


def focus_mask(shape: tuple[int, int]) -> np.ndarray:
    """A known focus region: an ellipse plus a bar, so the boundary has curves and corners."""
    h, w = shape
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, (int(w * 0.38), int(h * 0.45)), (int(w * 0.24), int(h * 0.3)), 20, 0, 360, 1, -1)
    cv2.rectangle(mask, (int(w * 0.6), int(h * 0.1)), (int(w * 0.78), int(h * 0.9)), 1, -1)
    return mask.astype(np.float32)


def make_demo_pair(photo: np.ndarray | None = None, radius: float = 5.0) -> DemoPair:
    """Build a colour pair: source 1 sharp inside :func:`focus_mask`, source 2 sharp outside.

    Each source is the photo with a disc (defocus) blur of ``radius`` applied outside its
    in-focus region.

    Parameters
    ----------
    photo : ndarray, optional
        uint8 RGB photo; scikit-image's bundled ``chelsea`` (a cat, not in BSDS500) by default.
    radius : float
        Defocus disc radius in pixels.

    Returns
    -------
    DemoPair
    """
    sharp = skimage.data.chelsea() if photo is None else photo
    f = sharp.astype(np.float32) / 255.0
    blurred = blur(f, "disc", radius)
    mask = focus_mask(f.shape[:2])
    m = mask[..., None] if f.ndim == 3 else mask
    s1 = m * f + (1 - m) * blurred
    s2 = m * blurred + (1 - m) * f
    to8 = lambda x: np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    return DemoPair(to8(s1), to8(s2), sharp, mask)


def side_by_side(images: list[np.ndarray], gap: int = 8) -> np.ndarray:
    """Put RGB or gray uint8 images of one height in a row with white gaps."""
    rgb = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    h = rgb[0].shape[0]
    spacer = np.full((h, gap, 3), 255, np.uint8)
    row: list[np.ndarray] = []
    for im in rgb:
        row += [im, spacer]
    return np.concatenate(row[:-1], axis=1)


def run_demo(out_dir: str | Path, device: str = "cpu", weights: str | None = None) -> dict[str, float]:
    """Fuse the demo pair, write the images to ``out_dir`` and return accuracy, IoU, PSNR and time."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pair = make_demo_pair()
    t0 = time.perf_counter()
    result: FusionResult = fuse_pair(pair.source1, pair.source2, weights=weights, device=device)
    seconds = time.perf_counter() - t0
    dmap = np.clip(np.rint(result.decision_map * 255), 0, 255).astype(np.uint8)
    write_image(out / "source_1.png", pair.source1)
    write_image(out / "source_2.png", pair.source2)
    write_image(out / "fused.png", result.image)
    write_image(out / "decision_map.png", dmap)
    write_image(out / "true_mask.png", (pair.mask * 255).astype(np.uint8))
    write_image(out / "side_by_side.png", side_by_side([pair.source1, pair.source2, result.image, dmap]))
    return {
        "accuracy": map_accuracy(result.decision_map, pair.mask),
        "iou": map_iou(result.decision_map, pair.mask),
        "psnr_db": psnr(result.image, pair.sharp, data_range=255),
        "seconds": seconds,
    }
