"""Tests of what keeps other pages and hosts out of the web app (:mod:`gacn.web.guard`).

Each protection is checked on the routes it guards and, where a refused request could have
changed something, that nothing changed: no job created or deleted, no fusion queued, no file
written under ``--root``. A real browser's view of it is ``test_web_browser.py``'s
``test_another_origin_gets_nothing``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import gacn
from gacn.web import create_app, serve
from gacn.web.guard import allowed_hosts
from test_web import pair, root  # noqa: F401  (the same --root: a stack folder, an empty one, links out)

BASE = "http://127.0.0.1:8765"
TOKEN = "s3cret-for-tests"
#: What a page on another loopback port sends with its requests (the cookie included: SameSite
#: does not separate ports).
FOREIGN = {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"}


@pytest.fixture
def app(root: Path) -> Iterator[FastAPI]:
    """The app with a known token; its job store is closed afterwards."""
    application = create_app(root, token=TOKEN)
    with TestClient(application):
        yield application


@pytest.fixture
def fused(app: FastAPI) -> dict[str, str]:
    """A job of the stack folder, fused: its id and its first frame's id."""
    c = TestClient(app, base_url=BASE, headers={"X-Gacn-Token": TOKEN})  # not entered: `app` runs the store
    job = c.post("/api/jobs").json()["id"]
    frames = c.post(f"/api/jobs/{job}/folder", json={"path": "stack"}).json()["frames"]
    assert c.post(f"/api/jobs/{job}/fuse", json={"options": {}}).status_code == 200
    deadline = time.monotonic() + 60
    while c.get(f"/api/jobs/{job}").json()["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "fusion did not finish"
        time.sleep(0.05)
    assert c.get(f"/api/jobs/{job}").json()["state"] == "done"
    return {"job_id": job, "frame_id": frames[0]["id"]}


def files_under(folder: Path) -> list[str]:
    """Every path under ``folder``, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def every_request(app: FastAPI, ids: dict[str, str]) -> list[tuple[str, str]]:
    """(method, path) of every API route (as the app's OpenAPI schema lists them), of the page, of
    FastAPI's own pages and of two static files, with real ids filled in."""
    values = {**ids, "layer": "fused", "level": 0, "col": 0, "row": 0, "kind": "fused", "ext": "png"}
    routes = [(method.upper(), path.format(**values)) for path, operations in app.openapi()["paths"].items()
              for method in operations]
    assert len(routes) >= 17, "every API route is listed"
    return [*routes, ("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/static/app.js"),
            ("GET", "/static/vendor/openseadragon.min.js")]


# ---------- Host ----------

@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "127.0.0.1", "localhost:80",
                                  "127.0.0.1.nip.io:8765", "[::1]:1", ""])
def test_foreign_host_is_refused_on_page_static_and_api(app: FastAPI, host: str) -> None:
    c = TestClient(app, base_url=BASE, headers={"X-Gacn-Token": TOKEN, "Host": host})
    for path in ("/", f"/?token={TOKEN}", "/static/app.js", "/static/vendor/openseadragon.min.js", "/api/config"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 403 and "refuses requests for host" in r.text, path
        assert "set-cookie" not in r.headers
    assert c.post("/api/jobs").status_code == 403
    assert not app.state.store.jobs, "no job was created"


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "LocalHost:8765", "[::1]:8765"])
def test_loopback_names_with_the_port_are_answered(app: FastAPI, host: str) -> None:
    c = TestClient(app, base_url=BASE, headers={"X-Gacn-Token": TOKEN, "Host": host})
    assert c.get("/api/config").status_code == 200 and c.get("/static/app.js").status_code == 200


def test_allowed_hosts_follow_host_and_port() -> None:
    assert allowed_hosts("::1", 80) == {"127.0.0.1:80", "localhost:80", "[::1]:80", "127.0.0.1", "localhost",
                                         "[::1]"}
    assert "192.0.2.7:9000" in allowed_hosts("192.0.2.7", 9000)
    everywhere = allowed_hosts("0.0.0.0", 9000)
    assert f"{socket.gethostname().lower()}:9000" in everywhere and "0.0.0.0:9000" not in everywhere


# ---------- token ----------

def test_every_route_refuses_a_request_without_the_token(app: FastAPI, fused: dict[str, str]) -> None:
    job = app.state.store.get(fused["job_id"])
    version = job.result.version
    requests = every_request(app, fused)
    wrong = [{}, {"X-Gacn-Token": TOKEN[:-1] + "x"}, {"Authorization": f"token {TOKEN}x"},
             {"Authorization": TOKEN}, {"Cookie": "gacn-token-8765=not-it"}, {"Cookie": f"gacn-token-9999={TOKEN}"}]
    for headers in wrong:
        c = TestClient(app, base_url=BASE, headers=headers)
        for method, path in requests:
            r = c.request(method, path, json={})
            assert r.status_code == 401, (headers, method, path)
        page = c.get("/")
        assert page.status_code == 401 and "open the address gacn serve printed" in page.text
    assert list(app.state.store.jobs) == [job.id] and job.state == "done" and job.result.version == version
    # the same requests with the token get through the guard (GETs only: the others would change the job)
    c = TestClient(app, base_url=BASE, headers={"X-Gacn-Token": TOKEN})
    for method, path in requests:
        if method in ("GET", "HEAD"):
            assert c.request(method, path).status_code != 401, path


def test_token_in_the_address_becomes_a_strict_httponly_cookie(app: FastAPI) -> None:
    c = TestClient(app, base_url=BASE)
    r = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/", "the token leaves the address bar"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"gacn-token-8765={TOKEN};")
    assert re.search(r";\s*HttpOnly", cookie, re.I) and re.search(r";\s*SameSite=Strict", cookie, re.I)
    assert re.search(r";\s*Path=/(;|$)", cookie)
    page = c.get("/")
    assert page.status_code == 200 and "openseadragon.min.js" in page.text, "the cookie opens the page"
    assert c.get("/api/config").status_code == 200 and c.get("/static/app.js").status_code == 200
    stranger = TestClient(app, base_url=BASE)
    bad = stranger.get("/?token=guessed-wrong", follow_redirects=False)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers and not stranger.cookies


def test_scripts_send_the_token_in_a_header(app: FastAPI) -> None:
    for headers in ({"X-Gacn-Token": TOKEN}, {"Authorization": f"token {TOKEN}"}, {"Authorization": f"Token {TOKEN}"}):
        c = TestClient(app, base_url=BASE, headers=headers)
        assert c.get("/api/config").status_code == 200, headers
        assert c.post("/api/jobs").status_code == 200, headers
    assert TestClient(app, base_url=BASE).get(f"/api/config?token={TOKEN}").status_code == 401, "page only"


def test_token_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gacn.cli import app as cli

    for bad in ("short", "has space in it", "semi;colon=1"):
        with pytest.raises(gacn.InputError, match="--token must be at least 8"):
            create_app(token=bad)
        result = CliRunner().invoke(cli, ["serve", "--token", bad])
        assert result.exit_code == 2 and "--token must be at least 8" in result.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(gacn.__file__).parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "gacn", "serve", "--port", str(port), "--token", TOKEN],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline().strip()
        assert line == f"gacn web app on http://127.0.0.1:{port}/?token={TOKEN} (Ctrl-C to stop)"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/config",
                                         headers={"Authorization": f"token {TOKEN}"})
        deadline = time.monotonic() + 30
        while True:
            try:
                assert urllib.request.urlopen(request, timeout=5).status == 200
                break
            except urllib.error.URLError as exc:
                assert not isinstance(exc, urllib.error.HTTPError) and time.monotonic() < deadline, exc
                time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def test_non_loopback_host_keeps_the_checks_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    served: list[tuple[FastAPI, dict]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append((app, kwargs)))
    serve(host="192.0.2.10", port=9000, token=TOKEN)
    out, err = capsys.readouterr()
    assert out == f"gacn web app on http://192.0.2.10:9000/?token={TOKEN} (Ctrl-C to stop)\n"
    assert "warning: listening on 192.0.2.10" in err and "the token, Host and Origin checks stay on" in err
    app, where = served[0]
    assert where["host"] == "192.0.2.10" and where["port"] == 9000
    with TestClient(app, base_url="http://192.0.2.10:9000") as c:
        assert c.get("/api/config").status_code == 401
        assert c.get("/api/config", headers={"X-Gacn-Token": TOKEN}).status_code == 200
        assert c.get("/api/config", headers={"X-Gacn-Token": TOKEN, "Host": "evil.example:9000"}).status_code == 403
        assert c.post("/api/jobs", headers={"X-Gacn-Token": TOKEN, "Origin": "http://evil.example"}).status_code == 403
    serve(host="0.0.0.0", port=9000)
    out, err = capsys.readouterr()
    assert re.fullmatch(r"gacn web app on http://127\.0\.0\.1:9000/\?token=[\w-]{43} \(Ctrl-C to stop\)\n", out)
    assert "the token, Host and Origin checks stay on" in err and f"{socket.gethostname().lower()}:9000" in err
    serve(port=9000)
    assert capsys.readouterr().err == "", "no warning on loopback"
    for app, _ in served[1:]:  # the first closed with its test client
        app.state.store.close()


# ---------- other origins ----------

def test_cross_origin_changes_are_refused_and_change_nothing(app: FastAPI, fused: dict[str, str],
                                                             root: Path) -> None:
    job = app.state.store.get(fused["job_id"])
    before = files_under(root)
    browser = TestClient(app, base_url=BASE)
    assert browser.get(f"/?token={TOKEN}").status_code == 200, "the user's browser holds the cookie"
    plain = {"Content-Type": "text/plain"}
    attempts = [("POST", "/api/jobs", ""),
                ("POST", f"/api/jobs/{job.id}/save", '{"folder": "", "stem": "stolen"}'),
                ("POST", f"/api/jobs/{job.id}/fuse", '{"options": {}}'),
                ("POST", f"/api/jobs/{job.id}/folder", '{"path": "stack"}'),
                ("POST", f"/api/jobs/{job.id}/frames?name=x.png", iio.imwrite("<bytes>", np.zeros((8, 8), np.uint8),
                                                                               extension=".png")),
                ("PUT", f"/api/jobs/{job.id}/order", '{"order": []}'),
                ("PUT", f"/api/jobs/{job.id}/retouch", '{"strokes": []}'),
                ("DELETE", f"/api/jobs/{job.id}", "")]
    origins = [FOREIGN, {"Origin": "http://127.0.0.1:9999"}, {"Origin": "null"}, {"Origin": "http://localhost:8765"},
               {"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]
    for headers in origins:
        for method, path, body in attempts:
            r = browser.request(method, path, content=body, headers={**plain, **headers})
            assert r.status_code == 403 and "refuses" in r.json()["detail"], (headers, method, path)
    assert list(app.state.store.jobs) == [job.id], "no job created or deleted"
    assert job.state == "done" and len(job.frames) == 2 and job.result.version == 0, "nothing queued, added, painted"
    assert files_under(root) == before, "nothing written under the root"
    # what a page on another port can make the browser fetch without asking (images, scripts) is refused too
    for path in (f"/api/jobs/{job.id}/frames/{fused['frame_id']}/thumb", f"/api/jobs/{job.id}/download/fused.png",
                 f"/api/jobs/{job.id}/tiles/fused/0/0_0.jpg", "/api/config", "/static/app.js"):
        assert browser.get(path, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403, path
    # following a link to the page from elsewhere is a visit, not an attack: the page answers
    visit = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert browser.get("/", headers=visit).status_code == 200
    assert browser.get("/", headers={**visit, "Sec-Fetch-Dest": "iframe"}).status_code == 403, "not in a frame"


def test_the_pages_own_requests_pass(app: FastAPI, pair: list[np.ndarray]) -> None:
    own = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    c = TestClient(app, base_url=BASE, headers=own)
    assert c.get(f"/?token={TOKEN}").status_code == 200
    job = c.post("/api/jobs").json()["id"]
    for k, frame in enumerate(pair):  # the page sends a file as the body, with the file's type (or none)
        headers = {"Content-Type": "image/png"} if k == 0 else {}
        r = c.post(f"/api/jobs/{job}/frames", params={"name": f"f{k}.png"}, headers=headers,
                   content=iio.imwrite("<bytes>", frame, extension=".png"))
        assert r.status_code == 200, r.text
    assert c.put(f"/api/jobs/{job}/order", json={"order": []}).json()["frames"] == []
    assert c.delete(f"/api/jobs/{job}").status_code == 200


def test_json_routes_require_a_json_content_type(app: FastAPI, fused: dict[str, str], root: Path) -> None:
    job = app.state.store.get(fused["job_id"])
    c = TestClient(app, base_url=BASE, headers={"X-Gacn-Token": TOKEN, "Origin": BASE})
    before = files_under(root)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {} if content_type is None else {"Content-Type": content_type}
        for method, path, body in (("POST", f"/api/jobs/{job.id}/save", '{"folder": "empty", "stem": "out"}'),
                                   ("POST", f"/api/jobs/{job.id}/fuse", '{"options": {}}'),
                                   ("POST", f"/api/jobs/{job.id}/folder", '{"path": "stack"}'),
                                   ("PUT", f"/api/jobs/{job.id}/order", '{"order": []}'),
                                   ("PUT", f"/api/jobs/{job.id}/retouch", '{"strokes": []}')):
            r = c.request(method, path, content=body, headers=headers)
            assert r.status_code == 415 and "Content-Type: application/json" in r.json()["detail"], (content_type, path)
    assert files_under(root) == before and job.state == "done" and len(job.frames) == 2 and job.result.version == 0
    r = c.post(f"/api/jobs/{job.id}/save", content='{"folder": "empty", "stem": "out"}',
               headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and (root / "empty" / "out.png").is_file()


# ---------- paths ----------

def test_static_files_refuse_escapes(app: FastAPI) -> None:
    c = TestClient(app, base_url=BASE, headers={"X-Gacn-Token": TOKEN})
    assert c.get("/static/%61pp.js").status_code == 200, "the path is percent-decoded before the lookup"
    for path in ("/static/%2e%2e/app.py", "/static/%2E%2E/guard.py", "/static/..%2fapp.py", "/static/%2e%2e%2fapp.py",
                 "/static/vendor/%2e%2e/%2e%2e/app.py", "/static/%2e%2e/%2e%2e/gacn/web/app.py",
                 "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/static/%252e%252e/app.py"):
        r = c.get(path)
        assert r.status_code == 404 and "import" not in r.text and "root:" not in r.text, path
