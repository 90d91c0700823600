"""End-to-end tests of ``gacn serve`` in a real Chromium driven by Playwright (loopback only).

Debian's Chromium (``apt-get install chromium``) is launched from ``/usr/bin/chromium`` (or
``$GACN_CHROMIUM``); ``playwright install`` is not needed. Without a browser (or without the
playwright package) the tests skip, except when ``GACN_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
where they fail. ``GACN_WEB_SCREENSHOTS=DIR`` also writes the README's screenshots into DIR.
Pages open the app from the address ``gacn serve`` prints, with the launch's token.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


#: A page of another app on this machine: with the user's cookie for the gacn app in the browser
#: (a page on another port of 127.0.0.1 is "same site", so the browser sends it), it tries to
#: browse the root, start a stack, fuse, save, delete and download, by fetch, image and form.
ATTACK = """<!doctype html><title>another app</title><body><script>
const app = %(app)s, job = %(job)s, frame = %(frame)s;
async function attempt(name, path, init) {
  try {
    const r = await fetch(app + path, { credentials: "include", ...init });
    return { name, type: r.type, status: r.status, body: await r.text() };
  } catch (e) { return { name, type: "error", status: 0, body: String(e) }; }
}
const image = (name, path) => new Promise((done) => {
  const img = new Image();
  img.onload = () => done({ name, type: "image", status: img.naturalWidth, body: "loaded" });
  img.onerror = () => done({ name, type: "error", status: 0, body: "" });
  img.src = app + path;
});
const form = (name, path, field) => new Promise((done) => {  // the text/plain form trick for a JSON body
  const [sink, f, input] = ["iframe", "form", "input"].map((tag) => document.createElement(tag));
  sink.name = "sink"; sink.onload = () => done({ name, type: "form", status: 0, body: "" });
  Object.assign(f, { method: "POST", enctype: "text/plain", action: app + path, target: "sink" });
  Object.assign(input, { name: field, value: '"}' });
  f.append(input); document.body.append(sink, f); f.submit();
});
const plain = { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" } };
const json = (method, body) => ({
  method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
(async () => {
  const results = [];
  for (const [name, path, init] of [
    ["browse", "/api/browse?path=", {}],
    ["browse, no-cors", "/api/browse?path=", { mode: "no-cors" }],
    ["new job", "/api/jobs", plain],
    ["add folder", `/api/jobs/${job}/folder`, { ...plain, body: JSON.stringify({ path: "pair" }) }],
    ["fuse", `/api/jobs/${job}/fuse`, { ...plain, body: JSON.stringify({ options: {} }) }],
    ["save", `/api/jobs/${job}/save`, { ...plain, body: JSON.stringify({ folder: "", stem: "stolen" }) }],
    ["save as JSON", `/api/jobs/${job}/save`, json("POST", { folder: "", stem: "stolen" })],
    ["reorder", `/api/jobs/${job}/order`, json("PUT", { order: [] })],
    ["delete", `/api/jobs/${job}`, { method: "DELETE", mode: "no-cors" }],
    ["download", `/api/jobs/${job}/download/fused.png`, {}],
  ]) results.push(await attempt(name, path, init));
  results.push(await image("thumbnail", `/api/jobs/${job}/frames/${frame}/thumb`));
  results.push(await image("tile", `/api/jobs/${job}/tiles/fused/0/0_0.jpg`));
  results.push(await form("save by a form", `/api/jobs/${job}/save`, '{"folder": "", "stem": "formed", "x": "'));
  window.results = results;
})();
</script>"""


@contextmanager
def another_app(html: str) -> Iterator[str]:
    """A tiny web server of another app on a free loopback port, serving ``html``; its address."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    thread.join(timeout=10)


def test_another_origin_gets_nothing(browser: Any, served: tuple[str, FastAPI], root: Path) -> None:
    """A page served from another loopback port, in the browser that has the app open, can
    neither read nor change anything: no listing, no job, no fusion, no file under the root."""
    url, app = served
    origin = url.split("/?")[0]
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(url)
    tab.wait_for_selector("body[data-ready='1']")
    assert tab.evaluate("fetch('/api/browse?path=').then(r => r.json())")["dirs"] == ["pair"], "the tab has the cookie"

    def call(method: str, path: str, body: dict | None = None) -> dict:
        """The app's API, as a script with the token."""
        request = urllib.request.Request(origin + path, method=method, headers={
            "X-Gacn-Token": app.state.token, "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)

    job = call("POST", "/api/jobs")["id"]
    frame = call("POST", f"/api/jobs/{job}/folder", {"path": "pair"})["frames"][0]["id"]
    call("POST", f"/api/jobs/{job}/fuse", {"options": {}})
    deadline = time.monotonic() + 60
    while call("GET", f"/api/jobs/{job}")["state"] != "done":
        assert time.monotonic() < deadline, "fusion did not finish"
        time.sleep(0.05)
    jobs, files = set(app.state.store.jobs), sorted(root.rglob("*"))
    version = app.state.store.get(job).result.version

    with another_app(ATTACK % {"app": json.dumps(origin), "job": json.dumps(job), "frame": json.dumps(frame)}) as evil:
        assert evil.split(":")[2] != origin.split(":")[2], "another port of the same host"
        attack = context.new_page()
        attack.goto(evil)
        attack.wait_for_function("window.results", timeout=30_000)
        results = attack.evaluate("window.results")
    context.close()
    assert set(app.state.store.jobs) == jobs, "no job created or deleted"
    status = app.state.store.get(job)
    assert status.state == "done" and len(status.frames) == 2 and status.result.version == version
    assert sorted(root.rglob("*")) == files, "nothing written under the root"
    assert len(results) == 13
    for r in results:
        assert r["type"] in ("error", "opaque", "form"), r  # never a response the page can read
        assert r["status"] == 0 and (r["type"] == "error" or r["body"] == ""), r


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
