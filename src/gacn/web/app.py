"""The web app's HTTP API (FastAPI) and its static page.

Every route under ``/api`` answers JSON (or an image); a problem the user caused is a 4xx with
a ``detail`` message the page shows, and never stops the server. Paths under ``--root`` go
through :func:`jailed`, so nothing outside the root folder can be listed, read or written.
Every request, the page's and its static files' included, first passes
:class:`gacn.web.guard.Guard`: the right ``Host``, the server's own origin, the launch's token.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from gacn.fusion.blend import index_file, index_preview
from gacn.fusion.frames import IMAGE_SUFFIXES
from gacn.io import InputError, write_image
from gacn.web.guard import Guard, allowed_hosts, check_token, new_token, require_json
from gacn.web.jobs import Job, JobStore, Result, fuse_options
from gacn.web.retouch import Stroke
from gacn.web.tiles import encode_jpeg

STATIC = files("gacn.web") / "static"
#: Default largest upload per file.
MAX_UPLOAD_MB = 1024
#: What can be downloaded: name -> allowed extensions.
DOWNLOADS = {"fused": ("png", "tif", "jpg"), "depth": ("png",), "depth_preview": ("png",),
             "confidence": ("png",), "decision": ("png",), "mask": ("png",)}


class StrokeIn(BaseModel):
    """A brush stroke as the page sends it (frame numbered from 1, points in image pixels)."""

    frame: int = Field(ge=1)
    points: list[tuple[float, float]] = Field(min_length=1, max_length=100_000)
    radius: float = Field(gt=0, le=10_000)
    hardness: float = Field(ge=0, le=1)


class RetouchIn(BaseModel):
    """The whole list of strokes (undo and redo send a shorter or longer list)."""

    strokes: list[StrokeIn]


class SaveIn(BaseModel):
    """Where to save a result under ``--root``: a folder, a file stem and the image format."""

    folder: str = ""
    stem: str = Field(min_length=1, max_length=200, pattern=r"^[\w.-]+$")
    ext: str = Field(default="png", pattern=r"^(png|tif|jpg)$")


def jailed(root: Path | None, relative: str) -> Path:
    """The resolved path of ``relative`` under ``root``, refused when it could leave the root.

    Absolute paths and ``..`` are refused outright; a symbolic link anywhere on the way is
    followed and refused when it points outside.

    Raises
    ------
    HTTPException
        404 when the server has no ``--root``; 403 for a path outside it.
    """
    if root is None:
        raise HTTPException(404, "no folder to browse: start the server with --root DIR")
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or "\\" in relative or "\x00" in relative:
        raise HTTPException(403, f"{relative!r} is outside the root folder")
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise HTTPException(403, f"{relative!r} is outside the root folder")
    return resolved


def folder_images(root: Path, folder: Path) -> list[Path]:
    """The image files of ``folder`` sorted by name, leaving out links that point outside ``root``."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and p.resolve().is_relative_to(root))


def create_app(root: Path | None = None, max_upload_mb: int = MAX_UPLOAD_MB, *, token: str | None = None,
               host: str = "127.0.0.1", port: int = 8765) -> FastAPI:
    """The web app: page, static assets and API, with its job store (closed when the app stops).

    Parameters
    ----------
    root : Path, optional
        Folder whose sub-folders the page may pick stacks from and save results into.
    max_upload_mb : int
        Largest upload per file, in megabytes.
    token : str, optional
        The secret every request must carry (default: a random one, in ``app.state.token``).
    host, port : str, int
        Where the server listens: requests for another ``Host`` than these (or a loopback
        name with this port) are refused.

    Raises
    ------
    InputError
        For a ``token`` that cannot be a secret (see :func:`gacn.web.guard.check_token`).
    """
    root = None if root is None else Path(root).resolve()
    token = new_token() if token is None else check_token(token)
    store = JobStore()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="gacn", lifespan=lifespan)
    app.state.store, app.state.token = store, token
    app.add_middleware(Guard, token=token, hosts=allowed_hosts(host, port), cookie=f"gacn-token-{port}")
    api = APIRouter(prefix="/api")
    json_body = [Depends(require_json)]

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def job_of(job_id: str) -> Job:
        try:
            return store.get(job_id)
        except KeyError:
            raise HTTPException(404, "no such job (it was deleted, or the server restarted)") from None

    def result_of(job_id: str) -> Result:
        result = job_of(job_id).result
        if result is None:
            raise HTTPException(409, "this stack has no fused result yet")
        return result

    @api.get("/config")
    def config() -> dict[str, Any]:
        """What the page needs to know: fusion options, upload limit, whether a root can be browsed."""
        return {"options": fuse_options(), "max_upload_mb": max_upload_mb, "root": root is not None}

    @api.get("/browse")
    def browse(path: str = "") -> dict[str, Any]:
        """The sub-folders and images of a folder under the root."""
        folder = jailed(root, path)
        if not folder.is_dir():
            raise HTTPException(404, f"no folder {path!r} under the root")
        dirs = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.resolve().is_relative_to(root))
        return {"path": path, "dirs": dirs, "images": [p.name for p in folder_images(root, folder)]}

    @api.post("/jobs")
    def create_job() -> dict[str, Any]:
        """A new, empty stack."""
        return store.create().status()

    @api.get("/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, Any]:
        """State, progress (stage, frames done, ETA), frames and result summary."""
        return job_of(job_id).status()

    @api.delete("/jobs/{job_id}")
    def delete_job(job_id: str) -> dict[str, str]:
        """Cancel a job and remove its temporary files."""
        store.delete(job_of(job_id))
        return {"deleted": job_id}

    @api.post("/jobs/{job_id}/frames")
    async def upload(job_id: str, request: Request, name: Annotated[str, Query(min_length=1)]) -> dict[str, Any]:
        """Add one image, sent as the raw request body and streamed to the job's folder."""
        job = job_of(job_id)
        limit = max_upload_mb * 2**20
        too_big = HTTPException(413, f"{name} is larger than the upload limit of {max_upload_mb} MB")
        if int(request.headers.get("content-length") or 0) > limit:
            raise too_big
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            raise InputError(f"{name} is not an image file (use PNG, JPEG or TIFF)")
        path = job.folder / f"upload-{uuid.uuid4().hex[:12]}{suffix}"
        size = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    break
                out.write(chunk)
        if size > limit:
            path.unlink()
            raise too_big
        frame = await run_in_threadpool(store.add_frame, job, path, name, True)
        return frame.info()

    @api.post("/jobs/{job_id}/folder", dependencies=json_body)
    def add_folder(job_id: str, path: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        """Add the images of a folder under the root (read in place, sorted by name)."""
        job = job_of(job_id)
        folder = jailed(root, path)
        if not folder.is_dir():
            raise HTTPException(404, f"no folder {path!r} under the root")
        images = folder_images(root, folder)
        if not images:
            raise InputError(f"no images in {path or 'the root folder'}")
        for image in images:
            store.add_frame(job, image, image.name, uploaded=False)
        return job.status()

    @api.get("/jobs/{job_id}/frames/{frame_id}/thumb")
    def thumbnail(job_id: str, frame_id: str) -> FileResponse:
        """A frame's JPEG thumbnail."""
        job = job_of(job_id)
        if frame_id not in {f.id for f in job.frames}:
            raise HTTPException(404, "no such frame")
        return FileResponse(job.folder / f"{frame_id}.thumb.jpg", media_type="image/jpeg")

    @api.put("/jobs/{job_id}/order", dependencies=json_body)
    def reorder(job_id: str, order: Annotated[list[str], Body(embed=True)]) -> dict[str, Any]:
        """Set the frames' focus order; frames left out are dropped."""
        job = job_of(job_id)
        store.reorder(job, order)
        return job.status()

    @api.post("/jobs/{job_id}/fuse", dependencies=json_body)
    def fuse(job_id: str, options: Annotated[dict[str, Any], Body(embed=True)]) -> dict[str, Any]:
        """Queue the stack for :func:`gacn.fuse` with ``options`` (see ``/api/config``)."""
        job = job_of(job_id)
        store.submit(job, options)
        return job.status()

    @api.post("/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        """Stop a queued or running fusion."""
        job = job_of(job_id)
        store.cancel(job)
        return job.status()

    @api.get("/jobs/{job_id}/tiles/{layer}/{level}/{col}_{row}.jpg")
    def tile(job_id: str, layer: str, level: int, col: int, row: int) -> Response:
        """A deep-zoom tile of a layer: ``fused``, ``depth``, ``confidence``, ``decision`` or ``frameK``."""
        result = result_of(job_id)
        if layer not in result.layer_names():
            raise HTTPException(404, f"no layer {layer!r}")
        try:
            data = encode_jpeg(result.pyramid(layer).tile(level, col, row))
        except IndexError as exc:
            raise HTTPException(404, f"no tile: {exc}") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @api.get("/jobs/{job_id}/probe")
    def probe(job_id: str, x: int, y: int) -> dict[str, Any]:
        """Which frame the fusion found sharpest at image pixel (x, y), numbered from 1."""
        result = result_of(job_id)
        h, w = result.index.shape
        if not (0 <= x < w and 0 <= y < h):
            raise InputError(f"({x}, {y}) is outside the {w}x{h} image")
        return {"frame": int(result.fused.index_map[y, x]) + 1, "confidence": float(result.fused.confidence[y, x])}

    @api.get("/jobs/{job_id}/retouch")
    def get_retouch(job_id: str) -> dict[str, Any]:
        """The strokes applied to the result."""
        result = result_of(job_id)
        return {"strokes": [{"frame": s.frame + 1, "points": s.points, "radius": s.radius, "hardness": s.hardness}
                            for s in result.strokes]}

    @api.put("/jobs/{job_id}/retouch", dependencies=json_body)
    def put_retouch(job_id: str, body: RetouchIn) -> dict[str, Any]:
        """Replace the strokes and re-apply them at full resolution."""
        job = job_of(job_id)
        strokes = [Stroke(s.frame - 1, tuple(s.points), s.radius, s.hardness) for s in body.strokes]
        result_of(job_id).set_strokes(strokes)
        return job.status()

    def export(result: Result, kind: str) -> np.ndarray:
        """The array a download or save writes for ``kind``."""
        if kind == "fused":
            return result.image
        if kind == "depth":
            return index_file(result.index, len(result.frames))
        if kind == "depth_preview":
            return index_preview(result.index, len(result.frames))
        if kind == "mask":
            return result.mask
        return getattr(result.fused, "confidence" if kind == "confidence" else "decision_map")

    @api.get("/jobs/{job_id}/download/{kind}.{ext}")
    def download(job_id: str, kind: str, ext: str) -> FileResponse:
        """The (retouched) fused image as PNG, TIFF (16-bit for 16-bit inputs) or JPEG, or a map."""
        if ext not in DOWNLOADS.get(kind, ()):
            raise HTTPException(404, f"no download {kind}.{ext}")
        result = result_of(job_id)
        path = job_of(job_id).folder / f"download-{uuid.uuid4().hex[:12]}-{kind}.{ext}"
        with result.lock:
            write_image(path, export(result, kind))
        return FileResponse(path, filename=f"gacn_{kind}.{ext}",
                            background=BackgroundTask(path.unlink, missing_ok=True))

    @api.post("/jobs/{job_id}/save", dependencies=json_body)
    def save(job_id: str, body: SaveIn) -> dict[str, list[str]]:
        """Write the fused image, depth map, confidence and retouch mask into a folder under the root."""
        result = result_of(job_id)
        folder = jailed(root, body.folder)
        if not folder.is_dir():
            raise HTTPException(404, f"no folder {body.folder!r} under the root")
        names = {"fused": f"{body.stem}.{body.ext}", "depth": f"{body.stem}_depth.png",
                 "confidence": f"{body.stem}_confidence.png", "mask": f"{body.stem}_mask.png"}
        existing = [n for n in names.values() if (folder / n).exists()]
        if existing:
            raise HTTPException(409, f"not overwriting {', '.join(existing)}")
        with result.lock:
            for kind, name in names.items():
                write_image(folder / name, export(result, kind))
        return {"written": [str(PurePosixPath(body.folder) / n) for n in names.values()]}

    app.include_router(api)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    return app
