"""Step 1 of the fast path: a cheap focus measure, and each pixel's two best frames of a stack.

The focus measure is the energy of the luma's Laplacian over a small Gaussian window (the
classical measure, which decides most pixels as well as the network does; a small window keeps
the halo of a sharp edge over its blurred neighbourhood narrow). :class:`Candidates` streams over the
frames of a stack and keeps, per pixel, the two frames with the highest measure and their
scores: memory does not grow with the number of frames.

References
----------
.. [1] W. Huang, Z. Jing, "Evaluation of focus measures in multi-focus image fusion",
   Pattern Recognition Letters 28(4) (2007) 493-500.
.. [2] S. K. Nayar, Y. Nakagawa, "Shape from focus", IEEE TPAMI 16(8) (1994) 824-831.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Gaussian sigma (pixels) of the window the Laplacian energy is summed over (1.5 px placed the
#: choice best on synthetic stacks among 1.5, 2.5 and 4).
WINDOW_SIGMA = 1.5
def focus_measure(gray: np.ndarray) -> np.ndarray:
    """Local focus energy of a gray image: higher where it is sharper.

    Parameters
    ----------
    gray : ndarray
        float32 gray image in 0..1, shape (H, W).

    Returns
    -------
    ndarray
        float32 (H, W): the squared Laplacian summed over a Gaussian window of sigma
        :data:`WINDOW_SIGMA`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((64, 64)).astype(np.float32)
    >>> soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    >>> bool((focus_measure(sharp) > focus_measure(soft)).all())
    True
    """
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    return cv2.GaussianBlur(np.square(lap, out=lap), (0, 0), WINDOW_SIGMA, borderType=cv2.BORDER_REFLECT)


class Candidates:
    """Per pixel, the two frames with the highest focus measure seen so far (streaming).

    Feed the frames one at a time with :meth:`update`; memory is four full-resolution maps
    whatever the number of frames.

    Attributes
    ----------
    best, second : ndarray
        float32 (H, W): the highest and second-highest focus measure.
    best_index, second_index : ndarray
        uint16 (H, W): the frames they come from.

    Examples
    --------
    >>> c = Candidates((1, 3))
    >>> for k, e in enumerate([[1, 5, 2], [3, 1, 2.5], [2, 4, 9]]):
    ...     c.update(k, np.float32(e)[None])
    >>> c.best_index.tolist(), c.second_index.tolist()
    ([[1, 0, 2]], [[2, 2, 1]])
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.best = np.empty(shape, np.float32)
        self.second = np.full(shape, -1.0, np.float32)
        self.best_index = np.zeros(shape, np.uint16)
        self.second_index = np.zeros(shape, np.uint16)
        self.seen = 0

    def update(self, index: int, energy: np.ndarray) -> None:
        """Offer frame ``index`` with its focus measure ``energy``."""
        self.seen += 1
        if self.seen == 1:  # the first frame is the best so far everywhere: no comparisons
            np.copyto(self.best, energy)
            self.best_index.fill(index)
            return
        first = energy > self.best
        runner_up = ~first & (energy > self.second)
        # the old best becomes the second where the new frame wins
        np.copyto(self.second, self.best, where=first)
        np.copyto(self.second_index, self.best_index, where=first)
        np.copyto(self.best, energy, where=first)
        self.best_index[first] = index
        np.copyto(self.second, energy, where=runner_up)
        self.second_index[runner_up] = index

    def closeness(self) -> np.ndarray:
        """float32 (H, W) in 0..1: second / best measure (1: the two frames tie)."""
        return self.second / np.maximum(self.best, 1e-12)
