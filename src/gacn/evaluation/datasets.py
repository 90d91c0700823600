"""The benchmark's datasets: real pairs and triples from the shared data folder, and two sets
generated with a ground truth from photos that ship with scikit-image.

=============  ===================================================  ==============================
name           what                                                 ground truth
=============  ===================================================  ==============================
``lytro``      ``pairs/lytro``: 20 real Lytro pairs (Nejati 2015)   none
``classic``    ``pairs/classic``: 6 classic pairs of the literature none
``triples``    ``triples/*``: 4 Lytro scenes, 3 focal planes each   none
``synthetic``  10 pairs made as the training pairs are (method's    all-sharp image, focus mask
               recipe or occlusion-correct defocus, mixed)
``halo``       10 occlusion-correct scenes: a bright defocused      all-sharp image, focus mask,
               foreground over a dark sharp background              foreground mask
``defocus``    6 real pairs with much stronger defocus than Lytro:  none
               frames far apart in the ``stacks/pcb`` and
               ``stacks/microscope_v4`` sweeps, registered
``exposure``   the 20 Lytro pairs twice, with one source's          none
               exposure changed: source 1 at gain 0.65, source 2
               at gain 1.4 (clipped); 40 items
=============  ===================================================  ==============================

The generated sets are deterministic (one fixed seed per scene) and use only scikit-image's own
photos (astronaut, chelsea, coffee, rocket, immunohistochemistry, and the camera, brick, grass and
gravel gray images), none of which is in BSDS500, the training set. Their sources are 8-bit RGB.

Every dataset is a :class:`Dataset` of :class:`Item` objects. ``Item.truth_mask`` is 1 where the
first source is the in-focus choice, the convention of the decision maps. ``Dataset.metrics``
names metrics scored on a dataset beyond the suite's: ``exposure``, whose sources differ in
exposure, adds the flat-area seam ratio ``SEAM`` (:func:`gacn.metrics.seams.seam_ratio`); the
other sets keep the suite's columns, so that their tables and ranks stay comparable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from gacn.evaluation.benchmark import find_pairs
from gacn.fusion.align import common_box, estimate_transform, warp_image
from gacn.io import LUMA, InputError, from_float, read_image, to_gray_float
from gacn.metrics.reference import psnr
from gacn.training.synthesis import (
    SynthesisConfig,
    blob_mask,
    method_pair,
    occlusion_pair,
    thin_structures,
)

#: Every dataset name, in report order.
DATASET_NAMES = ("lytro", "classic", "triples", "synthetic", "halo", "defocus", "exposure")

#: The ``exposure`` items: (index of the changed source, gain) applied to every Lytro pair.
EXPOSURE_SHIFTS = ((0, 0.65), (1, 1.4))

#: Metrics scored on the real sets beyond the suite's: the flat-area seam ratio.
SEAM_METRICS = ("SEAM",)

#: The ``defocus`` pairs: (stack folder, first frame, second frame, downscale factor).
DEFOCUS_PAIRS = (
    ("pcb", "pcb_001", "pcb_007", 0.5),
    ("pcb", "pcb_001", "pcb_004", 0.5),
    ("pcb", "pcb_004", "pcb_007", 0.5),
    ("microscope_v4", "V015", "V050", 0.5),
    ("microscope_v4", "V020", "V045", 0.5),
    ("microscope_v4", "V025", "V040", 0.5),
)

#: Colour photos used as the sharp scenes (and as the halo foregrounds).
SCENE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")

#: Gray photos and textures used as halo backgrounds (and as extra synthetic scenes).
TEXTURE_PHOTOS = ("camera", "brick", "grass", "gravel")

#: Width in pixels of the band outside the foreground where the halo PSNR is measured.
HALO_BAND = 15

_MARGIN = 24
_SYNTHETIC_SEED = 20_240
_HALO_SEED = 31_337


@dataclass
class Item:
    """One scene of a dataset.

    Attributes
    ----------
    name : str
        Unique within its dataset.
    sources : list of ndarray
        Two or more images of the scene focused at different depths, in focus order.
    truth : ndarray or None
        The all-in-focus image (same dtype and shape as the sources) when known.
    truth_mask : ndarray or None
        float32 (H, W), 1 where the first source is in focus, when known.
    foreground : ndarray or None
        bool (H, W), the front layer of an occlusion scene (where the halo band is measured
        around).
    """

    name: str
    sources: list[np.ndarray]
    truth: np.ndarray | None = None
    truth_mask: np.ndarray | None = None
    foreground: np.ndarray | None = None


@dataclass
class Dataset:
    """A named list of items, a one-line description for the report and the no-reference
    metrics scored on it beyond the suite's (names of :func:`gacn.metrics.compute`)."""

    name: str
    items: list[Item]
    description: str
    metrics: tuple[str, ...] = ()


def default_data_dir() -> Path:
    """The shared data folder: ``$GACN_DATA``, else ``../shared/data`` from the working directory."""
    return Path(os.environ.get("GACN_DATA", "../shared/data"))


def skimage_photo(name: str) -> np.ndarray:
    """A scikit-image sample image as float32 RGB in 0..1 (gray images repeated over 3 channels)."""
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def _window(rng: np.random.Generator, photo: np.ndarray, side: int, scale: tuple[float, float]) -> np.ndarray:
    """A random ``side`` x ``side`` window of the photo resized by a random factor in ``scale``
    (enlarged as needed so the window fits)."""
    h, w = photo.shape[:2]
    factor = max(rng.uniform(*scale), side / min(h, w))
    size = (max(round(w * factor), side), max(round(h * factor), side))
    resized = cv2.resize(photo, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    y0 = int(rng.integers(0, resized.shape[0] - side + 1))
    x0 = int(rng.integers(0, resized.shape[1] - side + 1))
    return np.ascontiguousarray(resized[y0 : y0 + side, x0 : x0 + side])


def _layered(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, kind: str, amount: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~gacn.training.synthesis.occlusion_pair` on RGB layers, channel by channel.

    Returns ``(near, far, target, truth)``; ``target`` (1 where ``near`` is the better choice)
    is the one of the luma, which the per-channel results are linear in.
    """
    channels = [occlusion_pair(np.ascontiguousarray(fg[..., c]), np.ascontiguousarray(bg[..., c]), alpha, kind,
                               amount) for c in range(3)]
    near, far, _, truth = (np.stack([ch[i] for ch in channels], axis=2) for i in range(4))
    target = occlusion_pair(fg @ LUMA, bg @ LUMA, alpha, kind, amount)[2]
    return near, far, target, truth


def _pick_blur(rng: np.random.Generator, cfg: SynthesisConfig) -> tuple[str, float]:
    """A blur kind and log-uniform strength from the ranges of ``cfg``."""
    kind = "disc" if rng.random() < cfg.disc_prob else "gauss"
    lo, hi = cfg.disc_radius if kind == "disc" else cfg.gauss_sigma
    return kind, float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _to_item(name: str, sources: list[np.ndarray], truth: np.ndarray, mask: np.ndarray,
             foreground: np.ndarray | None = None) -> Item:
    """Crop the blur margin off float layers and convert them to uint8."""
    crop = (slice(_MARGIN, -_MARGIN), slice(_MARGIN, -_MARGIN))
    return Item(
        name=name,
        sources=[from_float(np.clip(s[crop], 0.0, 1.0), np.uint8) for s in sources],
        truth=from_float(np.clip(truth[crop], 0.0, 1.0), np.uint8),
        truth_mask=np.ascontiguousarray(mask[crop], dtype=np.float32),
        foreground=None if foreground is None else np.ascontiguousarray(foreground[crop]),
    )


def synthetic_item(rng: np.random.Generator, photos: list[np.ndarray], name: str,
                   cfg: SynthesisConfig | None = None) -> Item:
    """One pair made the way :func:`~gacn.training.synthesis.make_pair` makes training pairs,
    with its all-in-focus truth.

    A random window of a random photo, a random blob mask (with thin structures and holes with
    probability ``cfg.thin_prob``) and a random blur (ranges of ``cfg``); with probability
    ``cfg.occlusion_prob`` an occlusion-correct pair (background: the same or another photo,
    sometimes darkened), else the method's recipe. The same gain and bias
    are applied to the sources and the truth, and the sources may be swapped and flipped.
    Unlike training pairs there is no sensor noise, JPEG round trip, focus breathing or offset
    between the sources, so that the truth stays exact and aligned.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice.
    photos : list of ndarray
        float32 RGB photos in 0..1.
    name : str
        The item's name.
    cfg : SynthesisConfig, optional
        ``size`` is the side of the pair; the mask, blur and occlusion ranges are used. Default:
        ``SynthesisConfig(size=256)``.

    Returns
    -------
    Item
        uint8 RGB sources and truth, and the truth mask.
    """
    cfg = cfg or SynthesisConfig(size=256)
    side = cfg.size + 2 * _MARGIN
    sharp = _window(rng, photos[int(rng.integers(len(photos)))], side, cfg.scale)
    mask = blob_mask(rng, (side, side))
    if rng.random() < cfg.thin_prob:
        mask = thin_structures(rng, mask)
    kind, amount = _pick_blur(rng, cfg)
    if rng.random() < cfg.occlusion_prob:
        bg = _window(rng, photos[int(rng.integers(len(photos)))], side, cfg.scale) if rng.random() < 0.5 else sharp
        if rng.random() < 0.3:
            bg = bg * rng.uniform(0.05, 0.4)
        alpha = cv2.GaussianBlur(mask, (0, 0), 0.7)
        s1, s2, target, truth = _layered(sharp, bg, alpha, kind, amount)
    else:
        channels = [method_pair(np.ascontiguousarray(sharp[..., c]), mask, kind, amount) for c in range(3)]
        s1, s2 = (np.stack([ch[i] for ch in channels], axis=2) for i in range(2))
        target, truth = mask, sharp
    gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-0.15, 0.15)
    s1, s2, truth = (x * gain + bias for x in (s1, s2, truth))
    if rng.random() < 0.5:
        s1, s2, target = s2, s1, 1.0 - target
    if rng.random() < 0.5:
        s1, s2, truth, target = (x[:, ::-1] for x in (s1, s2, truth, target))
    return _to_item(name, [s1, s2], truth, target)


def halo_item(rng: np.random.Generator, fg_photo: np.ndarray, bg_photo: np.ndarray, name: str,
              size: int = 256) -> Item:
    """An occlusion scene that provokes halos: a bright defocused foreground over a dark sharp
    background.

    The foreground is ``fg_photo`` lifted towards white, the background ``bg_photo`` darkened by
    a factor 0.1-0.3, the foreground's shape a random blob (alpha softened by a 0.7 px Gaussian),
    the blur a disc of radius 4-12 px. Source 1 = ``blur(fg α) + bg (1 - blur(α))`` (background in
    focus: the bright foreground spills over it), source 2 = ``fg α + blur(bg) (1 - α)``, truth =
    ``fg α + bg (1 - α)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice.
    fg_photo, bg_photo : ndarray
        float32 RGB photos in 0..1.
    name : str
        The item's name.
    size : int
        Side of the pair.

    Returns
    -------
    Item
        uint8 RGB sources and truth, the truth mask and the foreground (``α > 0.5``).
    """
    side = size + 2 * _MARGIN
    fg = 1.0 - (1.0 - _window(rng, fg_photo, side, (0.5, 1.0))) * rng.uniform(0.3, 0.6)
    bg = _window(rng, bg_photo, side, (0.5, 1.0)) * rng.uniform(0.1, 0.3)
    alpha = cv2.GaussianBlur(blob_mask(rng, (side, side)), (0, 0), 0.7)
    near, far, target, truth = _layered(fg, bg, alpha, "disc", rng.uniform(4.0, 12.0))
    return _to_item(name, [far, near], truth, 1.0 - target, alpha > 0.5)


def synthetic_set(count: int = 10, size: int = 256) -> Dataset:
    """The ``synthetic`` dataset: ``count`` pairs of :func:`synthetic_item`, seeds fixed."""
    photos = [skimage_photo(n) for n in SCENE_PHOTOS + TEXTURE_PHOTOS[:1]]
    cfg = SynthesisConfig(size=size)
    items = [synthetic_item(np.random.default_rng([_SYNTHETIC_SEED, i]), photos, f"synthetic_{i:02d}", cfg)
             for i in range(count)]
    return Dataset("synthetic", items, f"{count} generated pairs ({size}x{size}) made like the training pairs "
                                       "(method's recipe or occlusion-correct defocus), with the all-sharp truth")


def halo_set(count: int = 10, size: int = 256) -> Dataset:
    """The ``halo`` dataset: ``count`` scenes of :func:`halo_item`, seeds fixed."""
    fgs = [skimage_photo(n) for n in SCENE_PHOTOS]
    bgs = [skimage_photo(n) for n in TEXTURE_PHOTOS]
    items = [halo_item(np.random.default_rng([_HALO_SEED, i]), fgs[i % len(fgs)], bgs[i % len(bgs)],
                       f"halo_{i:02d}", size) for i in range(count)]
    return Dataset("halo", items, f"{count} generated occlusion scenes ({size}x{size}): bright foreground "
                                  "defocused by a disc of radius 4-12 px over a dark sharp background")


def halo_band(foreground: np.ndarray, width: int = HALO_BAND) -> np.ndarray:
    """The band of ``width`` pixels just outside the foreground, where a defocused bright
    foreground spills over the background.

    Parameters
    ----------
    foreground : ndarray
        bool (H, W).
    width : int
        Band width in pixels (dilation by a disc of this radius).

    Returns
    -------
    ndarray
        bool (H, W): dilated foreground minus the foreground.

    Examples
    --------
    >>> fg = np.zeros((40, 40), bool); fg[15:25, 15:25] = True
    >>> band = halo_band(fg, 5)
    >>> bool((band & fg).any()), int(band[20, 8:15].sum()), bool(band[20, 9])
    (False, 5, False)
    """
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    grown = cv2.dilate(foreground.astype(np.uint8), disc).astype(bool)
    return grown & ~foreground


def band_psnr(fused: np.ndarray, truth: np.ndarray, band: np.ndarray) -> float:
    """PSNR (dB) of ``fused`` against ``truth`` over the pixels of ``band`` only.

    Data range from the dtype (255 for uint8); ``inf`` where they agree exactly; higher is better.
    """
    return psnr(fused[band], truth[band])


def _pair_items(folder: Path) -> list[Item]:
    """The ``NAME_1`` / ``NAME_2`` pairs of a folder as items without ground truth."""
    return [Item(name, [read_image(p1), read_image(p2)]) for name, p1, p2 in find_pairs(folder).pairs]


def _triple_items(folder: Path) -> list[Item]:
    """One item per sub-folder holding two or more images (sorted by name: focus order)."""
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    items = []
    for scene in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in scene.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff"})
        if len(files) >= 2:
            items.append(Item(scene.name, [read_image(p) for p in files]))
    if not items:
        raise InputError(f"no scene folders with two or more images in {folder}")
    return items


def apply_gain(image: np.ndarray, gain: float | tuple[float, ...]) -> np.ndarray:
    """A uint8 image with its exposure changed: ``clip(image * gain, 0, 255)`` rounded back to uint8.

    ``gain`` is one factor, or one per channel (a colour cast) for an RGB image.

    Examples
    --------
    >>> apply_gain(np.array([[10, 100, 200]], np.uint8), 1.4)
    array([[ 14, 140, 255]], dtype=uint8)
    >>> apply_gain(np.full((1, 1, 3), 100, np.uint8), (1.1, 1.0, 0.85))[0, 0]
    array([110, 100,  85], dtype=uint8)
    """
    if image.dtype != np.uint8:
        raise InputError(f"apply_gain expects a uint8 image, got {image.dtype}")
    factor = np.asarray(gain, dtype=np.float64)
    if factor.ndim and (image.ndim != 3 or image.shape[2] != factor.size):
        raise InputError(f"{factor.size} channel gains for an image of shape {image.shape}")
    return np.clip(np.rint(image * factor), 0, 255).astype(np.uint8)


def _exposure_items(pairs: Path) -> list[Item]:
    """Each pair of ``pairs`` once per :data:`EXPOSURE_SHIFTS` entry, that source's gain changed;
    named ``NAME_s1x0.65`` (source 1 times 0.65)."""
    items = []
    for item in _pair_items(pairs):
        for index, gain in EXPOSURE_SHIFTS:
            sources = list(item.sources)
            sources[index] = apply_gain(sources[index], gain)
            items.append(Item(f"{item.name}_s{index + 1}x{gain:g}", sources))
    return items


def _defocus_items(stacks: Path) -> list[Item]:
    """Pairs of frames far apart in a real focus sweep, the second registered onto the first
    (ECC, affine: the sweeps breathe), cropped to the area both cover and downscaled."""
    items = []
    for folder, first, second, scale in DEFOCUS_PAIRS:
        a, b = (read_image(stacks / folder / f"{stem}.jpg") for stem in (first, second))
        matrix = estimate_transform(to_gray_float(a), to_gray_float(b))
        box = common_box([np.eye(2, 3, dtype=np.float32), matrix], a.shape[:2])
        pair = [a[box], warp_image(b, matrix)[box]]
        size = (round(pair[0].shape[1] * scale), round(pair[0].shape[0] * scale))
        items.append(Item(f"{first}_{second}",
                          [cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in pair]))
    return items


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load (or generate) one dataset of :data:`DATASET_NAMES`.

    Parameters
    ----------
    name : str
        ``lytro``, ``classic``, ``triples``, ``synthetic``, ``halo``, ``defocus`` or ``exposure``.
    data_dir : str or Path, optional
        The shared data folder (for the real sets); :func:`default_data_dir` by default.

    Raises
    ------
    InputError
        Unknown name, or a real set's folder missing or empty.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if name == "lytro":
        return Dataset(name, _pair_items(root / "pairs" / "lytro"),
                       "real Lytro pairs (Nejati et al., Information Fusion 25, 2015), no ground truth")
    if name == "classic":
        return Dataset(name, _pair_items(root / "pairs" / "classic"),
                       "classic pairs of the literature (flower, temple, clock, lab, t5, t70), no ground truth")
    if name == "triples":
        return Dataset(name, _triple_items(root / "triples"),
                       "Lytro triple series (3 focal planes per scene, Nejati et al. 2015), no ground truth")
    if name == "synthetic":
        return synthetic_set()
    if name == "halo":
        return halo_set()
    if name == "defocus":
        return Dataset(name, _defocus_items(root / "stacks"),
                       "real pairs with strong defocus: frames far apart in the pcb (7 frames, Aimonen 2019) and "
                       "microscope V-4 (65 frames) focus sweeps, the second registered onto the first, half size; "
                       "no ground truth")
    if name == "exposure":
        return Dataset(name, _exposure_items(root / "pairs" / "lytro"),
                       "the Lytro pairs with one source's exposure changed (`NAME_s1x0.65`: source 1 times 0.65; "
                       "`NAME_s2x1.4`: source 2 times 1.4, clipped), no ground truth; `SEAM` is the flat-area seam "
                       "ratio (mean gradient of the fused image where both sources are flat over the sources' "
                       "larger one: about 1 clean, higher with every blotch edge); crops of the worst pairs before and "
                       "after exposure matching and flat-area decisions: `docs/exposure_crops.png` "
                       "(`python benchmarks/bench_exposure.py --crops docs/exposure_crops.png`)", SEAM_METRICS)
    raise InputError(f"unknown dataset {name!r}: use one of {', '.join(DATASET_NAMES)}")
