"""Native-detail benchmark sets: focus pairs and stacks at 2-24 MP with a known truth, every pixel
real camera detail.

The generated sets of :mod:`gacn.evaluation.datasets` are made at about 0.3 MP; enlarging them to
a big frame (as ``benchmarks/bench_budget.py`` does) makes blur widths and boundaries grow with
the resolution but leaves no fine detail: every 24 MP pixel is interpolated. Here a big frame is
filled with real photos at their own resolution instead: the BSDS500 ``test`` photos (481x321,
portrait ones turned a quarter turn), side by side in rows with random offsets and flips
(:func:`tile`). Two kinds of scene are built from such tilings:

**Pairs with two depth layers** (:func:`make_pair`, cached by :func:`native_pair`): a foreground
tiling F, a background tiling B, and a smooth random blob mask M over 30-70 % of the frame
(:func:`blob_mask`). With D an occlusion-correct disc defocus of radius r (a normalised pillbox,
:func:`disc_blur`), the near-focused frame is ``I1 = M F + (1 - M) D(B)``, the far-focused
frame ``I2 = D(M F) + (1 - D(M)) B`` (the blurred foreground spills over the sharp background,
as a real defocused occluder does), the all-in-focus truth ``T = M F + (1 - M) B`` and the truth
map M. The **oracle** is the fusion under the true map, ``M I1 + (1 - M) I2``: equal to T
except in the band outside M where the foreground's blur covers the background, which neither
frame shows sharp. It is not a ceiling: in that band the near frame's blurred background
``D(B)`` is often closer to B than the far frame's mix of B with the blurred foreground, so a
fusion that takes the near frame there (or blends) can score above the oracle.

**Stacks with a continuous-depth surface** (:func:`native_surface_stack`): a tiling as the sharp
photo of :func:`gacn.fusion.synthetic.make_surface_stack` (a smooth depth surface equalised so
that every frame is the truth over the same area; Gaussian defocus per frame).

The photos are read at run time from ``$GACN_DATA`` (default ``../shared/data``); nothing is
copied into the repository. Generated sets are cached as PNG frames and ``.npy`` truth under
``$GACN_NATIVE_CACHE`` (default ``~/.cache/gacn-native``), one folder per parameter set, so a
24 MP pair is made once (about 30 s on 2 cores) and then loaded in seconds.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> photos = [np.full((30, 40, 3), v, np.uint8) for v in (40, 200)]
>>> fg, bg = tile(photos[:1], (64, 96), rng), tile(photos[1:], (64, 96), rng)
>>> pair = make_pair(fg, bg, blob_mask((64, 96), rng), radius=4)
>>> pair.near.shape, bool(np.array_equal(pair.near[pair.mask], fg[pair.mask]))
((64, 96, 3), True)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from gacn.evaluation.datasets import default_data_dir
from gacn.fusion.synthetic import SyntheticStack, make_surface_stack
from gacn.training.synthesis import disc_kernel

#: Frame sizes (H, W) by name: the usual camera formats of 6, 12 and 24 MP and the 1600x1200 of
#: the microscope sweep.
FRAME_SIZES: dict[str, tuple[int, int]] = {
    "1600x1200": (1200, 1600),
    "6": (2000, 3000),
    "12": (2832, 4256),
    "24": (4000, 6000),
}

#: Version of the generators, part of every cache key: bump it when their output changes.
VERSION = 1

#: Side (pixels) of the low-resolution noise field whose smoothed, enlarged threshold is the mask.
_MASK_GRID = 48


def default_cache_dir() -> Path:
    """Where generated sets are kept: ``$GACN_NATIVE_CACHE``, else ``~/.cache/gacn-native``."""
    return Path(os.environ.get("GACN_NATIVE_CACHE", Path.home() / ".cache" / "gacn-native"))


def frame_size(name: str) -> tuple[int, int]:
    """(H, W) of a size name: a key of :data:`FRAME_SIZES` or ``WxH``.

    Examples
    --------
    >>> frame_size("24"), frame_size("640x427")
    ((4000, 6000), (427, 640))
    """
    if name in FRAME_SIZES:
        return FRAME_SIZES[name]
    w, h = (int(v) for v in name.lower().split("x"))
    return h, w


@lru_cache(maxsize=2)
def _load_photos(folder: str) -> tuple[np.ndarray, ...]:
    files = sorted(Path(folder).glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no BSDS500 photos in {folder}")
    return tuple(np.ascontiguousarray(cv2.imread(str(f), cv2.IMREAD_COLOR)[..., ::-1]) for f in files)


def bsds_photos(root: Path | None = None, split: str = "test") -> tuple[np.ndarray, ...]:
    """The BSDS500 photos of ``split`` as uint8 RGB, landscape (portrait ones turned a quarter
    turn, which keeps every pixel), in file-name order.

    Raises
    ------
    FileNotFoundError
        When the folder ``root/train/bsds500/images/split`` has no photos.
    """
    root = default_data_dir() if root is None else Path(root)
    photos = _load_photos(str(root / "train" / "bsds500" / "images" / split))
    return tuple(np.rot90(p) if p.shape[0] > p.shape[1] else p for p in photos)


def tile(photos: Sequence[np.ndarray], size: tuple[int, int], rng: np.random.Generator,
         flip: bool = True) -> np.ndarray:
    """Fill a frame with photos at their own resolution, side by side: a native-detail image.

    Rows as tall as the tallest photo are filled left to right with photos drawn at random
    (each randomly mirrored left-right and up-down with ``flip``); every row starts at its own
    random offset and the frame starts at a random offset into the first row, so two tilings
    have their seams in different places. Photos are never resized; a shorter one is
    centred in its row on a mirrored copy of itself.

    Parameters
    ----------
    photos : sequence of ndarray
        uint8 RGB photos.
    size : tuple of int
        (H, W) of the frame.
    rng : numpy Generator
        Draws photos, flips and offsets.
    flip : bool
        Mirror photos at random.

    Returns
    -------
    ndarray
        uint8 (H, W, 3).

    Examples
    --------
    >>> photos = [np.full((20, 30, 3), v, np.uint8) for v in (10, 20, 30)]
    >>> sorted(np.unique(tile(photos, (50, 70), np.random.default_rng(0))).tolist())
    [10, 20, 30]
    """
    h, w = size
    row_h = max(p.shape[0] for p in photos)
    out = np.empty((h, w, 3), np.uint8)
    y = -int(rng.integers(0, row_h))
    while y < h:
        row = []
        lead = int(rng.integers(0, max(p.shape[1] for p in photos)))  # the row starts this far left
        x = -lead
        while x < w:
            p = photos[int(rng.integers(len(photos)))]
            if flip:
                p = p[:: rng.choice((-1, 1)), :: rng.choice((-1, 1))]
            if p.shape[0] < row_h:
                above = (row_h - p.shape[0]) // 2
                p = np.pad(p, ((above, row_h - p.shape[0] - above), (0, 0), (0, 0)), mode="symmetric")
            row.append(p)
            x += p.shape[1]
        strip = np.concatenate(row, axis=1)
        a, b = max(y, 0), min(y + row_h, h)
        out[a:b] = strip[a - y:b - y, lead:lead + w]
        y += row_h
    return out


def blob_mask(size: tuple[int, int], rng: np.random.Generator, share: tuple[float, float] = (0.3, 0.7)
              ) -> np.ndarray:
    """A smooth random foreground mask covering a random share (in ``share``) of the frame.

    White noise on a grid of about 48 cells along the long side is blurred (sigma 4-7 cells: a
    few large shapes), enlarged to full size with bicubic interpolation (a smooth field, so the
    outline is smooth at every resolution) and thresholded at the quantile that leaves the
    drawn share above it.

    Returns
    -------
    ndarray
        bool (H, W), True on the foreground.

    Examples
    --------
    >>> m = blob_mask((300, 400), np.random.default_rng(1))
    >>> bool(0.3 <= m.mean() <= 0.7)
    True
    """
    h, w = size
    gh, gw = max(round(_MASK_GRID * h / max(h, w)), 4), max(round(_MASK_GRID * w / max(h, w)), 4)
    noise = cv2.GaussianBlur(rng.standard_normal((gh, gw)).astype(np.float32), (0, 0),
                             rng.uniform(4.0, 7.0), borderType=cv2.BORDER_REFLECT)
    field = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    step = max(1, round(np.sqrt(h * w / 1e6)))
    level = np.quantile(field[::step, ::step], 1.0 - rng.uniform(*share))
    return field > level


def disc_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """Defocus by a normalised disc (pillbox) of ``radius`` px, as float32 (mirrored borders).

    OpenCV filters in the Fourier domain for kernels this big, so a radius of 80 px costs about
    1.2 s per channel of a 24 MP frame on 2 cores.

    Examples
    --------
    >>> img = np.zeros((21, 21), np.float32); img[10, 10] = 1
    >>> round(float(disc_blur(img, 3).sum()), 4), float(disc_blur(img, 3)[10, 14])
    (1.0, 0.0)
    """
    return cv2.filter2D(image.astype(np.float32, copy=False), -1, disc_kernel(radius), borderType=cv2.BORDER_REFLECT)


@dataclass
class NativePair:
    """A two-layer pair with its truth (see the module docstring).

    Attributes
    ----------
    near, far : ndarray
        uint8 RGB frames: focused on the foreground layer (I1), on the background layer (I2).
    truth : ndarray
        uint8 RGB all-in-focus image T.
    mask : ndarray
        bool (H, W) truth map M: True where the near frame is the right choice.
    radius : float
        Disc radius of the defocus, px.
    files : dict of str to Path
        ``near``, ``far`` and ``truth`` PNG files when the pair came from the cache (for
        programs that read files); empty otherwise.
    """

    near: np.ndarray
    far: np.ndarray
    truth: np.ndarray
    mask: np.ndarray
    radius: float
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def frames(self) -> list[np.ndarray]:
        """The two frames in focus order, as :func:`gacn.fuse` takes them."""
        return [self.near, self.far]

    @property
    def oracle(self) -> np.ndarray:
        """The fusion under the true map: ``M I1 + (1 - M) I2``."""
        return np.where(self.mask[..., None], self.near, self.far)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_pair(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, radius: float) -> NativePair:
    """Two frames of a foreground layer over a background layer, focused on each in turn.

    Parameters
    ----------
    fg, bg : ndarray
        uint8 RGB layers of one size (tilings of :func:`tile`).
    mask : ndarray
        bool (H, W): where the foreground layer is.
    radius : float
        Disc radius of the defocus of the out-of-focus layer, px.

    Returns
    -------
    NativePair
        The near frame is ``fg`` exactly on the mask and the far frame ``bg`` exactly wherever
        the blurred mask is 0 (farther than ``radius`` from the mask).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fg, bg = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    >>> m = np.zeros((40, 40), bool); m[:, :20] = True
    >>> p = make_pair(fg, bg, m, 3)
    >>> bool((p.far[:, 24:] == bg[:, 24:]).all()), bool((p.truth == p.oracle).all())
    (True, False)
    """
    m = mask.astype(np.float32)[..., None]
    f = fg.astype(np.float32)
    b = bg.astype(np.float32)
    near = _to_uint8(m * f + (1 - m) * disc_blur(b, radius))
    spill = disc_blur(m[..., 0], radius)[..., None]
    far = _to_uint8(disc_blur(m * f, radius) + (1 - spill) * b)
    truth = np.where(mask[..., None], fg, bg)
    return NativePair(near, far, truth, mask.astype(bool), float(radius))


def _layers(size: tuple[int, int], seed: int, root: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The foreground and background tilings and the mask of a pair (the same for every radius):
    the photos are split at random into two halves, one per layer."""
    photos = bsds_photos(root)
    rng = np.random.default_rng([seed, *size])
    order = rng.permutation(len(photos))
    half = len(photos) // 2
    fg = tile([photos[i] for i in order[:half]], size, rng)
    bg = tile([photos[i] for i in order[half:]], size, rng)
    return fg, bg, blob_mask(size, rng)


def _write_png(path: Path, image: np.ndarray) -> None:
    bgr = image[..., ::-1] if image.ndim == 3 else image
    if not cv2.imwrite(str(path), np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"cannot write {path}")


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read {path}")
    return np.ascontiguousarray(image[..., ::-1])


def _cached(folder: Path, make, save) -> None:  # noqa: ANN001 - two callables, see the callers
    """Build the set of ``folder`` once: ``make()`` then ``save(tmp)`` into a temporary folder
    renamed into place, so that a run cut short leaves no half-written set."""
    if (folder / "done.json").is_file():
        return
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save(tmp, make())
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def native_pair(size: str | tuple[int, int], radius: float, seed: int = 0, root: Path | None = None,
                cache: Path | None = None) -> NativePair:
    """The native-detail pair of a size, disc radius and seed, made once and cached.

    The layers and the mask depend on the size and seed only, so the pairs of one size differ
    only by their blur.

    Parameters
    ----------
    size : str or tuple of int
        A size name (:func:`frame_size`: ``"6"``, ``"12"``, ``"24"``, ``"1600x1200"``, ``"WxH"``)
        or (H, W).
    radius : float
        Disc radius of the defocus, px.
    seed : int
        Seed of the layers and the mask.
    root : Path, optional
        The shared data folder (:func:`gacn.evaluation.datasets.default_data_dir` by default).
    cache : Path, optional
        Cache folder (:func:`default_cache_dir` by default).

    Returns
    -------
    NativePair
        With ``files`` set to the cached PNGs.
    """
    h, w = frame_size(size) if isinstance(size, str) else size
    folder = (default_cache_dir() if cache is None else Path(cache)) / f"pair-{w}x{h}-r{radius:g}-s{seed}-v{VERSION}"

    def make() -> NativePair:
        fg, bg, mask = _layers((h, w), seed, root)
        return make_pair(fg, bg, mask, radius)

    def save(tmp: Path, pair: NativePair) -> None:
        for name in ("near", "far", "truth"):
            _write_png(tmp / f"{name}.png", getattr(pair, name))
        np.save(tmp / "mask.npy", pair.mask)
        (tmp / "done.json").write_text(json.dumps({"size": [h, w], "radius": radius, "seed": seed,
                                                   "share": float(pair.mask.mean())}))

    _cached(folder, make, save)
    files = {name: folder / f"{name}.png" for name in ("near", "far", "truth")}
    return NativePair(_read_png(files["near"]), _read_png(files["far"]), _read_png(files["truth"]),
                      np.load(folder / "mask.npy"), float(radius), files)


def native_surface_stack(size: str | tuple[int, int], n_frames: int = 6, blur_per_frame: float = 1.6,
                         seed: int = 0, root: Path | None = None, cache: Path | None = None
                         ) -> tuple[SyntheticStack, list[Path]]:
    """A continuous-depth stack (:func:`gacn.fusion.synthetic.make_surface_stack`) of a
    native-detail tiling, made once and cached.

    Parameters
    ----------
    size : str or tuple of int
        As for :func:`native_pair`.
    n_frames, blur_per_frame, seed : see :func:`gacn.fusion.synthetic.make_surface_stack`
        (the seed also draws the tiling).
    root, cache : Path, optional
        As for :func:`native_pair`.

    Returns
    -------
    tuple of (SyntheticStack, list of Path)
        The stack and its frames' PNG files in focus order.
    """
    h, w = frame_size(size) if isinstance(size, str) else size
    folder = ((default_cache_dir() if cache is None else Path(cache))
              / f"surface-{w}x{h}-n{n_frames}-b{blur_per_frame:g}-s{seed}-v{VERSION}")

    def make() -> SyntheticStack:
        sharp = tile(bsds_photos(root), (h, w), np.random.default_rng([seed, h, w, n_frames]))
        return make_surface_stack(sharp, n_frames, (h, w), blur_per_frame, seed)

    def save(tmp: Path, stack: SyntheticStack) -> None:
        for k, frame in enumerate(stack.frames):
            _write_png(tmp / f"frame_{k:02d}.png", frame)
        _write_png(tmp / "sharp.png", stack.sharp)
        np.save(tmp / "depth.npy", stack.depth)
        (tmp / "done.json").write_text(json.dumps({"size": [h, w], "n_frames": n_frames,
                                                   "blur_per_frame": blur_per_frame, "seed": seed}))

    _cached(folder, make, save)
    files = [folder / f"frame_{k:02d}.png" for k in range(n_frames)]
    depth = np.load(folder / "depth.npy")
    focus = np.linspace(0.0, 1.0, n_frames).astype(np.float32)
    truth = np.clip(np.rint(depth * (n_frames - 1)), 0, n_frames - 1).astype(np.uint16)
    identity = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    stack = SyntheticStack([_read_png(f) for f in files], _read_png(folder / "sharp.png"), depth, focus, truth,
                           [identity.copy() for _ in files])
    return stack, files
