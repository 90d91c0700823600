"""What keeps other web pages and other machines out of the web app, as Jupyter Server does.

A local server is reachable from every page the user's browser opens: a page on any site can
send it requests (cross-site request forgery), and a site whose name resolves to 127.0.0.1 can
read its answers (DNS rebinding). :class:`Guard` wraps the whole app (page, static files, API)
and refuses, before any route runs:

- a ``Host`` that is not one of this server's names with its port (DNS rebinding: the foreign
  site's name is in the ``Host`` header);
- a request a browser says comes from another origin (``Sec-Fetch-Site`` other than
  ``same-origin`` or ``none``), except a top-level navigation to the page: ``SameSite`` cookies
  do not separate ports, so another app on 127.0.0.1 is "same site" and would send the cookie;
- a state-changing method whose ``Origin`` is not the server's own (``null`` included);
- a request without the launch's secret token: in the ``X-Gacn-Token`` or
  ``Authorization: token ...`` header (scripts) or in an ``HttpOnly``, ``SameSite=Strict``
  cookie, which ``GET /?token=...`` (the address ``gacn serve`` prints) sets before it
  redirects to ``/`` without the token.

JSON routes also require ``Content-Type: application/json`` (:func:`require_json`): a form or
``text/plain`` body, which a foreign page can send without asking the server first, is refused.
"""

from __future__ import annotations

import re
import secrets
import socket

from fastapi import HTTPException, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gacn.io import InputError

#: Names of this machine's loopback interface, as a browser writes them in ``Host``.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
#: Addresses that listen on every interface.
WILDCARDS = ("0.0.0.0", "::", "")
#: Methods that change something on the server.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What a token given with ``--token`` may look like (it travels in an address and a cookie).
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{8,}")


def new_token() -> str:
    """A random secret for one launch of the server (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """``token`` if it can be a secret of the app.

    Raises
    ------
    InputError
        For a token shorter than 8 characters or with characters an address would have to escape.
    """
    if not TOKEN_PATTERN.fullmatch(token):
        raise InputError("--token must be at least 8 letters, digits, '-', '_', '.' or '~'")
    return token


def host_name(host: str) -> str:
    """``host`` as it appears in an address and a ``Host`` header (IPv6 in brackets), lower case.

    Examples
    --------
    >>> host_name("::1"), host_name("LocalHost")
    ('[::1]', 'localhost')
    """
    return f"[{host.lower()}]" if ":" in host else host.lower()


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` headers the server answers: the loopback names and ``host``, with ``port``.

    A wildcard ``host`` (``0.0.0.0``, ``::``) adds this machine's own names. Browsers leave the
    port out of ``Host`` for port 80, so there the bare names count too.

    Examples
    --------
    >>> sorted(allowed_hosts("127.0.0.1", 8765))
    ['127.0.0.1:8765', '[::1]:8765', 'localhost:8765']
    """
    names = set(LOOPBACK_NAMES)
    names |= {socket.gethostname().lower(), socket.getfqdn().lower()} if host in WILDCARDS else {host_name(host)}
    return frozenset({f"{name}:{port}" for name in names} | (names if port == 80 else set()))


def require_json(request: Request) -> None:
    """A route dependency: the request body must be declared JSON.

    Raises
    ------
    HTTPException
        415 for any other ``Content-Type`` (or none).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")


class Guard:
    """ASGI middleware that refuses requests from other hosts, other origins and without the token.

    Parameters
    ----------
    app : ASGIApp
        The app to guard.
    token : str
        The secret every request must carry (header or cookie).
    hosts : frozenset of str
        The ``Host`` headers to answer (see :func:`allowed_hosts`).
    cookie : str
        Name of the cookie that holds the token; it names the port, since cookies are shared
        between the ports of one host.
    """

    def __init__(self, app: ASGIApp, token: str, hosts: frozenset[str], cookie: str) -> None:
        self.app, self.token, self.hosts, self.cookie = app, token, hosts, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # lifespan events pass; the app has no websocket routes to guard
            response = self.check(Request(scope))
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, request: Request) -> Response | None:
        """The refusal (or, for ``/?token=``, the redirect) for ``request``; None to let it through."""
        host = request.headers.get("host", "").lower()
        if host not in self.hosts:
            return refuse(request, 403, f"gacn refuses requests for host {host!r}: open the address gacn serve printed")
        site = request.headers.get("sec-fetch-site", "none")
        page_visit = (request.url.path == "/" and request.method == "GET"
                      and request.headers.get("sec-fetch-mode") == "navigate"
                      and request.headers.get("sec-fetch-dest") == "document")
        if site not in ("same-origin", "none") and not page_visit:
            return refuse(request, 403, "gacn refuses requests from other web pages")
        origin = request.headers.get("origin")
        if request.method in UNSAFE_METHODS and origin is not None and origin.lower() != f"http://{host}":
            return refuse(request, 403, f"gacn refuses changes asked by another origin ({origin})")
        if request.url.path == "/" and request.method == "GET" and "token" in request.query_params:
            return self.trade(request)
        if not self.authorised(request):
            return refuse(request, 401, "gacn needs the token of this launch: open the address gacn serve printed "
                                        "(it ends in ?token=...); scripts send it as the X-Gacn-Token header")
        return None

    def matches(self, candidate: str | None) -> bool:
        """Whether ``candidate`` is the token (compared in constant time)."""
        return candidate is not None and secrets.compare_digest(candidate.encode(), self.token.encode())

    def authorised(self, request: Request) -> bool:
        """Whether ``request`` carries the token in a header or the cookie."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return (self.matches(request.headers.get("x-gacn-token"))
                or (scheme.lower() == "token" and self.matches(value.strip()))
                or self.matches(request.cookies.get(self.cookie)))

    def trade(self, request: Request) -> Response:
        """``GET /?token=``: a right token becomes the cookie, and the page reloads without it."""
        if not self.matches(request.query_params.get("token")):
            return refuse(request, 401, "gacn: wrong token: open the address gacn serve printed")
        response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store",
                                                                  "Referrer-Policy": "no-referrer"})
        response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
        return response


def refuse(request: Request, status: int, message: str) -> Response:
    """A refusal: JSON with a ``detail`` under ``/api`` (the page shows it), plain text elsewhere."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    return PlainTextResponse(message + "\n", status_code=status)
