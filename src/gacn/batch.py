"""Fuse every pair or stack of a folder, in parallel on a Dask cluster.

A *job* is one scene: a name and the paths of its two or more images, in focus order.
:func:`find_jobs` discovers them in a folder laid out like this::

    INPUT_DIR/
        flower/                 a sub-folder with two or more images: one stack,
            img_001.jpg         frames sorted by file name
            img_002.jpg
            img_003.jpg
        lytro_01_1.png          loose files NAME_1.ext, NAME_2.ext, ... NAME_k.ext:
        lytro_01_2.png          one job per NAME, frames sorted by k
        lytro_02_1.png
        lytro_02_2.png

(the layout of the Lytro and classic pair sets, the same pairs as
:func:`gacn.evaluation.benchmark.find_pairs` finds, which knows only ``_1`` / ``_2``).

:func:`run_batch` sends one task per job to a ``dask.distributed`` cluster: a
:class:`~distributed.LocalCluster` of worker processes by default, or an existing cluster by its
scheduler address. Each worker process loads the model once (:func:`gacn.fusion.pair.cached_model`)
and then, per job, reads the images, fuses them with :func:`gacn.fuse` and writes
``OUTPUT_DIR/NAME.png`` (``.tif`` for TIFF or camera RAW inputs, so 16-bit stays 16-bit) and
``OUTPUT_DIR/NAME_map.png`` atomically. A job whose output exists is skipped, so an interrupted
run resumes where it stopped; a job that fails (unreadable file, sizes that differ) is recorded
with its one-line error and does not stop the others. Every job gets a row in
``OUTPUT_DIR/batch.csv``.

With a cluster of several machines the paths must mean the same on every worker (a shared file
system) and every worker needs ``gacn`` installed.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gacn.fusion.blend import index_file
from gacn.fusion.frames import IMAGE_SUFFIXES, RAW_SUFFIXES
from gacn.fusion.stack import DEFAULT_METHOD, DEFAULT_STRATEGY, METHODS, STRATEGIES
from gacn.io import InputError, output_folder

#: Name of the per-job log written in the output folder.
CSV_NAME = "batch.csv"
#: Columns of the log, in order.
COLUMNS = ("name", "n_images", "height", "width", "status", "error", "read_s", "fuse_s", "write_s",
           "total_s", "worker", "output")
#: Suffix of the map written beside each output.
MAP_SUFFIX = "_map"

_NUMBERED = re.compile(r"^(?P<name>.+)_(?P<k>\d+)$")
_TIFF = {".tif", ".tiff"}


@dataclass(frozen=True)
class Job:
    """One scene to fuse.

    Attributes
    ----------
    name : str
        Job name; the output is ``NAME.png`` (or ``NAME.tif``).
    inputs : tuple of Path
        Two or more image files, in focus order.
    """

    name: str
    inputs: tuple[Path, ...]

    def output_path(self, out_dir: str | os.PathLike) -> Path:
        """The fused image's path in ``out_dir``: TIFF for TIFF or RAW inputs, PNG otherwise."""
        suffix = self.inputs[0].suffix.lower()
        ext = suffix if suffix in _TIFF else ".tif" if suffix in RAW_SUFFIXES else ".png"
        return Path(out_dir) / f"{self.name}{ext}"

    def map_path(self, out_dir: str | os.PathLike) -> Path:
        """The map's path in ``out_dir`` (always PNG)."""
        return Path(out_dir) / f"{self.name}{MAP_SUFFIX}.png"


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def find_jobs(input_dir: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()) -> list[Job]:
    """Discover the jobs of a folder: sub-folders of images and loose ``NAME_k`` files.

    Parameters
    ----------
    input_dir : str or PathLike
        The folder. Each sub-folder with two or more images (``IMAGE_SUFFIXES`` of
        :mod:`gacn.fusion.stack`) is one stack, frames sorted by file name; loose files named
        ``NAME_1.ext``, ``NAME_2.ext``, ... form one job per NAME (two or more files), frames
        sorted by the number. Hidden entries, sub-folders with fewer than two images and loose
        files without a ``_k`` number are ignored.
    exclude : iterable of str or PathLike
        Folders to leave out (the output folder, when it lies inside ``input_dir``).

    Returns
    -------
    list of Job
        Sorted by name.

    Raises
    ------
    InputError
        The folder does not exist, holds no job, or two jobs have the same name.

    Examples
    --------
    >>> import tempfile, numpy as np, imageio.v3 as iio
    >>> d = Path(tempfile.mkdtemp())
    >>> for f in ("a_1.png", "a_2.png", "s/x.png", "s/y.png"):
    ...     (d / f).parent.mkdir(exist_ok=True); iio.imwrite(d / f, np.zeros((8, 8), np.uint8))
    >>> [(j.name, [p.name for p in j.inputs]) for j in find_jobs(d)]
    [('a', ['a_1.png', 'a_2.png']), ('s', ['x.png', 'y.png'])]
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"input folder not found: {root}")
    skip = {Path(p).resolve() for p in exclude}
    jobs: list[Job] = []
    groups: dict[str, list[tuple[int, str, Path]]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if entry.resolve() in skip:
                continue
            frames = sorted(p for p in entry.iterdir() if _is_image(p))
            if len(frames) >= 2:
                jobs.append(Job(entry.name, tuple(frames)))
        elif _is_image(entry) and (m := _NUMBERED.match(entry.stem)):
            groups.setdefault(m["name"], []).append((int(m["k"]), entry.name, entry))
    jobs += [Job(name, tuple(p for *_, p in sorted(items))) for name, items in groups.items() if len(items) >= 2]
    if not jobs:
        raise InputError(f"no jobs in {root}: expected sub-folders with two or more images, "
                         "or files NAME_1.ext, NAME_2.ext, ...")
    names = [j.name for j in jobs]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise InputError(f"two jobs named {dupes[0]!r} in {root} (a sub-folder and NAME_k files): rename one")
    return sorted(jobs, key=lambda j: j.name)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "out of memory"
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    text = " ".join(text.split())
    return text[:300] if text else exc.__class__.__name__


def _row(job: Job, out_dir: str | os.PathLike, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(name=job.name, n_images=len(job.inputs), error="", output=str(job.output_path(out_dir)))
    row.update(values)
    return row


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def fuse_job(
    job: Job,
    out_dir: str | os.PathLike,
    weights: str | None = None,
    device: str = "cpu",
    strategy: str = DEFAULT_STRATEGY,
    write_maps: bool = True,
    threads: int | None = 1,
    align: bool | None = None,
    method: str = DEFAULT_METHOD,
) -> dict[str, Any]:
    """Fuse one job and write its outputs; never raises for a bad job (the task run by each worker).

    Pairs are read into memory first (``read_s``); stacks of three or more stream from disk inside
    the fusion with bounded memory, so their reading time is part of ``fuse_s`` and ``read_s`` is
    empty. The map is the decision map (8-bit, weight of image 1) for a pair and the depth map
    (``depth_map``: the source index per pixel, regularised where focus does not single out a
    frame; 8-bit up to 256 frames, else 16-bit) for a stack. The map is written
    before the image, so an existing image means the job is complete.

    Parameters
    ----------
    job : Job
        The images to fuse.
    out_dir : str or PathLike
        An existing folder for the outputs.
    weights : str, optional
        safetensors weights; the shipped model by default.
    device : str
        ``'cpu'`` or ``'cuda'``.
    strategy : {'running', 'calibration', 'serial'}
        With ``method='gacn'``, how stacks of three or more are combined.
    write_maps : bool
        Also write ``NAME_map.png``.
    threads : int, optional
        torch threads in this process; None leaves the setting alone.
    align : bool, optional
        Register the frames to the middle one (default: on for three or more, as
        :func:`gacn.fuse`); aligned stacks are cropped to the area every frame covers.
    method : {'fast', 'gacn'}
        The fast path (default) or the faithful one (:func:`gacn.fuse`).

    Returns
    -------
    dict
        A row with the keys of :data:`COLUMNS`: ``status`` is ``'ok'`` or ``'failed'`` (then
        ``error`` holds a one-line message), times are in seconds, ``worker`` is the Dask
        worker's address (``'local'`` outside a cluster).
    """
    import torch

    import gacn
    from gacn.fusion.frames import read_frame
    from gacn.io import read_metadata, write_image

    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    times: dict[str, float | None] = {"read_s": None, "fuse_s": None, "write_s": None}
    try:
        if len(job.inputs) == 2:
            frames: Sequence[Any] = [read_frame(p) for p in job.inputs]
            times["read_s"] = time.perf_counter() - t0
        else:
            frames = [str(p) for p in job.inputs]
        t1 = time.perf_counter()
        result = gacn.fuse(frames, weights=weights, device=device, method=method, strategy=strategy, align=align)
        t2 = time.perf_counter()
        times["fuse_s"] = t2 - t1
        if write_maps:
            if len(job.inputs) == 2:
                fmap = np.clip(np.rint(result.decision_map * 255.0), 0, 255).astype(np.uint8)
            else:
                fmap = index_file(result.depth_map, len(job.inputs))
            write_image(job.map_path(out_dir), fmap)
        write_image(job.output_path(out_dir), result.image, read_metadata(job.inputs[0]), frames=len(job.inputs))
        times["write_s"] = time.perf_counter() - t2
        status, error, shape = "ok", "", result.image.shape
    except Exception as exc:  # noqa: BLE001 -- a bad job is a row, not a crash: the other jobs go on
        status, error, shape = "failed", _one_line(exc), (None, None)
    rounded = {k: None if v is None else round(v, 4) for k, v in times.items()}
    return _row(job, out_dir, height=shape[0], width=shape[1], status=status, error=error,
                total_s=round(time.perf_counter() - t0, 4), worker=_worker_name(), **rounded)


@contextlib.contextmanager
def open_client(workers: int = 2, threads: int = 1, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on a new local cluster, or connected to ``scheduler``; closed on exit.

    Parameters
    ----------
    workers : int
        Worker processes of the local cluster.
    threads : int
        Threads per worker of the local cluster.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); then no cluster is started and
        ``workers`` / ``threads`` are not used.

    Raises
    ------
    InputError
        Bad worker or thread counts, an unreachable scheduler, or a scheduler without workers.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=15)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot connect to scheduler {scheduler}: {_one_line(exc)}") from None
        try:
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise InputError(f"scheduler {scheduler} has no workers: start some with "
                                 f"'dask worker {scheduler}'") from None
            yield client
        finally:
            client.close()
        return
    if workers < 1 or threads < 1:
        raise InputError(f"need at least one worker and one thread, got {workers} x {threads}")
    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _read_log(path: Path) -> dict[str, dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            return {r["name"]: r for r in csv.DictReader(fh) if r.get("name")}
    except (OSError, csv.Error, UnicodeDecodeError, KeyError):
        return {}


def _skipped_row(job: Job, out_dir: Path, earlier: dict[str, str] | None) -> dict[str, Any]:
    """A skipped job's row: the measurements of the run that made its output, where the log has them."""
    row = _row(job, out_dir, status="skipped", error="")
    if earlier and earlier.get("status") in ("ok", "skipped"):
        for key, cast in (("height", int), ("width", int), ("read_s", float), ("fuse_s", float),
                          ("write_s", float), ("total_s", float), ("worker", str)):
            with contextlib.suppress(TypeError, ValueError):
                row[key] = cast(earlier[key]) if earlier.get(key) not in (None, "") else None
    return row


def write_log(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """Write the rows to a CSV file atomically (columns :data:`COLUMNS`, empty cells for None)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: "" if r.get(k) is None else r[k] for k in COLUMNS} for r in rows)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def run_batch(
    jobs: Sequence[Job],
    out_dir: str | os.PathLike,
    client: Any = None,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    strategy: str = DEFAULT_STRATEGY,
    write_maps: bool = True,
    progress: bool = True,
    workers: int = 2,
    threads: int = 1,
    scheduler: str | None = None,
    align: bool | None = None,
    method: str = DEFAULT_METHOD,
) -> list[dict[str, Any]]:
    """Fuse every job on a Dask cluster, one task per job, and log the outcome in ``batch.csv``.

    For example, on a new local cluster of two worker processes::

        rows = run_batch(find_jobs("pairs/lytro"), "fused/")
        sum(r["status"] == "ok" for r in rows)  # 20

    Parameters
    ----------
    jobs : sequence of Job
        From :func:`find_jobs`.
    out_dir : str or PathLike
        Output folder (created if missing); gets ``NAME.png`` / ``NAME.tif``, ``NAME_map.png``
        and ``batch.csv``.
    client : distributed.Client, optional
        Client of a cluster to run on (left open). Without it, one is opened with
        :func:`open_client` (``workers``, ``threads``, ``scheduler``) and closed at the end.
    weights : str or PathLike, optional
        safetensors weights, readable at the same path on every worker; the shipped model by
        default.
    device : str
        ``'cpu'`` or ``'cuda'`` on the workers.
    strategy : {'running', 'calibration', 'serial'}
        How stacks of three or more are combined.
    write_maps : bool
        Also write ``NAME_map.png`` (see :func:`fuse_job`).
    progress : bool
        Show a progress bar on stderr as jobs complete.
    workers, threads : int
        Local cluster size (worker processes x threads per worker) when no client or scheduler is
        given. Each task also sets torch to ``threads`` threads.
    scheduler : str, optional
        Address of a running scheduler to connect to instead of starting a local cluster.
    align : bool, optional
        Register the frames of each job (default: on for stacks of three or more).
    method : {'fast', 'gacn'}
        The fast path (default) or the faithful one (:func:`gacn.fuse`).

    Returns
    -------
    list of dict
        One row per job, in the order of ``jobs``, with the keys of :data:`COLUMNS`;
        ``status`` is ``'ok'``, ``'failed'`` (``error`` says why) or ``'skipped'`` (the output
        existed; the row keeps the measurements logged by the run that made it).

    Raises
    ------
    InputError
        Unknown strategy, an output folder that cannot be made or written, an output path that is
        an input file, or a cluster that cannot be reached; on a local cluster also missing or
        corrupt weights or no CUDA (on another cluster these fail each job). A failing job does
        not raise.
    """
    from distributed import as_completed

    from gacn.fusion.pair import cached_model

    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if method != "gacn" and strategy != DEFAULT_STRATEGY:
        raise InputError(f"strategy {strategy!r} belongs to method 'gacn' (the faithful path): add --method gacn")
    if client is None and scheduler is None and (workers < 1 or threads < 1):
        raise InputError(f"need at least one worker and one thread, got {workers} x {threads}")
    weights = None if weights is None else str(Path(weights).resolve())
    if client is None and scheduler is None:  # workers on this machine: one error here, not one per job
        cached_model(weights, device)  # missing or corrupt weights, or no CUDA
    out = output_folder(Path(out_dir).resolve())
    jobs = [Job(j.name, tuple(Path(p).resolve() for p in j.inputs)) for j in jobs]
    inputs = {p for j in jobs for p in j.inputs}
    for job in jobs:
        for target in (job.output_path(out), job.map_path(out)):
            if target in inputs:
                raise InputError(f"refusing to overwrite input file {target}: choose another output folder")
    log_path = out / CSV_NAME
    earlier = _read_log(log_path)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[Job] = []
    for job in jobs:
        if job.output_path(out).exists():
            rows[job.name] = _skipped_row(job, out, earlier.get(job.name))
        else:
            todo.append(job)

    def run(client: Any) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        options = {"weights": weights, "device": device, "strategy": strategy, "write_maps": write_maps,
                   "threads": threads, "align": align, "method": method}
        futures = {client.submit(fuse_job, job, str(out), **options, pure=False): job for job in todo}
        columns = (TextColumn("fusing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=Console(stderr=True), transient=True, disable=not progress) as bar:
                task = bar.add_task("fusing", total=len(futures))
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        rows[job.name] = fut.result()
                    except Exception as exc:  # noqa: BLE001 -- the task never raises: a lost or killed worker
                        rows[job.name] = _row(job, out, status="failed", error=_one_line(exc))
                    bar.advance(task)
        finally:
            if pending := [f for f in futures if not f.done()]:
                client.cancel(pending)

    try:
        if todo:
            if client is not None:
                run(client)
            else:
                with open_client(workers, threads, scheduler) as own:
                    run(own)
    finally:  # also after an interruption: jobs not run this time keep their earlier rows
        logged = [rows.get(j.name) or earlier.get(j.name) for j in jobs]
        if any(logged):
            write_log([r for r in logged if r], log_path)
    return [rows[j.name] for j in jobs]
