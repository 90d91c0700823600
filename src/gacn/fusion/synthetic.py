"""Synthetic focus stacks with ground truth, for tests and benchmarks.

A sharp photo (one that ships with scikit-image) gets a depth map made of smooth surfaces (a
tilted plane and a bump) and steps (two raised blocks); frame k is focused at depth
z_k = k / (n - 1) and every pixel is blurred by a Gaussian of sigma
``max_blur * |depth - z_k|`` (thin-lens defocus grows linearly with the distance to the focal
plane). Optional focus breathing scales and shifts each frame by a known amount.

:func:`make_surface_stack` makes the other kind: one continuous depth surface (no steps), never
resized photo pixels, and depth equalised so that every frame is the sharpest one over the same
share of the image (the kind of stack the issue's hidden test used: 6 frames, 640x427, Gaussian
sigma 1.6 px per frame of depth distance).

Examples
--------
>>> s = make_stack(n_frames=4, size=(48, 64))
>>> len(s.frames), s.frames[0].shape, int(s.truth.max())
(4, (48, 64, 3), 3)
>>> make_surface_stack(n_frames=3, size=(40, 60)).frames[2].shape
(40, 60, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import skimage.data

#: Blur levels (sigma, pixels) between which each pixel's blur is interpolated.
_LEVELS = (0.0, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.0, 9.0, 12.0)


@dataclass
class SyntheticStack:
    """A synthetic focus stack and its ground truth.

    Attributes
    ----------
    frames : list of ndarray
        uint8 RGB frames (H, W, 3), focus near to far.
    sharp : ndarray
        The sharp photo, uint8 (H, W, 3).
    depth : ndarray
        float32 depth in 0..1 per pixel (reference-frame geometry).
    focus : ndarray
        Focal depth of each frame.
    truth : ndarray
        uint16: the frame focused closest to each pixel's depth.
    matrices : list of ndarray
        (2, 3) transforms with ``frame_k(A @ [x, 1]) = aligned_k(x)`` (identity without breathing).
    """

    frames: list[np.ndarray]
    sharp: np.ndarray
    depth: np.ndarray
    focus: np.ndarray
    truth: np.ndarray
    matrices: list[np.ndarray]


def depth_map(shape: tuple[int, int]) -> np.ndarray:
    """A depth map in 0..1: tilted plane, Gaussian bump and two flat raised blocks (steps)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = y / max(h - 1, 1), x / max(w - 1, 1)
    d = 0.1 + 0.5 * x + 0.15 * y
    d += 0.35 * np.exp(-((x - 0.7) ** 2 + (y - 0.35) ** 2) / 0.02)
    d[int(0.55 * h):int(0.9 * h), int(0.1 * w):int(0.4 * w)] = 0.95
    d[int(0.1 * h):int(0.3 * h), int(0.1 * w):int(0.35 * w)] = 0.0
    return np.clip(d, 0.0, 1.0).astype(np.float32)


def _defocus(image: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Blur each pixel by its own Gaussian sigma (interpolating between fixed blur levels)."""
    f = image.astype(np.float32)
    out = np.zeros_like(f)
    sigma = np.clip(sigma, 0.0, _LEVELS[-1])
    prev = f
    for lo, hi in zip(_LEVELS[:-1], _LEVELS[1:]):
        nxt = cv2.GaussianBlur(f, (0, 0), hi, borderType=cv2.BORDER_REFLECT)
        inside = (sigma >= lo) & (sigma <= hi)
        t = ((sigma - lo) / (hi - lo))[..., None]
        out = np.where(inside[..., None], (1 - t) * prev + t * nxt, out)
        prev = nxt
    return out


def make_stack(
    photo: np.ndarray | None = None,
    n_frames: int = 6,
    size: tuple[int, int] = (192, 192),
    max_blur: float = 6.0,
    breathing: float = 0.0,
    shift: float = 0.0,
    seed: int = 0,
) -> SyntheticStack:
    """Build a synthetic focus stack with known depth, sharp photo and per-frame geometry.

    Parameters
    ----------
    photo : ndarray, optional
        uint8 RGB photo; scikit-image's astronaut by default. Resized to ``size``.
    n_frames : int
        Number of frames (focal planes evenly spread over depth 0..1).
    size : tuple of int
        (H, W) of the frames.
    max_blur : float
        Gaussian sigma (pixels) at depth distance 1 from the focal plane.
    breathing : float
        Scale change per frame away from the middle one (0.01 = 1 % per frame).
    shift : float
        Largest random shift per frame, in pixels (uniform in +-shift, both axes).
    seed : int
        Seed of the random shifts.

    Returns
    -------
    SyntheticStack

    Examples
    --------
    >>> s = make_stack(n_frames=3, size=(32, 32), breathing=0.01)
    >>> round(float(s.matrices[0][0, 0]), 3)
    0.99
    """
    if n_frames < 2:
        raise ValueError("a stack needs at least two frames")
    photo = skimage.data.astronaut() if photo is None else photo
    h, w = size
    sharp = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    depth = depth_map((h, w))
    focus = np.linspace(0.0, 1.0, n_frames).astype(np.float32)
    truth = np.argmin(np.abs(depth[None] - focus[:, None, None]), axis=0).astype(np.uint16)
    rng = np.random.default_rng(seed)
    mid = n_frames // 2
    frames, matrices = [], []
    for k, z in enumerate(focus):
        frame = _defocus(sharp, max_blur * np.abs(depth - z))
        scale = 1.0 + breathing * (k - mid)
        t = rng.uniform(-shift, shift, 2) if (shift and k != mid) else np.zeros(2)
        c = np.array([(w - 1) / 2, (h - 1) / 2])
        m = np.array([[scale, 0, 0], [0, scale, 0]], np.float32)
        m[:, 2] = c - scale * c + t
        if scale != 1.0 or t.any():
            frame = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        matrices.append(m.astype(np.float32))
    return SyntheticStack(frames, sharp, depth, focus, truth, matrices)


#: Rows per band of :func:`defocus_frames` (plus :data:`_BAND_MARGIN` above and below).
_BAND_ROWS = 256
#: Rows beyond a band's own that its blurs read: more than the reach of cv2's Gaussian kernel at
#: the largest blur level (4 sigma = 48 px), so bands put together equal the whole image's blur.
_BAND_MARGIN = 64


def defocus_frames(image: np.ndarray, sigmas: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Blur one sharp image by several per-pixel sigma maps at once: the frames of a stack.

    Each output is ``_defocus(image, sigma)`` (linear interpolation between the fixed blur levels
    :data:`_LEVELS`, as :func:`make_stack` blurs) rounded to uint8, to within a grey level of
    float rounding; but the blurred levels are
    computed once for all the maps and in horizontal bands, so that a 12 MP stack takes
    seconds per frame and memory of a few bands rather than a dozen full-size float copies.

    Parameters
    ----------
    image : ndarray
        uint8 (H, W, 3) or (H, W) sharp image.
    sigmas : sequence of ndarray
        float32 (H, W) Gaussian sigma in pixels per frame (clipped to the largest level, 12).

    Returns
    -------
    list of ndarray
        uint8 frames, one per sigma map, shaped like ``image``.

    Examples
    --------
    >>> img = np.zeros((8, 8), np.uint8); img[4, 4] = 255
    >>> sharp, soft = defocus_frames(img, [np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32)])
    >>> int(sharp[4, 4]), int(soft[4, 4]) < 255
    (255, True)
    """
    h = image.shape[0]
    top = max(float(s.max()) for s in sigmas)
    levels = [lv for lv in _LEVELS if lv <= top] + [lv for lv in _LEVELS if lv > top][:1]
    frames = [np.empty_like(image) for _ in sigmas]
    for y0 in range(0, h, _BAND_ROWS):
        y1 = min(y0 + _BAND_ROWS, h)
        a, b = max(y0 - _BAND_MARGIN, 0), min(y1 + _BAND_MARGIN, h)
        f = image[a:b].astype(np.float32)
        band = [np.clip(s[a:b], 0.0, _LEVELS[-1]) for s in sigmas]
        ranges = [(float(s.min()), float(s.max())) for s in band]
        outs = [np.zeros_like(f) for _ in sigmas]
        blurred = f
        for i, level in enumerate(levels):
            if level > 0:
                blurred = cv2.GaussianBlur(f, (0, 0), level, borderType=cv2.BORDER_REFLECT)
            below = levels[i - 1] if i > 0 else -np.inf
            above = levels[i + 1] if i + 1 < len(levels) else np.inf
            for out, sigma, (low, high) in zip(outs, band, ranges):
                if high <= below or low >= above:
                    continue
                # Hat weight of this level: 1 at the level, 0 at its neighbours (linear interpolation).
                weight = 1 - np.where(sigma < level, (level - sigma) / (level - below),
                                      (sigma - level) / (above - level))
                np.clip(weight, 0.0, 1.0, out=weight)
                out += (weight[..., None] if f.ndim == 3 else weight) * blurred
        for frame, out in zip(frames, outs):
            frame[y0:y1] = np.clip(np.rint(out[y0 - a:y0 - a + y1 - y0]), 0, 255)
    return frames


def surface_depth(shape: tuple[int, int], n_frames: int, seed: int = 0) -> np.ndarray:
    """A smooth depth surface, equalised so that every frame's plane is the nearest over the same area.

    A tilted plane (random direction) plus three broad Gaussian bumps or dents (random place,
    width and height), then histogram-equalised: the depth in frame units is uniform over
    ``-0.5 .. n_frames - 0.5``, so ``round(depth * (n_frames - 1))`` takes every index on
    1 / n_frames of the pixels. The returned depth is in focal-range units (frame k focused at
    k / (n_frames - 1)), hence slightly below 0 and above 1 at the two ends.

    Examples
    --------
    >>> d = surface_depth((60, 80), 4)
    >>> np.bincount(np.rint(d * 3).astype(int).ravel()).tolist()
    [1200, 1200, 1200, 1200]
    """
    h, w = shape
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = y / max(h, w), x / max(h, w)
    angle = rng.uniform(0.0, 2 * np.pi)
    d = np.cos(angle) * x + np.sin(angle) * y
    for _ in range(3):
        cy, cx = rng.uniform(0.15, 0.85, 2) * (h / max(h, w), w / max(h, w))
        width, height = rng.uniform(0.1, 0.25), rng.uniform(-0.6, 0.6)
        d += height * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    order = np.argsort(d, axis=None, kind="stable")
    rank = np.empty(d.size, np.float64)
    rank[order] = (np.arange(d.size) + 0.5) / d.size
    return ((rank.reshape(h, w) * n_frames - 0.5) / (n_frames - 1)).astype(np.float32)


def make_surface_stack(
    photo: np.ndarray | None = None,
    n_frames: int = 6,
    size: tuple[int, int] = (427, 640),
    blur_per_frame: float = 1.6,
    seed: int = 0,
) -> SyntheticStack:
    """A focus stack of one continuous depth surface, with every photo pixel at its own resolution.

    Frame k is focused at z_k = k / (n_frames - 1) and blurs each pixel by a Gaussian of sigma
    ``blur_per_frame * |depth - z_k| * (n_frames - 1)``: ``blur_per_frame`` px per frame of depth
    distance (1.6 in the issue's hidden stack). The depth (:func:`surface_depth`) is smooth
    with no steps, so the truth index changes along gentle slopes, and every frame is the
    truth on the same share of the image. The photo is never resized: a larger one is cropped
    at its top left, a smaller one mirrored (symmetric padding, no seams) to fill ``size``, so
    the detail is the camera's.

    Parameters
    ----------
    photo : ndarray, optional
        uint8 RGB photo; scikit-image's rocket (427x640) by default.
    n_frames : int
        Number of frames.
    size : tuple of int
        (H, W) of the frames.
    blur_per_frame : float
        Gaussian sigma in pixels per frame spacing of depth distance.
    seed : int
        Seed of the depth surface.

    Returns
    -------
    SyntheticStack
        With identity matrices (no breathing); ``truth`` is ``round(depth * (n_frames - 1))``.

    Examples
    --------
    >>> s = make_surface_stack(n_frames=4, size=(40, 60))
    >>> np.bincount(s.truth.ravel()).tolist(), index_accuracy(s.truth, s)
    ([600, 600, 600, 600], 1.0)
    """
    if n_frames < 2:
        raise ValueError("a stack needs at least two frames")
    photo = skimage.data.rocket() if photo is None else photo
    h, w = size
    pad = ((0, max(h - photo.shape[0], 0)), (0, max(w - photo.shape[1], 0))) + ((0, 0),) * (photo.ndim - 2)
    sharp = np.ascontiguousarray(np.pad(photo, pad, mode="symmetric")[:h, :w])
    depth = surface_depth((h, w), n_frames, seed)
    focus = np.linspace(0.0, 1.0, n_frames).astype(np.float32)
    truth = np.clip(np.rint(depth * (n_frames - 1)), 0, n_frames - 1).astype(np.uint16)
    scale = blur_per_frame * (n_frames - 1)
    frames = defocus_frames(sharp, [scale * np.abs(depth - z) for z in focus])
    identity = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    return SyntheticStack(frames, sharp, depth, focus, truth, [identity.copy() for _ in focus])


def texture_mask(image: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Pixels whose 7x7 local standard deviation of luma (0..1) exceeds ``threshold``."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0 if image.ndim == 3 else image
    mean = cv2.blur(g, (7, 7))
    var = cv2.blur(g * g, (7, 7)) - mean * mean
    return np.sqrt(np.maximum(var, 0)) > threshold


def index_accuracy(index: np.ndarray, stack: SyntheticStack, tolerance: float = 0.25) -> float:
    """Share of textured pixels whose chosen frame is (nearly) the sharpest one.

    A pick counts as right when its focal plane is no farther from the pixel's depth than the
    best one plus ``tolerance`` frame spacings (pixels half-way between two planes are equally
    sharp in both). Flat pixels (:func:`texture_mask`) carry no focus information and are left out.

    Examples
    --------
    >>> s = make_stack(n_frames=3, size=(32, 32))
    >>> index_accuracy(s.truth, s)
    1.0
    """
    spacing = 1.0 / (len(stack.focus) - 1)
    err = np.abs(stack.depth - stack.focus[index.astype(int)])
    best = np.abs(stack.depth - stack.focus[stack.truth.astype(int)])
    ok = err <= best + tolerance * spacing + 1e-6
    mask = texture_mask(stack.sharp)
    return float(ok[mask].mean())


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of a uint8 image against a uint8 reference."""
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def make_spill_stack(size: int = 256, n_frames: int = 4, blur_per_frame: float = 2.5, line_step: int = 24,
                     seed: int = 0) -> SyntheticStack:
    """A stack whose dark surface with bright thin lines is in focus in no frame: the spill case.

    The left third is a photo (scikit-image's astronaut) at depth 1 (frame 1 in focus), in front;
    the rest is a dark, slightly noisy surface crossed by bright lines, at depth ``n_frames``: one
    frame spacing beyond the last frame, which shows it least blurred. Each frame blurs each
    layer by a Gaussian of ``blur_per_frame * |depth - k|`` and composites them occlusion-correctly
    (the front layer's blurred mask covers the back layer). A defocused line spreads a wide glow
    over the dark surface, and the glow's edges have the contrast that a focus measure reads as
    detail: a stacker that picks them mixes wide grey halos into the surface. The right answer
    on the whole surface is the last frame.

    Returns
    -------
    SyntheticStack
        ``truth`` is 1 on the photo and ``n_frames - 1`` on the surface; ``depth`` in frame units
        divided by ``n_frames - 1``; ``sharp`` is the last frame on the surface (the best there is).

    Examples
    --------
    >>> s = make_spill_stack(size=64, n_frames=3)
    >>> len(s.frames), sorted(np.unique(s.truth).tolist())
    (3, [1, 2])
    """
    rng = np.random.default_rng(seed)
    photo = cv2.resize(skimage.data.astronaut(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    front = np.zeros((size, size), np.float32)
    front[:, : size // 3] = 1.0
    surface = np.full((size, size, 3), 30.0, np.float32) + rng.normal(0.0, 1.0, (size, size, 3)).astype(np.float32)
    thick = max(1, size // 256)
    for y in range(line_step // 2, size, line_step * thick):
        cv2.line(surface, (size // 3, y), (size, y + size // 5), (242.0, 242.0, 230.0), thick)

    def blur(x: np.ndarray, sigma: float) -> np.ndarray:
        return x if sigma < 0.3 else cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    frames = []
    for k in range(n_frames):
        s_front, s_back = blur_per_frame * abs(1 - k), blur_per_frame * abs(n_frames - k)
        cover = blur(front, s_front)[..., None]
        frame = blur(photo * front[..., None], s_front) + (1.0 - cover) * blur(surface, s_back)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    truth = np.where(front > 0.5, 1, n_frames - 1).astype(np.uint16)
    depth = np.where(front > 0.5, 1.0, float(n_frames)).astype(np.float32) / (n_frames - 1)
    sharp = np.where(front[..., None] > 0.5, np.clip(np.rint(photo), 0, 255).astype(np.uint8), frames[-1])
    identity = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    return SyntheticStack(frames, sharp, depth, np.linspace(0.0, 1.0, n_frames).astype(np.float32), truth,
                          [identity.copy() for _ in range(n_frames)])
