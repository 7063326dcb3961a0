"""The annotation server: a Starlette app over a `Catalog` (DESIGN.md section 7)."""

from __future__ import annotations

import io
import math
from dataclasses import asdict
from pathlib import Path

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from annotate.catalog import Catalog, StaleRevision
from pipeline.density import DensityParams, density_map
from pipeline.errors import DataError
from pipeline.predict import colorize

STATIC = Path(__file__).parent / "static"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
IMAGE_CACHE = "private, max-age=3600"


def is_loopback_host(host_header: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` or ``[::1]``, with or without a port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":")[0]
    parts = host.split(".")
    return host in LOOPBACK_NAMES or (len(parts) == 4 and parts[0] == "127" and all(p.isdigit() for p in parts))


class GuardMiddleware:
    """Refuse non-loopback Host headers (DNS rebinding) and mutations without ``X-Headcount: 1`` (CSRF)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if not is_loopback_host(headers.get("host", "")):
                await JSONResponse({"error": "host not allowed"}, 403)(scope, receive, send)
                return
            if scope["method"] in MUTATING and headers.get("x-headcount") != "1":
                await JSONResponse({"error": "missing X-Headcount: 1 header"}, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(root: str | Path, density: DensityParams = DensityParams(), checkpoint: str | Path | None = None):
    """The ASGI app for the annotation folder `root`."""
    catalog = Catalog(root)
    model = None
    if checkpoint is not None:
        from pipeline.predict import load_model

        model = load_model(checkpoint)

    def entry_or_404(request: Request):
        image_id = request.path_params["image_id"]
        if image_id not in catalog:
            return None
        return catalog.entries[image_id]

    def not_found() -> JSONResponse:
        return JSONResponse({"error": "no such image"}, 404)

    def images(request: Request) -> JSONResponse:
        out = []
        for e in catalog.entries.values():
            pf = catalog.load(e.id)
            out.append(
                {
                    "id": e.id,
                    "name": e.path.name,
                    "width": e.width,
                    "height": e.height,
                    "count": len(pf.points),
                    "revision": pf.revision,
                }
            )
        return JSONResponse(out)

    def config(request: Request) -> JSONResponse:
        return JSONResponse({"proposals": model is not None, "density": asdict(density)})

    def get_points(request: Request) -> JSONResponse:
        if (e := entry_or_404(request)) is None:
            return not_found()
        pf = catalog.load(e.id)
        return JSONResponse({"points": pf.points.tolist(), "revision": pf.revision})

    async def put_points(request: Request) -> JSONResponse:
        if (e := entry_or_404(request)) is None:
            return not_found()
        try:
            body = await request.json()
            points, revision = body["points"], body["revision"]
            if not isinstance(points, list) or not isinstance(revision, int) or isinstance(revision, bool):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'expected {"points": [[x, y], ...], "revision": int}'}, 400)
        if any(not isinstance(p, list) or len(p) != 2 or not all(_is_number(v) for v in p) for p in points):
            return JSONResponse({"error": "points must be [x, y] pairs of finite numbers"}, 400)
        from starlette.concurrency import run_in_threadpool

        try:
            pf = await run_in_threadpool(catalog.save, e.id, points, revision)
        except StaleRevision as exc:
            return JSONResponse({"error": "stale revision (saved elsewhere first)", "revision": exc.current}, 409)
        except DataError as exc:
            return JSONResponse({"error": exc.problem}, 400)
        return JSONResponse({"revision": pf.revision, "count": len(pf.points)})

    def image(request: Request) -> Response:
        if (e := entry_or_404(request)) is None:
            return not_found()
        st = e.path.stat()
        headers = {"Cache-Control": IMAGE_CACHE, "ETag": f'"{st.st_mtime_ns:x}-{st.st_size:x}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return FileResponse(e.path, headers=headers, stat_result=st)

    def density_png(request: Request) -> Response:
        if (e := entry_or_404(request)) is None:
            return not_found()
        pf = catalog.load(e.id)
        d = density_map(pf.points, (e.height, e.width), **asdict(density))
        return _png_response(_overlay_rgba(d))

    def proposals(request: Request) -> JSONResponse:
        if (e := entry_or_404(request)) is None:
            return not_found()
        if model is None:
            return JSONResponse({"error": "no model configured (start with --checkpoint)"}, 404)
        from annotate.proposals import propose_points
        from pipeline.data import load_image
        from pipeline.predict import predict_density

        d = predict_density(model, load_image(e.path))
        return JSONResponse({"points": propose_points(d, (e.height, e.width)).tolist(), "count": float(d.sum())})

    def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    routes = [
        Route("/", index),
        Route("/api/config", config),
        Route("/api/images", images),
        Route("/api/images/{image_id}/points", get_points, methods=["GET"]),
        Route("/api/images/{image_id}/points", put_points, methods=["PUT"]),
        Route("/api/images/{image_id}/image", image),
        Route("/api/images/{image_id}/density.png", density_png),
        Route("/api/images/{image_id}/proposals", proposals),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(GuardMiddleware)
    app.state.catalog = catalog
    return app


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _overlay_rgba(density):
    """Density as an RGBA image: inferno colours, transparent where empty."""
    import numpy as np

    peak = float(density.max())
    norm = np.sqrt(density / peak) if peak > 0 else density  # sqrt: sparse heads stay visible
    rgba = np.dstack([colorize(norm), (np.clip(norm * 2, 0, 1) * 220).astype(np.uint8)])
    return Image.fromarray(rgba, "RGBA")


def _png_response(img: Image.Image) -> Response:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})


def serve(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    density: DensityParams = DensityParams(),
    checkpoint: str | Path | None = None,
) -> None:
    """Run the server until Ctrl-C."""
    import uvicorn

    uvicorn.run(create_app(root, density, checkpoint), host=host, port=port, log_level="warning")
