"""Synthetic multi-focus pairs with a known decision map, made on the fly from sharp photos.

Two ways of making a pair from a sharp photo ``I`` and a focus mask ``M`` are mixed:

* the method's recipe: source 1 = ``M * I + (1 - M) * blur(I)`` and source 2 =
  ``S * blur(I) + (1 - S) * I`` with ``S`` the mask softened by a Gaussian (sigma 8);
  the target is ``M``;
* occlusion-correct defocus: a foreground layer ``fg`` with alpha ``a`` over a background
  ``bg``. The far-focused source is ``blur(fg * a) + bg * (1 - blur(a))`` (the blurred
  foreground spreads over the sharp background, as a real lens does) and the near-focused
  source ``fg * a + blur(bg) * (1 - a)``. Near the edge the target is whichever source is
  locally closer to the all-in-focus truth ``fg * a + bg * (1 - a)``. With probability
  ``glow`` the foreground is lifted towards white and the background darkened, so the defocused
  foreground glows over it (the scene that gives other stackers their halos).

Blur is Gaussian or a disc (defocus) kernel with a wide range of radii, and the usual
augmentations are applied: a random downscale of the photo, rotation by multiples of 30 degrees, flips, a small offset of one
source, brightness/contrast jitter (and, for half the pairs, an exposure difference of up to
``exposure`` in log gain between the sources, as between the frames of a real focus stack), sensor
noise and a random swap of the sources.

All arrays are float32 gray images in 0..1; the target is 1 where source 1 is in focus.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np

from gacn.io import to_gray_float


@dataclass
class Photo:
    """A sharp gray photo in 0..1 and its integer segment label map (or None)."""

    image: np.ndarray
    labels: np.ndarray | None


@dataclass(frozen=True)
class SynthesisConfig:
    """Ranges of the random choices made for each pair."""

    size: int = 112
    occlusion_prob: float = 0.5
    blob_prob: float = 0.3
    disc_prob: float = 0.5
    gauss_sigma: tuple[float, float] = (1.0, 5.0)
    disc_radius: tuple[float, float] = (1.5, 15.0)
    noise_std: tuple[float, float] = (0.0, 0.02)
    max_offset: int = 2
    rotate: bool = True
    scale: tuple[float, float] = (0.5, 1.0)
    thin_prob: float = 0.25
    jpeg_prob: float = 0.25
    breathing: float = 0.02
    exposure: float = 0.1
    glow: float = 0.0


def load_bsds(root: str | Path, split: str) -> list[Photo]:
    """Load the photos of one BSDS500 split with their segmentations.

    Parameters
    ----------
    root : str or Path
        Either the ``bsds500`` folder or a data folder containing ``train/bsds500``.
    split : {'train', 'val', 'test'}
        Which split to load.

    Returns
    -------
    list of Photo
    """
    root = Path(root)
    if (root / "train" / "bsds500").is_dir():
        root = root / "train" / "bsds500"
    image_dir = root / "images" / split
    if not image_dir.is_dir():
        raise FileNotFoundError(f"no BSDS500 images at {image_dir}")
    photos = []
    for path in sorted(image_dir.glob("*.jpg")):
        seg_path = root / "segments" / split / (path.stem + ".png")
        labels = iio.imread(seg_path).astype(np.int32) if seg_path.exists() else None
        photos.append(Photo(to_gray_float(iio.imread(path)), labels))
    if not photos:
        raise FileNotFoundError(f"no .jpg photos in {image_dir}")
    return photos


def disc_kernel(radius: float) -> np.ndarray:
    """Normalised anti-aliased disc (pillbox) of the given radius: a defocus PSF."""
    r = int(np.ceil(radius))
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    kernel = np.clip(radius + 0.5 - np.sqrt(x * x + y * y), 0.0, 1.0)
    return kernel / kernel.sum()


def blur(image: np.ndarray, kind: str, amount: float) -> np.ndarray:
    """Blur with a Gaussian of sigma ``amount`` or a disc of radius ``amount``."""
    if kind == "gauss":
        return cv2.GaussianBlur(image, (0, 0), amount, borderType=cv2.BORDER_REFLECT)
    return cv2.filter2D(image, -1, disc_kernel(amount), borderType=cv2.BORDER_REFLECT)


def _drop_specks(mask: np.ndarray, min_area: float) -> np.ndarray:
    """``mask`` with every connected part of it, or of its complement, smaller than ``min_area``
    pixels given to the side around it."""
    out = mask.copy()
    for value in (1.0, 0.0):
        _, comp, stats, _ = cv2.connectedComponentsWithStats((out == value).astype(np.uint8), connectivity=8)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        small = small[small > 0]
        if len(small):
            out[np.isin(comp, small)] = 1.0 - value
    return out


def blob_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Random smooth blob(s) covering 30-70 % of the area, sometimes with rough outlines.

    Parts smaller than 1 % of the area are merged into their surroundings: focus maps have
    no speckle (thin parts and holes are added on purpose by :func:`thin_structures`).
    """
    for _ in range(8):
        noise = rng.standard_normal(shape).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), rng.uniform(4.0, 20.0))
        if rng.random() < 0.3:
            fine = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 3.0)
            smooth = smooth / (smooth.std() + 1e-6) + 0.4 * fine / (fine.std() + 1e-6)
        level = np.quantile(smooth, rng.uniform(0.3, 0.7))
        mask = _drop_specks((smooth > level).astype(np.float32), 0.01 * smooth.size)
        if 0.3 <= mask.mean() <= 0.7:
            break
    return mask


def segment_mask(rng: np.random.Generator, labels: np.ndarray, min_share: float = 0.01
                 ) -> np.ndarray | None:
    """Union of random segments covering 30-70 % of the area, or None if none is found.

    Parts of the union (or of its complement) smaller than ``min_share`` of the area take the
    side around them. A fine-grained human segmentation has regions such as window panes,
    leaves or pebbles, often one label for many scattered pieces; a depth of field follows
    surfaces, not such details, and a union of them is a speckle pattern that no focus map
    has. Deliberate thin structures and holes are added separately (:func:`thin_structures`).
    """
    ids, counts = np.unique(labels, return_counts=True)
    if len(ids) < 2:
        return None
    total = labels.size
    for _ in range(8):
        order = rng.permutation(len(ids))
        chosen, area = [], 0
        for i in order:
            if area + counts[i] <= 0.7 * total:
                chosen.append(ids[i])
                area += counts[i]
            if area >= 0.3 * total and rng.random() < 0.5:
                break
        mask = _drop_specks(np.isin(labels, chosen).astype(np.float32), min_share * total)
        if 0.3 <= mask.mean() <= 0.7:
            return mask
    return None


def _window(
    rng: np.random.Generator, photo: Photo, side: int, rotate: bool, scale: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Random square window of ``side`` pixels of the photo resized by a random factor in ``scale``,
    optionally rotated by a multiple of 30 degrees."""
    img, lab = photo.image, photo.labels
    factor = rng.uniform(*scale)
    if factor != 1.0:
        size = (max(int(round(img.shape[1] * factor)), 1), max(int(round(img.shape[0] * factor)), 1))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        if lab is not None:
            lab = cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST)
    angle = 30.0 * rng.integers(0, 12) if rotate else 0.0
    need = int(np.ceil(side * (abs(np.cos(np.radians(angle))) + abs(np.sin(np.radians(angle)))))) + 2
    h, w = img.shape
    if min(h, w) < need:
        scale = need / min(h, w)
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        if lab is not None:
            lab = cv2.resize(lab, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
        h, w = img.shape
    y0 = int(rng.integers(0, h - need + 1))
    x0 = int(rng.integers(0, w - need + 1))
    img = img[y0 : y0 + need, x0 : x0 + need]
    lab = None if lab is None else lab[y0 : y0 + need, x0 : x0 + need]
    if angle % 90 != 0:
        centre = (need / 2 - 0.5, need / 2 - 0.5)
        rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
        img = cv2.warpAffine(img, rot, (need, need), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if lab is not None:
            lab = cv2.warpAffine(lab.astype(np.float32), rot, (need, need), flags=cv2.INTER_NEAREST,
                                 borderMode=cv2.BORDER_REFLECT).astype(np.int32)
    else:
        k = int(angle // 90)
        img = np.rot90(img, k)
        lab = None if lab is None else np.rot90(lab, k)
    o = (need - side) // 2
    img = np.ascontiguousarray(img[o : o + side, o : o + side])
    lab = None if lab is None else np.ascontiguousarray(lab[o : o + side, o : o + side])
    return img, lab


def thin_structures(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Toggle a few thin lines (1-3 px: stems, wires, hairs) and small holes in a binary mask.

    Focus boundaries in real scenes are not all smooth region outlines; thin in-focus parts
    in front of a blurred background, and holes through which it shows, are where fusion
    methods miss small objects.
    """
    h, w = mask.shape
    toggle = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        p0 = (int(rng.integers(w)), int(rng.integers(h)))
        p1 = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.line(toggle, p0, p1, 1, int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(0, 4))):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.circle(toggle, centre, int(rng.integers(3, max(4, min(h, w) // 10))), 1, -1)
    return np.where(toggle > 0, 1.0 - mask, mask).astype(np.float32)


def _pick_mask(rng: np.random.Generator, labels: np.ndarray | None, shape: tuple[int, int],
               blob_prob: float, thin_prob: float) -> np.ndarray:
    mask = None
    if labels is not None and rng.random() >= blob_prob:
        mask = segment_mask(rng, labels)
    mask = blob_mask(rng, shape) if mask is None else mask
    return thin_structures(rng, mask) if rng.random() < thin_prob else mask


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (float 0..1, gray) after a JPEG round trip at ``quality``."""
    ok, buf = cv2.imencode(".jpg", np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def breathe(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale ``image`` about its centre by ``factor``, same size (focus breathing)."""
    h, w = image.shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, factor)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _pick_blur(rng: np.random.Generator, cfg: SynthesisConfig) -> tuple[str, float]:
    if rng.random() < cfg.disc_prob:
        lo, hi = cfg.disc_radius
        return "disc", float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    lo, hi = cfg.gauss_sigma
    return "gauss", float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def method_pair(sharp: np.ndarray, mask: np.ndarray, kind: str, amount: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The method's recipe: source 1 sharp inside ``mask``, source 2 sharp outside its softened copy.

    Returns ``(source1, source2, target)`` with ``target = mask``.
    """
    blurred = blur(sharp, kind, amount)
    soft = cv2.GaussianBlur(mask, (0, 0), 8.0, borderType=cv2.BORDER_REFLECT)
    s1 = mask * sharp + (1.0 - mask) * blurred
    s2 = soft * blurred + (1.0 - soft) * sharp
    return s1, s2, mask.copy()


def occlusion_pair(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, kind: str, amount: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Occlusion-correct defocus of a foreground layer over a background.

    Returns ``(near, far, target, truth)``: ``near`` has the foreground in focus, ``far`` the
    background; ``target`` is 1 where ``near`` is the better choice.
    """
    far = blur(fg * alpha, kind, amount) + bg * (1.0 - blur(alpha, kind, amount))
    near = fg * alpha + blur(bg, kind, amount) * (1.0 - alpha)
    truth = fg * alpha + bg * (1.0 - alpha)
    err_near = cv2.blur(np.abs(near - truth), (3, 3))
    err_far = cv2.blur(np.abs(far - truth), (3, 3))
    spread = blur(alpha, kind, amount)
    edge = (np.abs(spread - alpha) > 0.02) & (np.abs(err_near - err_far) > 1e-3)
    target = np.where(edge, (err_near < err_far).astype(np.float32), (alpha > 0.5).astype(np.float32))
    return near, far, target.astype(np.float32), truth


def make_pair(rng: np.random.Generator, photos: list[Photo], cfg: SynthesisConfig = SynthesisConfig()
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make one random training pair.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice (so a pair is reproducible from the generator state).
    photos : list of Photo
        Sharp photos to draw from.
    cfg : SynthesisConfig
        Ranges of the random choices.

    Returns
    -------
    source1, source2, target : ndarray
        float32 arrays of shape (size, size); ``target`` is 1 where source 1 is in focus.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> photo = Photo(np.random.default_rng(1).random((200, 200), dtype=np.float32), None)
    >>> a, b, m = make_pair(rng, [photo])
    >>> a.shape, m.dtype
    ((112, 112), dtype('float32'))
    """
    margin = 24
    side = cfg.size + 2 * cfg.max_offset + 2 * margin
    photo = photos[int(rng.integers(len(photos)))]
    sharp, labels = _window(rng, photo, side, cfg.rotate, cfg.scale)
    mask = _pick_mask(rng, labels, sharp.shape, cfg.blob_prob, cfg.thin_prob)
    kind, amount = _pick_blur(rng, cfg)
    if rng.random() < cfg.occlusion_prob:
        if rng.random() < 0.5:
            bg, _ = _window(rng, photos[int(rng.integers(len(photos)))], side, cfg.rotate, cfg.scale)
        else:
            bg = sharp
        if cfg.glow and rng.random() < cfg.glow:
            sharp = 1.0 - (1.0 - sharp) * rng.uniform(0.3, 0.6)
            bg = bg * rng.uniform(0.05, 0.3)
        elif rng.random() < 0.3:
            bg = bg * rng.uniform(0.05, 0.4)
        alpha = cv2.GaussianBlur(mask, (0, 0), 0.7)
        s1, s2, target, _ = occlusion_pair(sharp, bg, alpha, kind, amount)
    else:
        s1, s2, target = method_pair(sharp, mask, kind, amount)

    if cfg.breathing and rng.random() < 0.3:
        s2 = breathe(s2, float(1.0 + rng.uniform(-cfg.breathing, cfg.breathing)))
    if cfg.max_offset:
        dy, dx = rng.integers(-cfg.max_offset, cfg.max_offset + 1, size=2)
        s2 = np.roll(s2, (int(dy), int(dx)), axis=(0, 1))
    o = margin + cfg.max_offset
    crop = (slice(o, o + cfg.size), slice(o, o + cfg.size))
    s1, s2, target = s1[crop], s2[crop], target[crop]

    gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-0.15, 0.15)
    gain2 = gain
    if cfg.exposure and rng.random() < 0.5:
        gain2 = gain * float(np.exp(rng.uniform(-cfg.exposure, cfg.exposure)))
    std = rng.uniform(*cfg.noise_std)
    s1 = s1 * gain + bias + rng.normal(0.0, std, s1.shape)
    s2 = s2 * gain2 + bias + rng.normal(0.0, std, s2.shape)
    if rng.random() < cfg.jpeg_prob:
        quality = int(rng.integers(50, 96))
        s1, s2 = jpeg(np.clip(s1, 0, 1), quality), jpeg(np.clip(s2, 0, 1), quality)
    if rng.random() < 0.5:
        s1, s2, target = s2, s1, 1.0 - target
    if rng.random() < 0.5:
        s1, s2, target = s1[:, ::-1], s2[:, ::-1], target[:, ::-1]
    return (np.clip(s1, 0, 1).astype(np.float32).copy(), np.clip(s2, 0, 1).astype(np.float32).copy(),
            target.astype(np.float32).copy())


def make_batch(rng: np.random.Generator, photos: list[Photo], batch: int,
               cfg: SynthesisConfig = SynthesisConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack ``batch`` pairs into arrays of shape (batch, 1, size, size)."""
    pairs = [make_pair(rng, photos, cfg) for _ in range(batch)]
    return tuple(np.stack([p[i] for p in pairs])[:, None] for i in range(3))  # type: ignore[return-value]
