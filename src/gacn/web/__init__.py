"""``gacn serve``: a local web app to load a stack, fuse it, inspect the maps, retouch and save.

The server (:mod:`gacn.web.app`) is a FastAPI app run by uvicorn; the page and its assets
(OpenSeadragon included) ship in ``gacn/web/static``, so it works without internet access.
Fusion goes through :func:`gacn.fuse` in one worker thread (:mod:`gacn.web.jobs`); retouching
is :mod:`gacn.web.retouch`. Each launch has a secret token, in the address ``serve`` prints;
without it, or from another host name or origin, nothing is answered (:mod:`gacn.web.guard`).
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import webbrowser
from pathlib import Path

from gacn.web.app import MAX_UPLOAD_MB, create_app
from gacn.web.guard import WILDCARDS, allowed_hosts, host_name

__all__ = ["address", "create_app", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address(host: str, port: int, token: str) -> str:
    """The address that opens the app: on this machine, with the launch's token.

    Examples
    --------
    >>> address("127.0.0.1", 8765, "s3cret-token"), address("::1", 80, "s3cret-token")
    ('http://127.0.0.1:8765/?token=s3cret-token', 'http://[::1]:80/?token=s3cret-token')
    """
    return f"http://{'127.0.0.1' if host in WILDCARDS else host_name(host)}:{port}/?token={token}"


def serve(host: str = "127.0.0.1", port: int = 8765, root: Path | None = None, open_browser: bool = False,
          max_upload_mb: int = MAX_UPLOAD_MB, token: str | None = None) -> None:
    """Run the web app until interrupted; print its address with the token (and open it with ``open_browser``).

    Parameters
    ----------
    host : str
        Interface to listen on; anything but loopback exposes the app (and ``root``) to the network.
    port : int
        TCP port.
    root : Path, optional
        Folder whose sub-folders the page may pick stacks from and save results into.
    open_browser : bool
        Open the page in the default browser once the server listens.
    max_upload_mb : int
        Largest upload per file, in megabytes.
    token : str, optional
        The secret requests must carry (default: a random one for this launch).

    Raises
    ------
    InputError
        For a ``token`` that cannot be a secret.
    """
    import uvicorn

    app = create_app(root, max_upload_mb, token=token, host=host, port=port)
    url = address(host, port, app.state.token)
    if not is_loopback(host):
        print(f"gacn: warning: listening on {host}: anyone who can reach this machine and has the token can use "
              f"the app{f' and read {root}' if root else ''}; the token, Host and Origin checks stay on "
              f"(Host accepted: {', '.join(sorted(allowed_hosts(host, port)))})", file=sys.stderr)
    print(f"gacn web app on {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")
