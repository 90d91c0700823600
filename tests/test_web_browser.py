"""End-to-end tests of ``gacn serve`` in a real Chromium driven by Playwright (loopback only).

Debian's Chromium (``apt-get install chromium``) is launched from ``/usr/bin/chromium`` (or
``$GACN_CHROMIUM``); ``playwright install`` is not needed. Without a browser (or without the
playwright package) the tests skip, except when ``GACN_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
where they fail. ``GACN_WEB_SCREENSHOTS=DIR`` also writes the README's screenshots into DIR.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from gacn.fusion.synthetic import make_stack
from gacn.io import read_image
from gacn.web import address, create_app

CHROMIUM = Path(os.environ.get("GACN_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("GACN_REQUIRE_BROWSER") == "1"
SHARED = Path(os.environ.get("GACN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _missing(reason: str) -> None:
    """Skip (or, under CI, fail) for a missing browser."""
    message = f"browser tests need {reason}; install it (apt-get install chromium; pip install playwright)"
    if REQUIRED:
        pytest.fail(message + " -- GACN_REQUIRE_BROWSER=1 makes them mandatory")
    pytest.skip(message)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's --root: a folder with a small synthetic pair."""
    folder = tmp_path_factory.mktemp("root")
    (folder / "pair").mkdir()
    for k, frame in enumerate(make_stack(n_frames=2, size=(120, 160)).frames):
        iio.imwrite(folder / "pair" / f"frame_{k + 1}.png", frame)
    return folder


def free_port() -> int:
    """A TCP port nothing listens on, on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(root: Path | None) -> Iterator[tuple[str, FastAPI]]:
    """The web app served by uvicorn on a free loopback port, in a thread: the address ``gacn serve``
    prints for it (with its token), and the app."""
    import uvicorn

    port = free_port()
    app = create_app(root, port=port)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield address("127.0.0.1", port, app.state.token), app
    uv.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def served(root: Path) -> Iterator[tuple[str, FastAPI]]:
    with serving(root) as address_and_app:
        yield address_and_app


@pytest.fixture(scope="module")
def server(served: tuple[str, FastAPI]) -> str:
    """The printed address of the module's server: pages open it as a user does."""
    return served[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, with every non-loopback request sent to a dead proxy."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package")
    if not CHROMIUM.is_file():
        _missing(f"Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost", "--no-sandbox",
            "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh tab on the app, ready."""
    context = browser.new_context(viewport={"width": 1200, "height": 760}, accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    api_message = "Failed to load resource: the server responded with a status of 4"  # shown in the page
    tab.on("console", lambda msg: errors.append(msg.text)
           if msg.type == "error" and not msg.text.startswith(api_message) else None)
    tab.goto(server)
    tab.wait_for_selector("body[data-ready='1']")
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file contents of an image."""
    return iio.imwrite("<bytes>", image, extension=".png")


def fuse_in_page(page: Any, timeout_ms: int = 60_000) -> None:
    """Click fuse and wait until the result and its first layers are shown."""
    page.click("#fuse")
    page.wait_for_function("document.body.dataset.state.startsWith('done:')", timeout=timeout_ms)
    page.wait_for_function("state.items.fused && state.items.compare && state.items.fused.getFullyLoaded()",
                           timeout=timeout_ms)


def to_screen(page: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) of the result."""
    p = page.evaluate(f"(() => {{ const q = state.items.fused.imageToViewerElementCoordinates("
                      f"new OpenSeadragon.Point({x}, {y})); return [q.x, q.y]; }})()")
    box = page.locator("#viewer").bounding_box()
    return box["x"] + p[0], box["y"] + p[1]


def download(page: Any, label: str, tmp_path: Path) -> np.ndarray:
    """Click a download link and read the downloaded image."""
    with page.expect_download() as info:
        page.click(f"#downloads a:text-is('{label}')")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return read_image(path)


def test_upload_fuse_slide_retouch_download(page: Any, tmp_path: Path) -> None:
    frames = make_stack(n_frames=2, size=(120, 160)).frames
    page.set_input_files("#files", [{"name": f"f{k + 1}.png", "mimeType": "image/png", "buffer": png_bytes(f)}
                                    for k, f in enumerate(frames)])
    page.wait_for_function("document.querySelectorAll('#frames li').length === 2")
    assert page.locator("#frames img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    fuse_in_page(page)
    assert page.locator("#result-info").inner_text().startswith("160×120, 2 frames")
    viewer_shot = cv2.imdecode(np.frombuffer(page.locator("#viewer").screenshot(), np.uint8), cv2.IMREAD_COLOR)
    assert viewer_shot.std() > 10, "the fused image is not drawn"

    page.locator("#slider").fill("250")
    assert page.evaluate("state.items.compare.getClip().width") == pytest.approx(160 * 0.25)
    divider_x = page.locator("#divider").bounding_box()["x"]
    assert divider_x == pytest.approx(to_screen(page, 40, 0)[0], abs=2)

    before = download(page, "PNG", tmp_path)
    page.check("#paint")
    page.select_option("#source", "2")
    page.locator("#size").fill("5")
    page.locator("#hardness").fill("100")
    start, end = to_screen(page, 20, 60), to_screen(page, 140, 60)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()
    page.wait_for_function("document.body.dataset.state.endsWith('.1')")
    strokes = page.evaluate("fetch(`/api/jobs/${state.job.id}/retouch`).then(r => r.json())")["strokes"]
    assert len(strokes) == 1 and strokes[0]["frame"] == 2
    points = np.rint(np.array(strokes[0]["points"])).astype(int)
    after = download(page, "PNG", tmp_path)
    rows, cols = points[:, 1], points[:, 0]
    np.testing.assert_array_equal(after[rows, cols], frames[1][rows, cols])
    assert (before[rows, cols] != frames[1][rows, cols]).any(), "the stroke should change some pixels"
    far = after[:, :] == before[:, :]
    assert far[:40].all() and far[80:].all(), "pixels away from the stroke must not change"
    mask = download(page, "retouch mask", tmp_path)
    assert mask[rows, cols].min() == 255 and mask[:40].max() == 0

    page.click("#undo")
    page.wait_for_function("document.body.dataset.state.endsWith('.2')")
    np.testing.assert_array_equal(download(page, "PNG", tmp_path), before)


def test_broken_file_shows_error_and_app_keeps_working(page: Any) -> None:
    page.set_input_files("#files", [{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png at all"}])
    page.wait_for_selector("#error:not([hidden])")
    assert "notes.png is not an image" in page.locator("#error-text").inner_text()
    frame = make_stack(n_frames=2, size=(60, 80)).frames[0]
    page.set_input_files("#files", [{"name": "ok.png", "mimeType": "image/png", "buffer": png_bytes(frame)}])
    page.wait_for_function("document.querySelectorAll('#frames li').length === 1")
    assert page.locator("#fuse").is_disabled(), "one image cannot be fused"


def test_two_tabs_queue_cancel_and_close(browser: Any, server: str) -> None:
    """Tab A's stack fuses while tab B's waits in the queue; A is cancelled and closed, B finishes."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    tabs = [context.new_page(), context.new_page()]
    stacks = [make_stack(n_frames=4, size=(320, 320)).frames, make_stack(n_frames=2, size=(60, 80)).frames]
    for tab, frames in zip(tabs, stacks):
        tab.goto(server)
        tab.wait_for_selector("body[data-ready='1']")
        tab.set_input_files("#files", [{"name": f"f{k + 1}.png", "mimeType": "image/png", "buffer": png_bytes(f)}
                                       for k, f in enumerate(frames)])
        tab.wait_for_function(f"document.querySelectorAll('#frames li').length === {len(frames)}")
    assert tabs[0].evaluate("state.job.id") != tabs[1].evaluate("state.job.id"), "each tab has its own stack"
    tabs[0].click("#fuse")
    tabs[1].click("#fuse")
    tabs[1].wait_for_function("document.getElementById('progress-text').textContent === 'queued behind another fusion'")
    tabs[0].click("#cancel")
    tabs[0].wait_for_function("document.body.dataset.state === 'cancelled'")
    assert tabs[0].locator("#note").inner_text() == "fusion cancelled"
    tabs[0].close()
    tabs[1].wait_for_function("document.body.dataset.state.startsWith('done:')", timeout=60_000)
    context.close()


def test_folder_under_root_and_pick_by_click(page: Any) -> None:
    page.click("#dirs a:text-is('pair/')")
    page.wait_for_function("document.getElementById('folder-count').textContent === '2 images'")
    page.click("#add-folder")
    page.wait_for_function("document.querySelectorAll('#frames li').length === 2")
    names = "[...document.querySelectorAll('#frames .name')].map(n => n.textContent.split(' ')[1]).join()"
    page.click("#frames li:first-child [data-act='down']")
    page.wait_for_function(f"{names} === 'frame_2.png,frame_1.png'")
    page.click("#frames li:last-child [data-act='up']")
    page.wait_for_function(f"{names} === 'frame_1.png,frame_2.png'")
    fuse_in_page(page)
    page.click("#pick")
    page.mouse.click(*to_screen(page, 80, 60))
    page.wait_for_function("document.getElementById('note').textContent.includes('is sharpest there')")
    index = page.evaluate("fetch(`/api/jobs/${state.job.id}/probe?x=80&y=60`).then(r => r.json())")["frame"]
    assert page.locator("#source").input_value() == str(index)
    assert page.locator("#paint").is_checked()


def _screenshot(browser: Any, server: str, files: list[Path], out: Path, overlay: str = "") -> dict[str, float]:
    """Drop ``files`` into a fresh tab, fuse, set the slider (and an overlay), save a screenshot.

    Returns the seconds from the drop to the result on screen, the CPU seconds this process
    (the server) spent meanwhile, and the seconds ``gacn.fuse`` took in the server.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.goto(server)
    tab.wait_for_selector("body[data-ready='1']")
    start, cpu = time.perf_counter(), time.process_time()
    tab.set_input_files("#files", [str(f) for f in files])
    tab.wait_for_function(f"document.querySelectorAll('#frames li').length === {len(files)}")
    fuse_in_page(tab, timeout_ms=1_200_000)
    times = {"drop_to_result": time.perf_counter() - start, "server_cpu": time.process_time() - cpu,
             "fuse": tab.evaluate("state.job.result.seconds")}
    tab.locator("#slider").fill("380")
    if overlay:
        tab.select_option("#overlay", overlay)
        tab.wait_for_function("state.items.overlay && state.items.overlay.getFullyLoaded()")
    tab.wait_for_timeout(500)
    shot = Image.open(io.BytesIO(tab.screenshot())).convert("RGB")
    shot.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)  # a third of the bytes
    context.close()
    return times


@pytest.mark.skipif(not os.environ.get("GACN_WEB_SCREENSHOTS"), reason="set GACN_WEB_SCREENSHOTS=DIR to write them")
def test_screenshots(browser: Any) -> None:
    """The README's screenshots (served with --root on the shared stacks folder): the
    full-resolution pcb stack with the depth overlay, timed, and a Lytro pair."""
    out = Path(os.environ["GACN_WEB_SCREENSHOTS"])
    pcb = sorted((SHARED / "stacks" / "pcb").glob("pcb_0*.jpg"))
    lytro = [SHARED / "pairs" / "lytro" / f"lytro_05_{k}.png" for k in (1, 2)]
    if not pcb or not all(p.is_file() for p in lytro):
        pytest.skip(f"shared data not found under {SHARED}")
    with serving(SHARED / "stacks") as (url, _):
        times = _screenshot(browser, url, pcb, out / "web_pcb.png", overlay="depth")
        print(f"pcb stack ({len(pcb)} frames): " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
        _screenshot(browser, url, lytro, out / "web_lytro.png")
    assert (out / "web_pcb.png").stat().st_size > 10_000 and (out / "web_lytro.png").stat().st_size > 10_000
