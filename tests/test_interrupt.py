"""Interrupted runs lose nothing: SIGKILL in the middle of `gacn batch`, `gacn fuse` and a write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from gacn.io import read_image, write_image

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def wait_for(condition, timeout: float = 120.0) -> bool:  # noqa: ANN001 -- a zero-argument predicate
    """Poll ``condition`` every 20 ms until it holds or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with ``start_new_session`` and everything it started (Dask workers)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def gacn_popen(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gacn", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def pairs(folder: Path, n: int, side: int) -> list[str]:
    """``n`` pair jobs NAME_1.png / NAME_2.png (left or right half blurred) in ``folder``."""
    folder.mkdir()
    photo = cv2.resize(skimage.data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    blur = cv2.GaussianBlur(photo, (0, 0), 3)
    left = np.arange(side)[None, :, None] < side // 2
    for k in range(n):
        cv2.imwrite(str(folder / f"job{k:02d}_1.png"), np.where(left, photo, blur)[..., ::-1])
        cv2.imwrite(str(folder / f"job{k:02d}_2.png"), np.where(left, blur, photo)[..., ::-1])
    return [f"job{k:02d}" for k in range(n)]


def visible(folder: Path, pattern: str = "job*.png") -> list[Path]:
    return sorted(folder.glob(pattern))


def test_killed_batch_leaves_only_whole_outputs_and_the_rerun_completes(tmp_path: Path) -> None:
    names = pairs(tmp_path / "in", 12, 96)
    out = tmp_path / "out"
    args = ("batch", tmp_path / "in", "-o", out, "--workers", "1", "--threads", "1", "--no-maps")
    proc = gacn_popen(*args)
    assert wait_for(lambda: len(visible(out)) >= 2), "batch wrote nothing"
    kill_group(proc)
    done = visible(out)
    assert 0 < len(done) < len(names), "the kill came too late to interrupt the run"
    for path in done:  # every output that exists is whole
        assert read_image(path).shape == (96, 96, 3)
    rerun = subprocess.run([sys.executable, "-m", "gacn", *map(str, args)], capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done)} skipped" in rerun.stdout and f"{len(names) - len(done)} ok" in rerun.stdout
    assert [p.stem for p in visible(out)] == names


def test_killed_fuse_writes_no_half_output(tmp_path: Path) -> None:
    pairs(tmp_path / "in", 1, 256)
    a, b = tmp_path / "in" / "job00_1.png", tmp_path / "in" / "job00_2.png"
    whole = tmp_path / "whole.png"
    assert subprocess.run([sys.executable, "-m", "gacn", "fuse", a, b, "-o", whole], timeout=300).returncode == 0
    expected = read_image(whole)
    for delay in (0.5, 1.5, 3.0):  # before, during and after the fusion, depending on the machine
        target = tmp_path / f"killed_{delay}.png"
        proc = gacn_popen("fuse", a, b, "-o", target)
        time.sleep(delay)
        kill_group(proc)
        assert not target.exists() or np.array_equal(read_image(target), expected)


def test_write_is_atomic_under_sigkill(tmp_path: Path) -> None:
    """A process rewriting one file in a loop is killed at an arbitrary moment: the file is
    either absent or a whole image, never a torn one."""
    image = np.random.default_rng(0).integers(0, 65536, (600, 800, 3)).astype(np.uint16)
    np.save(tmp_path / "image.npy", image)
    target = tmp_path / "target.tif"
    loop = (f"import numpy as np\nfrom gacn.io import write_image\nimage = np.load({str(tmp_path / 'image.npy')!r})\n"
            f"while True:\n    write_image({str(target)!r}, image)\n")
    for delay in (0.3, 0.9, 1.7):
        target.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", loop], start_new_session=True)
        time.sleep(delay)
        kill_group(proc)
        assert not target.exists() or np.array_equal(read_image(target), image)
    write_image(target, image)  # the hidden temporary files left by the kills do not get in the way
    assert np.array_equal(read_image(target), image)
