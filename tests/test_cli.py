"""The gacn command end to end, including every kind of bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from gacn.demo import make_demo_pair
from gacn.metrics import map_accuracy


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gacn", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture
def pair_files(tmp_path: Path, photo_rgb: np.ndarray) -> tuple[Path, Path, np.ndarray]:
    pair = make_demo_pair(photo_rgb[:96, :128], radius=4.0)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    iio.imwrite(a, pair.source1)
    iio.imwrite(b, pair.source2)
    return a, b, pair.mask


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and needle in lines[0]


def test_fuse_end_to_end(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, b, mask = pair_files
    out, dmap = tmp_path / "fused.png", tmp_path / "map.png"
    proc = run("fuse", a, b, "-o", out, "--map", dmap)
    assert proc.returncode == 0, proc.stderr
    fused = iio.imread(out)
    assert fused.shape == (96, 128, 3) and fused.dtype == np.uint8
    assert map_accuracy(iio.imread(dmap) / 255.0, mask) >= 0.9


def test_fuse_no_refine_gives_the_method_map(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    from gacn.fusion.pair import fuse_pair

    a, b, _ = pair_files
    out, dmap = tmp_path / "fused.png", tmp_path / "map.png"
    assert run("fuse", a, b, "-o", out, "--map", dmap, "--method", "gacn", "--no-refine").returncode == 0
    method = fuse_pair(iio.imread(a), iio.imread(b), refine=False).decision_map
    refined = fuse_pair(iio.imread(a), iio.imread(b)).decision_map
    written = iio.imread(dmap).astype(np.int16)
    assert np.abs(written - np.rint(method * 255)).max() <= 1
    assert np.abs(written - np.rint(refined * 255)).max() > 1


def test_fuse_16bit_tiff(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    import tifffile

    a, b, _ = pair_files
    a16, b16 = tmp_path / "a.tif", tmp_path / "b.tif"
    tifffile.imwrite(a16, iio.imread(a).astype(np.uint16) * 257)
    tifffile.imwrite(b16, iio.imread(b).astype(np.uint16) * 257)
    out = tmp_path / "f.tif"
    assert run("fuse", a16, b16, "-o", out).returncode == 0
    fused = tifffile.imread(out)
    assert fused.dtype == np.uint16 and fused.max() > 255


def test_demo_writes_images_and_reports_accuracy(tmp_path: Path) -> None:
    proc = run("demo", "-o", tmp_path / "demo")
    assert proc.returncode == 0, proc.stderr
    acc = float(proc.stdout.split("decision accuracy")[1].split()[0])
    assert acc >= 0.95
    for name in ("source_1", "source_2", "fused", "decision_map", "side_by_side"):
        assert (tmp_path / "demo" / f"{name}.png").is_file()


def test_missing_file(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, _, _ = pair_files
    assert_one_line_error(run("fuse", a, tmp_path / "nope.png", "-o", tmp_path / "o.png"), "not found")


def test_unreadable_file(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, _, _ = pair_files
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    assert_one_line_error(run("fuse", a, bad, "-o", tmp_path / "o.png"), "cannot read")


def test_single_image(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, _, _ = pair_files
    assert_one_line_error(run("fuse", a, "-o", tmp_path / "o.png"), "at least two")


def test_size_mismatch(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = pair_files
    small = tmp_path / "small.png"
    iio.imwrite(small, iio.imread(b)[:80])
    assert_one_line_error(run("fuse", a, small, "-o", tmp_path / "o.png"), "sizes differ")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_unwritable_output(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = pair_files
    assert_one_line_error(run("fuse", a, b, "-o", tmp_path / "missing_dir" / "o.png"), "does not exist")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: use a path under /proc instead
            target = Path("/proc/gacn_cannot_write.png")
        else:
            target = locked / "o.png"
        assert_one_line_error(run("fuse", a, b, "-o", target), "cannot write")
    finally:
        locked.chmod(0o700)


def test_output_may_not_overwrite_input(pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = pair_files
    before = a.read_bytes()
    assert_one_line_error(run("fuse", a, b, "-o", a), "overwrite")
    assert a.read_bytes() == before


def test_corrupt_weights(tmp_path: Path, pair_files: tuple[Path, Path, np.ndarray]) -> None:
    a, b, _ = pair_files
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    out = tmp_path / "o.png"
    assert_one_line_error(run("fuse", a, b, "-o", out, "--weights", bad), "weights")
    assert not out.exists()


def test_help_and_fast_errors_do_not_import_torch(tmp_path: Path) -> None:
    """`gacn --help` and the errors found before work start without torch and the pipeline
    (they took 2-3 s with them; `python benchmarks/bench_startup.py` times them)."""
    probe = ("import sys, gacn.cli\n"
             "try:\n    gacn.cli.app(['fuse', 'missing.png', 'x.png', '-o', 'y.png'])\n"
             "except SystemExit as exit:\n    print(exit.code)\n"
             "print(sorted(m for m in ('torch', 'gacn.fusion.stack', 'gacn.model', 'exiv2') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["2", "[]"], proc.stdout + proc.stderr
    assert "input file not found: missing.png" in proc.stderr


def test_fuse_defaults_match_the_pipeline() -> None:
    """gacn.fuse spells its defaults out (for the lazy import); they must stay the pipeline's."""
    import inspect

    import gacn
    from gacn.fusion.stack import DEFAULT_METHOD, DEFAULT_STRATEGY, METHODS, STRATEGIES
    from gacn.fusion.tiling import TILE

    params = inspect.signature(gacn.fuse).parameters
    assert params["strategy"].default == DEFAULT_STRATEGY and params["tile"].default == TILE
    assert params["method"].default == DEFAULT_METHOD
    assert gacn.STRATEGIES == STRATEGIES and gacn.METHODS == METHODS
    assert gacn.FusionResult.__name__ == "FusionResult"


def test_metrics_reports_an_undefined_metric_in_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    b = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    a[:12, :12] = b[:12, :12] = 0  # both sources exactly flat over 7x7 windows: Q_Y is 0/0 there
    paths = []
    for name, img in zip("abf", (a, b, a // 2 + b // 2)):
        paths.append(tmp_path / f"{name}.png")
        iio.imwrite(paths[-1], img)
    proc = run("metrics", *paths, "--metrics", "Q_G,Q_Y")
    assert proc.returncode == 0
    assert proc.stdout.split()[2:] == ["Q_Y", "nan"]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gacn: Q_Y is undefined") and "Warning" not in proc.stderr


def test_fuse_verbose_logs_each_frames_motion_and_keeps_a_registered_stack_whole(tmp_path: Path) -> None:
    from gacn.fusion.synthetic import make_stack

    stack = make_stack(n_frames=3, size=(120, 160), max_blur=2.0, seed=2)  # pixel-registered
    paths = []
    for k, frame in enumerate(stack.frames):
        paths.append(tmp_path / f"f{k}.png")
        iio.imwrite(paths[-1], frame)
    out = tmp_path / "fused.png"
    proc = run("fuse", *paths, "-o", out, "-v")
    assert proc.returncode == 0, proc.stderr
    motion = [ln for ln in proc.stderr.splitlines() if "estimated motion" in ln]
    assert len(motion) == 2 and all("not warped" in ln for ln in motion), proc.stderr
    assert iio.imread(out).shape == (120, 160, 3)  # nothing cropped
