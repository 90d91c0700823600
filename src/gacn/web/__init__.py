"""``gacn serve``: a local web app to load a stack, fuse it, inspect the maps, retouch and save.

The server (:mod:`gacn.web.app`) is a FastAPI app run by uvicorn; the page and its assets
(OpenSeadragon included) ship in ``gacn/web/static``, so it works without internet access.
Fusion goes through :func:`gacn.fuse` in one worker thread (:mod:`gacn.web.jobs`); retouching
is :mod:`gacn.web.retouch`.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import webbrowser
from pathlib import Path

from gacn.web.app import MAX_UPLOAD_MB, create_app

__all__ = ["create_app", "serve"]


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


def serve(host: str = "127.0.0.1", port: int = 8765, root: Path | None = None, open_browser: bool = False,
          max_upload_mb: int = MAX_UPLOAD_MB) -> None:
    """Run the web app until interrupted; print its address (and open it in a browser with ``open_browser``).

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
    """
    import uvicorn

    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
    if not is_loopback(host):
        print(f"gacn: warning: listening on {host}: anyone who can reach this machine can use the app"
              + (f" and read {root}" if root else ""), file=sys.stderr)
    print(f"gacn web app on {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(create_app(root, max_upload_mb), host=host, port=port, log_level="warning")
