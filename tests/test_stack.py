"""Focus stacks: accuracy on synthetic stacks with ground truth, API, CLI, memory-free streaming."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import gacn
from gacn.fusion.frames import expand_inputs, read_frame
from gacn.fusion.stack import fuse_stack
from gacn.fusion.synthetic import index_accuracy, make_stack, psnr


@pytest.fixture(scope="module", autouse=True)
def threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def six() -> object:
    return make_stack(n_frames=6, size=(192, 192))


@pytest.fixture(scope="module")
def sparse() -> object:
    return make_stack(n_frames=3, size=(160, 160), max_blur=8.0)


def test_default_strategy_on_six_frames(six) -> None:
    r = gacn.fuse(six.frames, align=False)
    assert index_accuracy(r.index_map, six) >= 0.9
    assert psnr(r.image, six.sharp) >= 35.0
    assert r.index_map.dtype == np.uint16 and r.index_map.max() == 5
    assert r.confidence.dtype == np.float32 and 0 <= r.confidence.min() <= r.confidence.max() <= 1
    assert r.decision_map.shape == r.raw_decision_map.shape == six.sharp.shape[:2]


def test_default_beats_calibration_on_a_sparse_stack(sparse) -> None:
    ours = gacn.fuse(sparse.frames, align=False)
    cal = gacn.fuse(sparse.frames, align=False, method="gacn", strategy="calibration")
    assert index_accuracy(ours.index_map, sparse) > index_accuracy(cal.index_map, sparse) + 0.05
    assert psnr(ours.image, sparse.sharp) > psnr(cal.image, sparse.sharp)


def test_boundary_refiner_makes_running_more_accurate(sparse) -> None:
    refined = gacn.fuse(sparse.frames, align=False, method="gacn")
    plain = gacn.fuse(sparse.frames, align=False, method="gacn", refine=False)
    assert index_accuracy(refined.index_map, sparse) > index_accuracy(plain.index_map, sparse) + 0.005
    assert psnr(refined.image, sparse.sharp) > psnr(plain.image, sparse.sharp)


def test_unaligned_stack_is_aligned_and_cropped() -> None:
    s = make_stack(n_frames=4, size=(128, 128), breathing=0.01, shift=2.0, seed=2)
    r = gacn.fuse(s.frames)
    assert 110 <= r.image.shape[0] < 128 and 110 <= r.image.shape[1] < 128
    unaligned = gacn.fuse(s.frames, align=False)
    assert r.index_map.shape == r.image.shape[:2] and unaligned.image.shape == (128, 128, 3)


@pytest.mark.parametrize("strategy", gacn.STRATEGIES)
def test_strategies_tile_like_untiled(strategy: str) -> None:
    s = make_stack(n_frames=3, size=(64, 144))
    whole = fuse_stack(s.frames, method="gacn", strategy=strategy, align=False, tile=256)
    tiled = fuse_stack(s.frames, method="gacn", strategy=strategy, align=False, tile=64)
    assert np.mean(whole.index_map != tiled.index_map) < 0.01
    assert np.abs(whole.image.astype(int) - tiled.image.astype(int)).mean() < 0.5


def test_calibration_copies_pixels_from_the_chosen_frame() -> None:
    s = make_stack(n_frames=3, size=(64, 64))
    frames16 = [f.astype(np.uint16) * 257 for f in s.frames]
    r = gacn.fuse(frames16, align=False, method="gacn", strategy="calibration")
    assert r.image.dtype == np.uint16 and r.image.max() > 255
    stack = np.stack(frames16)
    picked = np.take_along_axis(stack, r.index_map[None, ..., None].astype(int), 0)[0]
    assert np.array_equal(r.image, picked)


def test_iterator_gives_the_same_result_as_a_list() -> None:
    s = make_stack(n_frames=3, size=(64, 80))
    a = gacn.fuse(s.frames, align=False)
    b = gacn.fuse(iter(s.frames), align=False)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.index_map, b.index_map)


def test_two_images_keep_the_pair_behaviour() -> None:
    s = make_stack(n_frames=2, size=(64, 64))
    r = gacn.fuse(s.frames)
    assert r.decision_map.min() >= 0 and r.decision_map.max() <= 1
    assert np.array_equal(r.index_map, (r.decision_map < 0.5).astype(np.uint16))


def test_bad_input() -> None:
    a = np.zeros((32, 32), np.uint8)
    with pytest.raises(gacn.InputError, match="at least two"):
        gacn.fuse([a])
    with pytest.raises(gacn.InputError, match="unknown strategy"):
        gacn.fuse([a, a, a], method="gacn", strategy="vote")
    with pytest.raises(gacn.InputError, match="unknown method"):
        gacn.fuse([a, a, a], method="magic")
    with pytest.raises(gacn.InputError, match="method 'gacn'"):
        gacn.fuse([a, a, a], strategy="calibration")
    with pytest.raises(gacn.InputError, match="sizes differ"):
        gacn.fuse([a, a, np.zeros((32, 40), np.uint8)], align=False)
    with pytest.raises(gacn.InputError, match="list"):
        gacn.fuse("a.png")  # type: ignore[arg-type]


def test_raw_without_rawpy_is_a_clear_error(tmp_path: Path) -> None:
    raw = tmp_path / "x.dng"
    raw.write_bytes(b"not a raw file")
    with pytest.raises(gacn.InputError, match="rawpy|cannot read RAW"):
        read_frame(raw)


def test_expand_inputs(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert expand_inputs([tmp_path]) == [tmp_path / "a.png", tmp_path / "b.png"]
    assert expand_inputs([str(tmp_path / "*.png")]) == [tmp_path / "a.png", tmp_path / "b.png"]
    with pytest.raises(gacn.InputError, match="no files match"):
        expand_inputs([str(tmp_path / "z*.png")])


def gacn_cli(*args: object, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gacn", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]


def test_cli_folder_writes_image_depth_map_preview_confidence(tmp_path: Path) -> None:
    s = make_stack(n_frames=4, size=(96, 96))
    folder = tmp_path / "stack"
    folder.mkdir()
    for k, f in enumerate(s.frames):
        iio.imwrite(folder / f"f{k}.png", f)
    out, dmap, conf = tmp_path / "fused.png", tmp_path / "depth.png", tmp_path / "conf.png"
    proc = gacn_cli("fuse", folder, "-o", out, "--map", dmap, "--confidence", conf, "--no-align")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    depth = iio.imread(dmap)
    assert depth.dtype == np.uint8 and depth.shape == (96, 96) and depth.max() == 3
    assert index_accuracy(depth, s) >= 0.85
    assert iio.imread(tmp_path / "depth_preview.png").shape == (96, 96, 3)
    assert iio.imread(conf).shape == (96, 96) and iio.imread(out).shape == (96, 96, 3)


def test_cli_ctrl_c_leaves_no_output(tmp_path: Path) -> None:
    s = make_stack(n_frames=12, size=(512, 512))  # long enough (several seconds) to be interrupted
    for k, f in enumerate(s.frames):
        iio.imwrite(tmp_path / f"frame{k}.png", f)
    out = tmp_path / "out.png"
    # the slow path, to have time to interrupt it; Ctrl-C's default action in the child even when an
    # earlier test left this process ignoring SIGINT (an ignored signal is inherited across exec)
    proc = gacn_cli("fuse", tmp_path / "frame*.png", "-o", out, "--method", "gacn",
                    env=dict(os.environ, TMPDIR=str(tmp_path)),
                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("gacn-stack-*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until fusion has started (its temporary folder exists)
    time.sleep(0.5)
    assert proc.poll() is None, "fusion finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.startswith("frame")]
    assert leftovers == [], leftovers
