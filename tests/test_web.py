"""Tests of the web app's retouch compositing, tiles and every API route (FastAPI's test client)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import gacn
from gacn.fusion.synthetic import make_stack
from gacn.io import read_image
from gacn.web import create_app, is_loopback
from gacn.web.jobs import Cancelled, Job, check_options
from gacn.web.retouch import Stroke, apply_strokes, stroke_alpha
from gacn.web.tiles import OVERLAP, TILE, Pyramid


def encoded(image: np.ndarray) -> bytes:
    """PNG file contents (TIFF for 16-bit images)."""
    return iio.imwrite("<bytes>", image, extension=".tif" if image.dtype == np.uint16 else ".png")


@pytest.fixture(scope="module")
def pair() -> list[np.ndarray]:
    return make_stack(n_frames=2, size=(72, 96)).frames


@pytest.fixture
def root(tmp_path: Path, pair: list[np.ndarray]) -> Path:
    """A --root with a stack folder, an empty folder, and links that point outside it."""
    base = tmp_path / "root"
    (base / "stack").mkdir(parents=True)
    (base / "empty").mkdir()
    for k, frame in enumerate(pair):
        iio.imwrite(base / "stack" / f"f{k + 1}.png", frame)
    outside = tmp_path / "outside"
    outside.mkdir()
    iio.imwrite(outside / "secret.png", pair[0])
    (base / "escape").symlink_to(outside, target_is_directory=True)
    (base / "stack" / "z_link.png").symlink_to(outside / "secret.png")
    return base


#: Where the test clients say they talk to (the app's default port).
BASE = "http://127.0.0.1:8765"


def trusted(app: FastAPI) -> TestClient:
    """A test client that talks to ``app`` as a script given its token does."""
    return TestClient(app, base_url=BASE, headers={"X-Gacn-Token": app.state.token})


@pytest.fixture
def client(root: Path) -> Iterator[TestClient]:
    with trusted(create_app(root, max_upload_mb=1)) as c:
        yield c


def new_job(client: TestClient, frames: list[np.ndarray] = ()) -> str:
    """Create a job and upload ``frames`` into it; return its id."""
    job = client.post("/api/jobs").json()["id"]
    for k, frame in enumerate(frames):
        name = f"f{k + 1}.{'tif' if frame.dtype == np.uint16 else 'png'}"
        r = client.post(f"/api/jobs/{job}/frames", params={"name": name}, content=encoded(frame))
        assert r.status_code == 200, r.text
    return job


def wait(client: TestClient, job: str, timeout: float = 60) -> dict:
    """Poll a job until it leaves the queue; return its status."""
    deadline = time.monotonic() + timeout
    while (status := client.get(f"/api/jobs/{job}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "fusion did not finish"
        time.sleep(0.05)
    return status


def fused_job(client: TestClient, frames: list[np.ndarray], **options: object) -> str:
    """A job with ``frames`` fused; its id."""
    job = new_job(client, frames)
    assert client.post(f"/api/jobs/{job}/fuse", json={"options": options}).status_code == 200
    assert wait(client, job)["state"] == "done"
    return job


# ---------- retouch compositing ----------

def test_hard_stroke_copies_the_frame_exactly_and_nothing_else() -> None:
    image = np.zeros((40, 50, 3), np.uint8)
    frame = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    index = np.zeros((40, 50), np.uint16)
    stroke = Stroke(2, ((10.0, 20.0), (30.0, 20.0)), radius=4, hardness=1.0)
    out, new_index, mask = apply_strokes(image, index, [stroke], lambda k: frame)
    inside = mask == 1.0
    np.testing.assert_array_equal(out[inside], frame[inside])
    assert not out[~inside].any() and not new_index[mask < 0.5].any()
    assert (new_index[inside] == 2).all()
    assert inside[20, 7:34].all() and inside[17:24, 20].all() and not inside[16, 20] and not inside[20, 6]
    assert not image.any() and not index.any(), "the inputs are not modified"


def test_soft_stroke_feathers_and_later_strokes_paint_over() -> None:
    box, alpha = stroke_alpha(Stroke(0, ((20.0, 20.0),), radius=10, hardness=0.5), (41, 41))
    profile = alpha[20 - box[0].start, 20 - box[1].start:]
    assert profile[:5].min() == 1.0 and 0 < profile[7] < 1 and profile[10:].max() == 0.0
    assert np.all(np.diff(profile) <= 0)
    image = np.zeros((41, 41), np.uint16)
    frames = {1: np.full((41, 41), 1000, np.uint16), 2: np.full((41, 41), 60000, np.uint16)}
    strokes = [Stroke(1, ((20.0, 20.0),), 10, 1.0), Stroke(2, ((20.0, 20.0),), 3, 1.0)]
    out, index, _ = apply_strokes(image, np.zeros((41, 41), np.uint16), strokes, frames.__getitem__)
    assert out.dtype == np.uint16 and out[20, 20] == 60000 and out[20, 27] == 1000 and out[0, 0] == 0
    assert index[20, 20] == 2 and index[20, 27] == 1


def test_strokes_across_the_border_are_clipped() -> None:
    image = np.full((10, 10), 7, np.uint8)

    def source(k: int) -> np.ndarray:
        return np.zeros((10, 10), np.uint8)

    out, _, mask = apply_strokes(image, np.zeros((10, 10), np.uint16), [Stroke(1, ((50.0, 50.0),), 3)], source)
    np.testing.assert_array_equal(out, image)
    assert not mask.any()
    out, _, mask = apply_strokes(image, np.zeros((10, 10), np.uint16), [Stroke(1, ((-2.0, 4.0),), 4)], source)
    assert out[4, :2].max() == 0 and out[4, 2:].min() == 7 and mask[4, 1] == 1


# ---------- tiles and helpers ----------

def test_pyramid_tiles_overlap_and_cover_the_image() -> None:
    image = np.random.default_rng(1).integers(0, 256, (300, 700, 3), dtype=np.uint8)
    p = Pyramid(image)
    assert p.max_level == 10
    np.testing.assert_array_equal(p.tile(10, 1, 0), image[:TILE + OVERLAP, TILE - OVERLAP:2 * TILE + OVERLAP])
    assert p.tile(10, 2, 1).shape == (300 - TILE + OVERLAP, 700 - 2 * TILE + OVERLAP, 3)
    assert p.tile(9, 0, 0).shape == (150, TILE + OVERLAP, 3) and p.tile(0, 0, 0).shape[:2] == (1, 1)
    for bad in ((11, 0, 0), (10, 3, 0), (10, 0, 2), (-1, 0, 0)):
        with pytest.raises(IndexError):
            p.tile(*bad)


def test_options_follow_gacn_fuse() -> None:
    assert check_options({}) == {"method": "fast", "strategy": "running", "align": None, "crop": True,
                                 "refine": True}
    assert check_options({"strategy": "serial", "align": False})["align"] is False
    with pytest.raises(gacn.InputError, match="unknown fusion option"):
        check_options({"tile": 64})
    with pytest.raises(gacn.InputError, match="strategy must be one of"):
        check_options({"strategy": "best"})


def test_progress_callback_stops_a_cancelled_job(tmp_path: Path) -> None:
    job = Job("x", tmp_path)
    job.progress("decide", 2, 4)
    assert job.fraction == pytest.approx(0.425)
    job.cancel.set()
    with pytest.raises(Cancelled):
        job.progress("decide", 3, 4)


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("192.168.1.2")


# ---------- API ----------

def test_page_assets_and_config(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "openseadragon.min.js" in page.text and "//cdn" not in page.text
    assert client.get("/static/vendor/openseadragon.min.js").text.startswith("//! openseadragon")
    assert client.get("/static/app.js").status_code == 200
    config = client.get("/api/config").json()
    assert config["root"] is True and config["max_upload_mb"] == 1
    assert config["options"]["strategy"]["choices"] == list(gacn.STRATEGIES)


def test_upload_fuse_tiles_probe_download(client: TestClient, pair: list[np.ndarray]) -> None:
    job = fused_job(client, pair)
    status = client.get(f"/api/jobs/{job}").json()
    assert [f["name"] for f in status["frames"]] == ["f1.png", "f2.png"]
    assert status["result"]["width"] == 96 and status["result"]["height"] == 72
    expected = gacn.fuse(pair)
    fused = _download(client, job, "fused.png")
    np.testing.assert_array_equal(fused, expected.image)
    thumb = client.get(f"/api/jobs/{job}/frames/{status['frames'][0]['id']}/thumb")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    for layer in ("fused", "depth", "confidence", "decision", "frame1", "frame2"):
        tile = client.get(f"/api/jobs/{job}/tiles/{layer}/7/0_0.jpg")
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg", layer
        assert cv2.imdecode(np.frombuffer(tile.content, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2] == (72, 96)
    for bad in ("frame3", "frame0", "frame01", "nope"):
        assert client.get(f"/api/jobs/{job}/tiles/{bad}/7/0_0.jpg").status_code == 404
    result = client.app.state.store.get(job).result
    assert sorted(result.pyramids) == ["confidence", "decision", "depth", "frame1", "frame2", "fused"]
    stack = fused_job(client, make_stack(n_frames=3, size=(40, 48)).frames, align=False)
    for k in (1, 2, 3):
        assert client.get(f"/api/jobs/{stack}/tiles/frame{k}/6/0_0.jpg").status_code == 200
    assert sorted(client.app.state.store.get(stack).result.pyramids) == ["frame2", "frame3"], "two frames kept"
    assert client.get(f"/api/jobs/{job}/tiles/fused/8/0_0.jpg").status_code == 404
    probe = client.get(f"/api/jobs/{job}/probe", params={"x": 5, "y": 6}).json()
    assert probe["frame"] == int(expected.index_map[6, 5]) + 1
    assert client.get(f"/api/jobs/{job}/probe", params={"x": 96, "y": 0}).status_code == 400
    depth = _download(client, job, "depth.png")
    np.testing.assert_array_equal(depth, expected.index_map.astype(np.uint8))
    assert _download(client, job, "fused.jpg").shape == (72, 96, 3)
    assert _download(client, job, "fused.tif").dtype == np.uint8
    for name in ("confidence.png", "decision.png", "depth_preview.png", "mask.png"):
        assert _download(client, job, name).shape[:2] == (72, 96)
    assert client.get(f"/api/jobs/{job}/download/fused.gif").status_code == 404
    assert not list(client.app.state.store.get(job).folder.glob("download-*")), "downloads leave no file"


def _download(client: TestClient, job: str, name: str) -> np.ndarray:
    """Download ``name`` of a job and read it as gacn reads images."""
    r = client.get(f"/api/jobs/{job}/download/{name}")
    assert r.status_code == 200, r.text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(r.content)
        return read_image(path)


def test_sixteen_bit_inputs_give_a_sixteen_bit_tiff(client: TestClient, pair: list[np.ndarray]) -> None:
    deep = [f.astype(np.uint16) * 257 for f in pair]
    job = fused_job(client, deep)
    assert client.get(f"/api/jobs/{job}").json()["frames"][0]["dtype"] == "uint16"
    tiff = _download(client, job, "fused.tif")
    assert tiff.dtype == np.uint16 and tiff.shape == (72, 96, 3)


def test_retouch_applies_at_full_resolution_and_undoes(client: TestClient, pair: list[np.ndarray]) -> None:
    job = fused_job(client, pair)
    before = _download(client, job, "fused.png")
    stroke = {"frame": 2, "points": [[10, 30], [80, 30]], "radius": 4, "hardness": 1}
    r = client.put(f"/api/jobs/{job}/retouch", json={"strokes": [stroke]})
    assert r.status_code == 200 and r.json()["result"]["strokes"] == 1
    after = _download(client, job, "fused.png")
    np.testing.assert_array_equal(after[27:34, 10:81], pair[1][27:34, 10:81])
    np.testing.assert_array_equal(after[:25], before[:25])
    assert (_download(client, job, "depth.png")[27:34, 10:81] == 1).all()
    assert _download(client, job, "mask.png")[30, 10:81].min() == 255
    assert client.get(f"/api/jobs/{job}/retouch").json()["strokes"][0]["frame"] == 2
    assert client.put(f"/api/jobs/{job}/retouch", json={"strokes": []}).status_code == 200
    np.testing.assert_array_equal(_download(client, job, "fused.png"), before)
    bad = client.put(f"/api/jobs/{job}/retouch", json={"strokes": [{**stroke, "frame": 3}]})
    assert bad.status_code == 400 and "no frame 3" in bad.json()["detail"]
    assert client.put(f"/api/jobs/{job}/retouch", json={"strokes": [{**stroke, "radius": -1}]}).status_code == 422


def test_retouch_on_an_aligned_stack_uses_registered_frames(client: TestClient) -> None:
    stack = make_stack(n_frames=3, size=(80, 96), shift=2.0)
    job = fused_job(client, stack.frames, align=True)
    result = gacn.fuse(stack.frames, align=True)
    h, w = result.image.shape[:2]
    stroke = {"frame": 1, "points": [[w // 2, h // 2]], "radius": 3, "hardness": 1}
    assert client.put(f"/api/jobs/{job}/retouch", json={"strokes": [stroke]}).status_code == 200
    after = _download(client, job, "fused.png")
    np.testing.assert_array_equal(after, _download(client, job, "fused.png"))
    frame = client.app.state.store.get(job).result.source(0)
    assert after.shape == frame.shape == result.image.shape
    np.testing.assert_array_equal(after[h // 2, w // 2], frame[h // 2, w // 2])
    # The registered frame lines up with the fused image where the fusion copied frame 1 outright.
    copied = (result.index_map == 0) & (result.decision_map > 0.999)
    assert copied.sum() > 100
    difference = np.abs(result.image.astype(int) - frame.astype(int))[copied]
    assert np.median(difference) <= 1


def test_retouch_paints_frames_matched_to_the_fusions_exposure(client: TestClient) -> None:
    stack = make_stack(n_frames=2, size=(96, 128), seed=3)
    darker = np.clip(stack.frames[1].astype(np.float32) * 0.6, 0, 255).round().astype(np.uint8)
    job = fused_job(client, [stack.frames[0], darker])
    exposure = client.app.state.store.get(job).result.fused.exposure
    assert exposure is not None and abs(float(exposure[1][:, 0].mean()) - 1 / 0.6) < 0.1
    stroke = {"frame": 2, "points": [[10, 48], [118, 48]], "radius": 5, "hardness": 1}
    assert client.put(f"/api/jobs/{job}/retouch", json={"strokes": [stroke]}).status_code == 200
    painted = _download(client, job, "fused.png")[45:52, 12:117].astype(np.float32)
    given = darker[45:52, 12:117].astype(np.float32)
    # the painted pixels are frame 2 brought to frame 1's exposure, not the darker frame as given
    assert abs(painted.mean() / given.mean() - 1 / 0.6) < 0.1
    reference = stack.frames[0][45:52, 12:117].astype(np.float32)
    assert abs(painted.mean() / reference.mean() - 1.0) < 0.05


def test_bad_uploads_keep_the_job(client: TestClient, pair: list[np.ndarray]) -> None:
    job = new_job(client, pair[:1])
    not_image = client.post(f"/api/jobs/{job}/frames", params={"name": "notes.txt"}, content=b"hello")
    assert not_image.status_code == 400 and "notes.txt is not an image file" in not_image.json()["detail"]
    broken = client.post(f"/api/jobs/{job}/frames", params={"name": "broken.png"}, content=b"\x89PNG junk")
    assert broken.status_code == 400 and "broken.png is not an image gacn can read" in broken.json()["detail"]
    big = client.post(f"/api/jobs/{job}/frames", params={"name": "big.png"}, content=b"0" * (2**20 + 1))
    assert big.status_code == 413 and "upload limit of 1 MB" in big.json()["detail"]
    one = client.post(f"/api/jobs/{job}/fuse", json={"options": {}})
    assert one.status_code == 400 and "at least two images" in one.json()["detail"]
    small = client.post(f"/api/jobs/{job}/frames", params={"name": "small.png"}, content=encoded(pair[1][:40, :50]))
    assert small.status_code == 200
    differ = client.post(f"/api/jobs/{job}/fuse", json={"options": {}})
    assert differ.status_code == 400
    assert "differ in size: f1.png is 96x72, small.png is 50x40" in differ.json()["detail"]
    option = client.post(f"/api/jobs/{job}/fuse", json={"options": {"strategy": "nope"}})
    assert option.status_code == 400
    status = client.get(f"/api/jobs/{job}").json()
    assert status["state"] == "draft" and len(status["frames"]) == 2
    folder = client.app.state.store.get(job).folder
    assert len(list(folder.glob("upload-*"))) == 2, "rejected uploads leave no file"
    assert client.get(f"/api/jobs/{job}/download/fused.png").status_code == 409


def test_reorder_and_drop_frames(client: TestClient, pair: list[np.ndarray]) -> None:
    job = new_job(client, [pair[0], pair[1], pair[0]])
    ids = [f["id"] for f in client.get(f"/api/jobs/{job}").json()["frames"]]
    r = client.put(f"/api/jobs/{job}/order", json={"order": [ids[2], ids[0]]})
    assert [f["name"] for f in r.json()["frames"]] == ["f3.png", "f1.png"]
    assert len(list(client.app.state.store.get(job).folder.glob("upload-*"))) == 2
    assert client.put(f"/api/jobs/{job}/order", json={"order": [ids[0], ids[0]]}).status_code == 400
    assert client.put(f"/api/jobs/{job}/order", json={"order": ["nope"]}).status_code == 400
    assert client.get(f"/api/jobs/{job}/frames/{ids[1]}/thumb").status_code == 404


def test_folder_jail(client: TestClient, root: Path) -> None:
    listing = client.get("/api/browse", params={"path": ""}).json()
    assert listing["dirs"] == ["empty", "stack"], "the link out of the root is not listed"
    assert client.get("/api/browse", params={"path": "stack"}).json()["images"] == ["f1.png", "f2.png"]
    outside = [str(root.parent / "outside"), "../outside", "stack/../../outside", "escape", "escape/secret.png",
               "/etc", "stack/z_link.png"]
    for path in outside:
        assert client.get("/api/browse", params={"path": path}).status_code in (403, 404), path
    for query in ("%2e%2e", "stack%2f%2e%2e%2f%2e%2e%2foutside", "%2E%2E/outside", "%252e%252e"):
        r = client.get(f"/api/browse?path={query}")  # decoded once: '..' is refused, '%2e%2e' is just a name
        assert r.status_code in (403, 404) and "secret.png" not in r.text, query
    job = new_job(client)
    for path in ("..", "escape", str(root.parent / "outside"), "%2e%2e", "stack/%2e%2e/%2e%2e/outside"):
        r = client.post(f"/api/jobs/{job}/folder", json={"path": path})
        assert r.status_code in (403, 404), path
    assert client.get(f"/api/jobs/{job}").json()["frames"] == []
    assert client.post(f"/api/jobs/{job}/folder", json={"path": "nope"}).status_code == 404
    assert client.post(f"/api/jobs/{job}/folder", json={"path": "empty"}).status_code == 400
    r = client.post(f"/api/jobs/{job}/folder", json={"path": "stack"})
    assert [f["name"] for f in r.json()["frames"]] == ["f1.png", "f2.png"]
    assert client.post(f"/api/jobs/{job}/fuse", json={"options": {}}).status_code == 200
    assert wait(client, job)["state"] == "done"
    for folder in ("..", "escape", "/tmp", str(root.parent / "outside"), "stack/../../outside"):
        r = client.post(f"/api/jobs/{job}/save", json={"folder": folder, "stem": "out"})
        assert r.status_code == 403, folder
    for folder in ("%2e%2e", "%2e%2e/outside", "escape%2f"):
        r = client.post(f"/api/jobs/{job}/save", json={"folder": folder, "stem": "out"})
        assert r.status_code == 404, folder  # never decoded: a folder of that name, which does not exist
    assert client.post(f"/api/jobs/{job}/save", json={"folder": "", "stem": "../out"}).status_code == 422
    r = client.post(f"/api/jobs/{job}/save", json={"folder": "empty", "stem": "out", "ext": "jpg"})
    assert r.status_code == 200 and sorted(os.listdir(root / "empty")) == [
        "out.jpg", "out_confidence.png", "out_depth.png", "out_mask.png"]
    again = client.post(f"/api/jobs/{job}/save", json={"folder": "empty", "stem": "out", "ext": "jpg"})
    assert again.status_code == 409 and "not overwriting out.jpg" in again.json()["detail"]
    assert not list((root.parent / "outside").glob("out*"))


def test_no_root_means_no_folders(pair: list[np.ndarray]) -> None:
    with trusted(create_app()) as c:
        assert c.get("/api/config").json()["root"] is False
        assert c.get("/api/browse").status_code == 404
        job = new_job(c)
        assert c.post(f"/api/jobs/{job}/folder", json={"path": ""}).status_code == 404


def test_two_jobs_queue_and_both_finish_cancel_and_delete(client: TestClient, pair: list[np.ndarray]) -> None:
    stack = make_stack(n_frames=4, size=(128, 128)).frames
    first, second, third = new_job(client, stack), new_job(client, pair), new_job(client, stack[:3])
    for job in (first, second, third):
        assert client.post(f"/api/jobs/{job}/fuse", json={"options": {"align": False}}).status_code == 200
    assert client.get(f"/api/jobs/{second}").json()["state"] == "queued"
    assert client.post(f"/api/jobs/{third}/cancel").json()["state"] == "cancelled"
    assert client.post(f"/api/jobs/{first}/fuse", json={"options": {}}).status_code == 400, "already queued"
    done = wait(client, first)
    assert done["state"] == "done" and done["progress"]["stage"] == "blend" and done["progress"]["fraction"] == 1
    assert wait(client, second)["state"] == "done"
    assert client.get(f"/api/jobs/{third}").json()["state"] == "cancelled"
    folder = client.app.state.store.get(first).folder
    assert client.delete(f"/api/jobs/{first}").status_code == 200 and not folder.exists()
    assert client.get(f"/api/jobs/{first}").status_code == 404
    assert client.get(f"/api/jobs/{second}").json()["state"] == "done", "deleting one job keeps the others"


def test_server_stop_removes_temporary_files(pair: list[np.ndarray]) -> None:
    with trusted(create_app()) as c:
        job = fused_job(c, pair)
        folder = c.app.state.store.folder
        assert (folder / job).is_dir()
    assert not folder.exists()


def test_gacn_serve_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gacn.cli import app

    missing = CliRunner().invoke(app, ["serve", "--root", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such folder" in missing.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(gacn.__file__).parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "gacn", "serve", "--port", str(port), "--root", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        printed = re.fullmatch(rf"gacn web app on http://127\.0\.0\.1:{port}/\?token=([\w-]{{43}}) \(Ctrl-C to stop\)",
                               server.stdout.readline().strip())
        assert printed, "the address with a 256-bit token"
        token = printed[1]
        assert json.load(wait_for_server(f"http://127.0.0.1:{port}/api/config", token, server))["root"] is True
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/config", timeout=5)
        assert refused.value.code == 401
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def wait_for_server(url: str, token: str, server: subprocess.Popen) -> http.client.HTTPResponse:
    """The answer of a just started ``gacn serve`` to a GET of ``url`` with ``token``, once it listens."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers={"X-Gacn-Token": token}), timeout=5)
        except urllib.error.URLError as exc:
            assert not isinstance(exc, urllib.error.HTTPError), exc
            assert time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.1)
