"""Jobs of the web app: the frames of one stack, its fusion in a queue, and the result's layers.

One job belongs to one browser tab. Its frames are files (uploaded into the job's folder, or
picked under ``--root`` and read in place); fusing a job puts it in a queue that one worker
thread serves, one fusion at a time, by calling :func:`gacn.fuse` with the job's options, so
the web app runs the same pipeline as ``gacn fuse``. The result stays in memory for
inspecting and retouching; a job's temporary files go when it is deleted or the store closes.
"""

from __future__ import annotations

import inspect
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import gacn
from gacn.fusion.align import common_box, estimate_transform, warp_image
from gacn.fusion.blend import index_preview
from gacn.fusion.exposure import apply_exposure
from gacn.fusion.frames import read_frame
from gacn.io import InputError, to_gray_float
from gacn.web.retouch import Stroke, apply_strokes
from gacn.web.tiles import Pyramid, display_rgb

#: Side of the thumbnails in pixels (longer side).
THUMB_SIDE = 160
#: Options of :func:`gacn.fuse` the page offers: name -> (kind, choices); the defaults are
#: ``gacn.fuse``'s. A keyword ``gacn.fuse`` does not take (or without choices) is left out, so a
#: new option of the API is one more line here (see :func:`fuse_options`).
OPTION_SPECS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "method": ("choice", tuple(getattr(gacn, "METHODS", ()))),
    "strategy": ("choice", tuple(gacn.STRATEGIES)),
    "align": ("choice", (None, True, False)),
    "crop": ("bool", (True, False)),
    "refine": ("bool", (True, False)),
}
#: Layers a job's result shows besides the source frames: the (retouched) image and the maps.
MAP_LAYERS = ("fused", "depth", "confidence", "decision")


def fuse_options() -> dict[str, dict[str, Any]]:
    """The fusion options the page offers: those of :data:`OPTION_SPECS` that :func:`gacn.fuse` takes."""
    accepted = inspect.signature(gacn.fuse).parameters
    return {name: {"kind": kind, "choices": list(choices), "default": accepted[name].default}
            for name, (kind, choices) in OPTION_SPECS.items()
            if name in accepted and choices}


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Validate the options a page sent against :func:`fuse_options`; fill in the defaults.

    Raises
    ------
    InputError
        For an unknown option or a value outside its choices.
    """
    offered = fuse_options()
    unknown = sorted(set(options) - set(offered))
    if unknown:
        raise InputError(f"unknown fusion option(s): {', '.join(unknown)}")
    chosen = {name: spec["default"] for name, spec in offered.items()}
    for name, value in options.items():
        if value not in offered[name]["choices"]:
            raise InputError(f"option {name} must be one of {offered[name]['choices']}, got {value!r}")
        chosen[name] = value
    return chosen


class Cancelled(Exception):
    """Raised from the progress callback to stop a fusion the user cancelled."""


@dataclass
class Frame:
    """One source image of a job."""

    id: str
    name: str
    path: Path
    shape: tuple[int, ...]
    dtype: str
    uploaded: bool

    def info(self) -> dict[str, Any]:
        """What the page shows about the frame."""
        return {"id": self.id, "name": self.name, "width": self.shape[1], "height": self.shape[0],
                "channels": self.shape[2] if len(self.shape) == 3 else 1, "dtype": self.dtype}


@dataclass
class Result:
    """A finished fusion: :class:`gacn.FusionResult` plus the retouch state and display caches."""

    fused: gacn.FusionResult
    frames: list[Frame]
    options: dict[str, Any]
    seconds: float
    strokes: list[Stroke] = field(default_factory=list)
    image: np.ndarray | None = None
    index: np.ndarray | None = None
    mask: np.ndarray | None = None
    version: int = 0
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    matrices: list[np.ndarray] | None = None
    box: tuple[slice, slice] | None = None
    pyramids: dict[str, Pyramid] = field(default_factory=dict)
    build_locks: dict[str, threading.Lock] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    register_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # the depth layer is the depth map, as `gacn fuse --map` writes it; strokes paint their frame into it
        self.image, self.index = self.fused.image, self.fused.depth_map
        self.mask = np.zeros(self.index.shape, np.float32)
        self.source = lru_cache(maxsize=3)(self._source)

    @property
    def aligned(self) -> bool:
        """Whether the frames were registered (``align`` on, or its default for three or more)."""
        align = self.options.get("align")
        return len(self.frames) >= 3 if align is None else bool(align)

    def _registration(self) -> tuple[list[np.ndarray], tuple[slice, slice]]:
        """The frames' transforms to the middle frame and the crop box, as :func:`gacn.fuse` finds them."""
        with self.register_lock:
            if self.matrices is None:
                ref = len(self.frames) // 2
                ref_gray = to_gray_float(read_frame(self.frames[ref].path))
                self.matrices = [np.eye(2, 3, dtype=np.float32) if k == ref else
                                 estimate_transform(ref_gray, to_gray_float(read_frame(f.path)))
                                 for k, f in enumerate(self.frames)]
                h, w = self.frames[0].shape[:2]
                full = (slice(0, h), slice(0, w))
                self.box = common_box(self.matrices, (h, w)) if self.options.get("crop", True) else full
            return self.matrices, self.box

    def _source(self, k: int) -> np.ndarray:
        """Frame ``k`` on the result's grid: matched to the fusion's exposure, registered and
        cropped like the fused image."""
        frame = read_frame(self.frames[k].path)
        if self.fused.exposure is not None:
            frame = apply_exposure(frame, self.fused.exposure[k])
        if not self.aligned:
            return frame
        matrices, box = self._registration()
        return np.ascontiguousarray(warp_image(frame, matrices[k])[box])

    def set_strokes(self, strokes: list[Stroke]) -> int:
        """Replace the retouch strokes and re-apply them to the fused image; return the new version."""
        for stroke in strokes:
            if not 0 <= stroke.frame < len(self.frames):
                raise InputError(f"no frame {stroke.frame + 1}: the stack has {len(self.frames)}")
        with self.lock:
            self.image, self.index, self.mask = apply_strokes(self.fused.image, self.fused.depth_map, strokes,
                                                              self.source)
            self.strokes = list(strokes)
            self.version += 1
            for name in ("fused", "depth"):
                self.pyramids.pop(name, None)
            return self.version

    def layer_names(self) -> list[str]:
        """The layers a page can show: the image, the maps, and ``frame1`` ... ``frameN``."""
        return [*MAP_LAYERS, *(f"frame{k + 1}" for k in range(len(self.frames)))]

    def layer(self, name: str) -> np.ndarray:
        """The 8-bit image shown for a layer (one of :meth:`layer_names`)."""
        if name == "fused":
            return display_rgb(self.image)
        if name == "depth":
            return index_preview(self.index, len(self.frames))
        if name == "confidence":
            scaled = display_rgb(np.clip(self.fused.confidence, 0.0, 1.0))
            return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        if name == "decision":
            return display_rgb(np.clip(self.fused.decision_map, 0.0, 1.0))
        return display_rgb(self.source(int(name.removeprefix("frame")) - 1))

    def pyramid(self, name: str) -> Pyramid:
        """The tile pyramid of a layer, made once per retouch version (one layer's build, such as
        a frame's registration, does not hold up the tiles of the others)."""
        with self.lock:
            build_lock = self.build_locks.setdefault(name, threading.Lock())
        with build_lock:
            with self.lock:
                version, cached = self.version, self.pyramids.get(name)
            if cached is not None:
                return cached
            built = Pyramid(self.layer(name))
            with self.lock:
                if self.version == version:
                    self.pyramids[name] = built
                if name.startswith("frame"):  # keep two source frames' pyramids: memory stays bounded
                    for other in [n for n in self.pyramids if n.startswith("frame") and n != name][:-1]:
                        del self.pyramids[other]
            return built


@dataclass
class Job:
    """One tab's stack: frames, fusion state and progress, result."""

    id: str
    folder: Path
    frames: list[Frame] = field(default_factory=list)
    state: str = "draft"
    error: str | None = None
    stage: str = ""
    done: int = 0
    total: int = 0
    started: float = 0.0
    fraction: float = 0.0
    result: Result | None = None
    options: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    def progress(self, stage: str, done: int, total: int) -> None:
        """The :func:`gacn.fuse` progress callback: record it, and stop here if the job was cancelled."""
        if self.cancel.is_set():
            raise Cancelled
        self.stage, self.done, self.total = stage, done, total
        # Deciding (the faithful path) or measuring (the fast path) takes most of the time; blending the rest.
        self.fraction = 0.85 * done / total if stage in ("decide", "measure") else 0.85 + 0.15 * done / total

    def status(self) -> dict[str, Any]:
        """The job as the page polls it: state, progress with an ETA, frames, result summary."""
        elapsed = time.perf_counter() - self.started if self.state == "running" else 0.0
        eta = elapsed * (1.0 - self.fraction) / self.fraction if self.state == "running" and self.fraction else None
        info: dict[str, Any] = {
            "id": self.id, "state": self.state, "error": self.error, "frames": [f.info() for f in self.frames],
            "progress": {"stage": self.stage, "done": self.done, "total": self.total, "fraction": self.fraction,
                         "elapsed": elapsed, "eta": eta},
        }
        if self.result is not None:
            r = self.result
            info["result"] = {"width": r.image.shape[1], "height": r.image.shape[0], "frames": len(r.frames),
                              "dtype": str(r.image.dtype), "version": f"{r.key}.{r.version}", "seconds": r.seconds,
                              "options": r.options, "strokes": len(r.strokes)}
        return info


class JobStore:
    """All jobs of a server, their temporary folder, and the worker that fuses them one at a time."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="gacn-web-"))
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="gacn-fuse", daemon=True)
        self._worker.start()

    def create(self) -> Job:
        """A new, empty job with its own folder."""
        job_id = uuid.uuid4().hex[:12]
        folder = self.folder / job_id
        folder.mkdir()
        job = Job(job_id, folder)
        self.jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Job:
        """The job ``job_id``; KeyError if there is none."""
        return self.jobs[job_id]

    def add_frame(self, job: Job, path: Path, name: str, uploaded: bool) -> Frame:
        """Check that ``path`` is an image, write its thumbnail and add it to ``job``.

        Raises
        ------
        InputError
            If the file cannot be read as an image (an uploaded file is then deleted).
        """
        try:
            image = read_frame(path)
        except InputError:
            if uploaded:
                path.unlink(missing_ok=True)
            raise InputError(f"{name} is not an image gacn can read (PNG, JPEG, TIFF, 8 or 16 bit)") from None
        frame = Frame(uuid.uuid4().hex[:12], name, path, image.shape, str(image.dtype), uploaded)
        h, w = image.shape[:2]
        scale = THUMB_SIDE / max(h, w)
        thumb = cv2.resize(display_rgb(image), (max(round(w * scale), 1), max(round(h * scale), 1)),
                           interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR) if thumb.ndim == 3 else thumb)
        (job.folder / f"{frame.id}.thumb.jpg").write_bytes(data.tobytes())
        job.frames.append(frame)
        return frame

    def reorder(self, job: Job, order: list[str]) -> None:
        """Keep the frames listed in ``order``, in that order; uploaded files of dropped frames are deleted.

        Raises
        ------
        InputError
            For an id that is not one of the job's frames, or listed twice.
        """
        by_id = {f.id: f for f in job.frames}
        if len(set(order)) != len(order) or not set(order) <= set(by_id):
            raise InputError("the order must list each frame of the job at most once")
        for frame in job.frames:
            if frame.id not in order:
                (job.folder / f"{frame.id}.thumb.jpg").unlink(missing_ok=True)
                if frame.uploaded:
                    frame.path.unlink(missing_ok=True)
        job.frames = [by_id[i] for i in order]

    def submit(self, job: Job, options: dict[str, Any]) -> None:
        """Queue ``job`` for fusion with ``options`` (see :func:`check_options`).

        Raises
        ------
        InputError
            Fewer than two frames, frames of different sizes, or the job already queued or running.
        """
        if job.state in ("queued", "running"):
            raise InputError("this stack is already being fused")
        if len(job.frames) < 2:
            raise InputError(f"need at least two images to fuse, got {len(job.frames)}")
        first = job.frames[0]
        for frame in job.frames[1:]:
            if frame.shape[:2] != first.shape[:2]:
                raise InputError(f"the images differ in size: {first.name} is {first.shape[1]}x{first.shape[0]}, "
                                 f"{frame.name} is {frame.shape[1]}x{frame.shape[0]}")
        job.options = check_options(options)
        job.cancel.clear()
        job.state, job.error, job.result = "queued", None, None
        job.stage, job.done, job.total, job.fraction = "", 0, 0, 0.0
        self._queue.put(job)

    def cancel(self, job: Job) -> None:
        """Stop ``job``'s fusion: a queued job is skipped, a running one stops at its next progress step."""
        job.cancel.set()
        if job.state == "queued":
            job.state = "cancelled"

    def delete(self, job: Job) -> None:
        """Cancel ``job`` and remove it with its temporary files."""
        self.cancel(job)
        self.jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def close(self) -> None:
        """Stop the worker (after the current fusion step) and remove every job's files."""
        for job in list(self.jobs.values()):
            job.cancel.set()
        self._queue.put(None)
        self._worker.join(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.jobs.clear()

    def _work(self) -> None:
        """The worker thread: fuse the queued jobs one at a time."""
        while (job := self._queue.get()) is not None:
            if job.cancel.is_set() or job.id not in self.jobs:
                continue
            job.state, job.started = "running", time.perf_counter()
            frames = list(job.frames)
            try:
                fused = gacn.fuse([f.path for f in frames], progress=job.progress, **job.options)
            except Cancelled:
                job.state = "cancelled"
            except InputError as exc:
                job.state, job.error = "failed", str(exc)
            except MemoryError:
                job.state, job.error = "failed", "out of memory: try smaller or fewer images"
            except Exception as exc:  # the server must outlive any failure of one job
                job.state, job.error = "failed", f"fusion failed: {exc.__class__.__name__}: {exc}"
            else:
                if job.cancel.is_set():
                    job.state = "cancelled"
                else:
                    job.result = Result(fused, frames, dict(job.options), time.perf_counter() - job.started)
                    job.state = "done"
