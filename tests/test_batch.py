"""gacn.batch and `gacn batch`: job discovery, fusion on a Dask cluster, failures, resuming."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import skimage.data
import tifffile

from gacn.batch import CSV_NAME, Job, find_jobs, run_batch
from gacn.io import InputError

SIZE = 64
#: Fused error in a source's blurred region must be below this fraction of the source's own error.
GAIN = 0.3


def blurred_copies(truth: np.ndarray, regions: list[np.ndarray]) -> list[np.ndarray]:
    """One copy of ``truth`` per region, Gaussian-blurred (sigma 2.5) inside it."""
    blur = cv2.GaussianBlur(truth, (0, 0), 2.5)
    return [np.where(r[..., None] if truth.ndim == 3 else r, blur, truth) for r in regions]


def masks(*slices: tuple[slice, slice]) -> list[np.ndarray]:
    out = []
    for s in slices:
        m = np.zeros((SIZE, SIZE), bool)
        m[s] = True
        out.append(m)
    return out


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[np.ndarray, list, list]]]:
    """Three good jobs (16-bit TIFF pair, RGB pair, 3-frame stack) and a broken pair (sizes differ)."""
    root = tmp_path_factory.mktemp("batch_in")
    cam = cv2.resize(skimage.data.camera(), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    astro = cv2.resize(skimage.data.astronaut(), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    half, third = SIZE // 2, SIZE // 3
    cam16 = cam.astype(np.uint16) * 257
    lr = masks((slice(None), slice(None, half)), (slice(None), slice(half, None)))
    tb = masks((slice(None, half), slice(None)), (slice(half, None), slice(None)))
    sharp = masks(*[(slice(None), slice(k * third, (k + 1) * third)) for k in range(3)])
    thirds = [~m for m in sharp]
    truth = {"cam_lr": (cam16, lr), "astro_tb": (astro, tb), "cam_thirds": (cam, thirds)}
    scenes = {}
    for name, (image, regions) in truth.items():
        (root / name).mkdir()
        sources = blurred_copies(image, regions)
        for k, src in enumerate(sources):
            path = root / name / (f"f{k}.tif" if src.dtype == np.uint16 else f"f{k}.png")
            tifffile.imwrite(path, src) if src.dtype == np.uint16 else iio.imwrite(path, src)
        scenes[name] = (image, sources, regions)
    iio.imwrite(root / "broken_1.png", cam)
    iio.imwrite(root / "broken_2.png", cam[: SIZE - 16])
    return root, scenes


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: object) -> Iterator[object]:
    from distributed import Client

    with Client(cluster) as c:
        yield c


def region_error(x: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(x.astype(np.float64) - truth.astype(np.float64))[region].mean())


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_find_jobs_layout(tmp_path: Path) -> None:
    img = np.zeros((8, 8), np.uint8)
    files = ["s_10.png", "s_2.png", "s_1.png", "solo_1.png", "notes.png", "readme_1.txt",
             "stack/b.jpg", "stack/a.jpg", "one/x.png", ".hidden/a.png", ".hidden/b.png", "out/o_1.png", "out/o_2.png"]
    for f in files:
        (tmp_path / f).parent.mkdir(exist_ok=True)
        if f.endswith(".txt"):
            (tmp_path / f).write_text("x")
        else:
            iio.imwrite(tmp_path / f, img)
    jobs = find_jobs(tmp_path, exclude=[tmp_path / "out"])
    assert [(j.name, [p.name for p in j.inputs]) for j in jobs] == [
        ("s", ["s_1.png", "s_2.png", "s_10.png"]), ("stack", ["a.jpg", "b.jpg"])]
    assert "out" in [j.name for j in find_jobs(tmp_path)]
    iio.imwrite(tmp_path / "stack_1.png", img)
    iio.imwrite(tmp_path / "stack_2.png", img)
    with pytest.raises(InputError, match="two jobs named 'stack'"):
        find_jobs(tmp_path)
    with pytest.raises(InputError, match="not found"):
        find_jobs(tmp_path / "missing")
    with pytest.raises(InputError, match="no jobs"):
        find_jobs(tmp_path / "one")


def test_run_batch_fuses_skips_and_logs(scenes: tuple, client: object, tmp_path: Path) -> None:
    root, truth = scenes
    jobs = find_jobs(root)
    assert [j.name for j in jobs] == ["astro_tb", "broken", "cam_lr", "cam_thirds"]
    out = tmp_path / "out"
    rows = run_batch(jobs, out, client=client, align=False, progress=False)
    by_name = {r["name"]: r for r in rows}
    assert [r["name"] for r in rows] == [j.name for j in jobs]
    broken = by_name.pop("broken")
    assert broken["status"] == "failed" and "sizes differ" in broken["error"] and "\n" not in broken["error"]
    assert not (out / "broken.png").exists()
    for name, (image, sources, regions) in truth.items():
        row = by_name[name]
        assert row["status"] == "ok", row
        assert row["worker"].startswith("tcp://") and row["fuse_s"] > 0 and row["total_s"] >= row["fuse_s"]
        path = out / (f"{name}.tif" if image.dtype == np.uint16 else f"{name}.png")
        fused = tifffile.imread(path) if path.suffix == ".tif" else iio.imread(path)
        assert fused.shape == image.shape and fused.dtype == image.dtype
        assert (row["height"], row["width"]) == image.shape[:2]
        fmap = iio.imread(out / f"{name}_map.png")
        assert fmap.shape == image.shape[:2] and fmap.dtype == np.uint8
        for src, region in zip(sources, regions, strict=True):
            fused_err, src_err = region_error(fused, image, region), region_error(src, image, region)
            assert fused_err < GAIN * src_err, (name, fused_err, src_err)
    log = read_rows(out / CSV_NAME)
    assert [r["name"] for r in log] == [j.name for j in jobs]
    assert {r["status"] for r in log} == {"ok", "failed"}

    again = run_batch(jobs, out, client=client, align=False, progress=False)
    assert {r["name"]: r["status"] for r in again} == {
        "astro_tb": "skipped", "broken": "failed", "cam_lr": "skipped", "cam_thirds": "skipped"}
    first = {r["name"]: r for r in rows}
    assert all(r["fuse_s"] == first[r["name"]]["fuse_s"] for r in again if r["status"] == "skipped")
    assert [r["status"] for r in read_rows(out / CSV_NAME)] == ["skipped", "failed", "skipped", "skipped"]


def test_run_batch_on_scheduler_address(scenes: tuple, cluster: object, tmp_path: Path) -> None:
    root, _ = scenes
    jobs = [j for j in find_jobs(root) if j.name != "broken"]
    rows = run_batch(jobs, tmp_path, scheduler=cluster.scheduler_address, write_maps=False, progress=False)
    assert [r["status"] for r in rows] == ["ok"] * len(jobs)
    assert {r["worker"] for r in rows} <= set(cluster.scheduler_info["workers"])
    assert not list(tmp_path.glob("*_map.png"))


def test_run_batch_refuses_to_overwrite_inputs(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        iio.imwrite(tmp_path / name, np.zeros((16, 16), np.uint8))
    with pytest.raises(InputError, match="refusing to overwrite input"):
        run_batch([Job("a", (tmp_path / "a.png", tmp_path / "b.png"))], tmp_path, progress=False)
    with pytest.raises(InputError, match="unknown strategy"):
        run_batch([Job("a", (tmp_path / "a.png", tmp_path / "b.png"))], tmp_path / "o", strategy="best")


def gacn(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "gacn", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=300, env=env)


def test_cli_batch_end_to_end(scenes: tuple, tmp_path: Path) -> None:
    root, _ = scenes
    out = tmp_path / "fused"
    proc = gacn("batch", root, "-o", out, "--workers", "1")
    assert proc.returncode == 1, proc.stderr
    assert "4 jobs: 3 ok, 0 skipped, 1 failed" in proc.stdout and str(out / CSV_NAME) in proc.stdout
    assert "gacn: broken: image sizes differ" in proc.stderr and "Traceback" not in proc.stderr
    assert len(read_rows(out / CSV_NAME)) == 4
    assert tifffile.imread(out / "cam_lr.tif").dtype == np.uint16
    stack = iio.imread(out / "cam_thirds.png")  # aligned by default: cropped to the common area
    assert SIZE - 8 <= min(stack.shape) and max(stack.shape) <= SIZE

    bad = gacn("batch", tmp_path / "nowhere", "-o", out)
    assert bad.returncode == 2 and bad.stderr.strip() == f"gacn: error: input folder not found: {tmp_path / 'nowhere'}"
