"""The annotation server: a Starlette app over a `Catalog` (docs/annotation-api.md)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import numpy as np
from PIL import Image
from pydantic import Field
from pydantic import Strict as StrictType
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from annotate import frame
from annotate.catalog import Catalog, Edit, Forbidden, StaleRevision
from annotate.catalog import Move as HeadMove
from annotate.guard import GuardMiddleware, deadline_protocol, is_loopback_host
from annotate.preview import preview_map
from pipeline import strictjson
from pipeline.atomic import umask
from pipeline.density import compute_density
from pipeline.errors import ConfigError, DataError
from pipeline.image import encode
from pipeline.kernels import DensityParams
from pipeline.overlay import translucent
from pipeline.pointfile import MAX_POINTS, parse_tiles, read_point_file
from pipeline.schema import Coordinate, Pair, Strict, Whole, validated
from pipeline.scoring.agreement import point_files, unmatched
from pipeline.work import MAX_COMMENT, STATUSES, VERDICTS

M = TypeVar("M")

STATIC = Path(__file__).parent / "static"
IMAGE_CACHE = "private, max-age=3600"
MAX_PREVIEW_SIDE = 4096  # px: a density preview is for a screen
LOCK_NAME = ".headcount-annotate.lock"


def create_app(
    root: str | Path,
    density: DensityParams = DensityParams(),
    checkpoint: str | Path | None = None,
    token: str | None = None,
    device: str = "auto",
    user: str | None = None,
    tokens: dict[str, str | None] | None = None,
    compare: str | Path | None = None,
    compare_radius: float = 8.0,
    users: tuple[str, ...] = (),
    reviewers: tuple[str, ...] = (),
):
    """The ASGI app for the annotation folder `root`; `token` (a non-loopback bind) is required on every request.

    `compare` is a second annotator's folder (or folder of point files): the page can overlay its heads,
    with the heads that match none on the other side (within `compare_radius`) marked on both.

    Saves record who made them: the name behind the request's token in `tokens` (one per
    annotator, with a non-loopback bind), or the tab's own name among `users` (a loopback server of
    several people, one link each), else `user`. Only `reviewers` review (`Catalog.review`).

    The model behind proposals (`checkpoint`) runs on `device` (``auto``: a GPU when there is one).
    """
    catalog = Catalog(root, reviewers)
    # load the compiled kernels (0.3 s) while the page loads, not on the first preview; with no heads
    # nothing is drawn and nothing loads, so one head
    threading.Thread(target=preview_map, args=(np.ones((1, 2)), (8, 8), 8, density), daemon=True).start()
    model = None
    if checkpoint is not None:
        from pipeline.infer.counter import load_counter

        model = load_counter(checkpoint, device)  # as `count` runs it: bf16 on a GPU

    app = Starlette(routes=ROUTES)
    app.add_middleware(GuardMiddleware, token=token, tokens=tokens, users=users)
    other = point_files(compare) if compare is not None else None
    app.state.served = Served(catalog, density, model, other, compare, compare_radius, user)
    app.state.catalog = catalog
    return app


@dataclass(frozen=True)
class Served:
    """What the handlers serve: `create_app` builds it once, each handler reads it from ``app.state``."""

    catalog: Catalog
    density: DensityParams
    model: object | None  # the counter behind proposals (`pipeline.infer.counter.load_counter`)
    other: dict | None  # --compare: the second annotator's point files by image id
    compare: str | Path | None
    compare_radius: float
    user: str | None  # who saves where no token or tab names someone


def _entry_or_404(request: Request):
    st: Served = request.app.state.served
    image_id = request.path_params["image_id"]
    if image_id not in st.catalog:
        return None
    return st.catalog.entries[image_id]


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "no such image"}, 404)


def _listing(st: Served, e) -> dict:
    s = st.catalog.summary(e.id)
    item = {"id": e.id, "name": e.path.name, "width": e.width, "height": e.height}
    item.update(count=s.count, revision=s.revision, status=s.status, annotators=list(s.annotators))
    if s.review is not None:
        item["review"] = s.review.as_json()
    return {**item, **({"error": s.problem} if s.problem else {})}


def _user_of(request: Request) -> str | None:
    """Who makes this request: the name behind its token (--allow-remote), else the server's --user."""
    st: Served = request.app.state.served
    return request.scope.get("state", {}).get("user", st.user)


def images(request: Request) -> JSONResponse:
    st: Served = request.app.state.served
    seq = st.catalog.seq  # before the listing: a save during it shows up in the next /api/changes too
    headers = {"X-Headcount-Seq": f"{st.catalog.instance}:{seq}"}
    return JSONResponse([_listing(st, e) for e in st.catalog.entries.values()], headers=headers)


def changes(request: Request) -> JSONResponse:
    """What was saved since the tab's last look (``?since=<instance>:<seq>``): it polls this, so an
    idle tab shows what other tabs did; ``reset`` asks it to reload the listing."""
    st: Served = request.app.state.served
    instance, _, seq = request.query_params.get("since", "").partition(":")
    now = f"{st.catalog.instance}:{st.catalog.seq}"
    ids = st.catalog.changes(int(seq)) if instance == st.catalog.instance and _ascii_int(seq) else None
    if ids is None:
        return JSONResponse({"seq": now, "reset": True})
    return JSONResponse({"seq": now, "images": [_listing(st, st.catalog.entries[i]) for i in ids]})


def config(request: Request) -> JSONResponse:
    st: Served = request.app.state.served
    second = {"name": Path(st.compare).name, "radius": st.compare_radius} if st.compare is not None else None
    me = _user_of(request)
    doc = {"proposals": st.model is not None, "density": asdict(st.density), "compare": second}
    return JSONResponse({**doc, "user": me, "reviewer": me is not None and me in st.catalog.reviewers})


def compared(request: Request) -> JSONResponse:
    """The second annotator's heads of this image, and which heads of each side match none of the other's."""
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None or st.other is None:
        return _not_found()
    try:
        mine = st.catalog.load(e.id)
        theirs = read_point_file(st.other[e.id]).points if e.id in st.other else np.zeros((0, 2))
    except DataError as exc:
        return JSONResponse({"error": str(exc)}, 409)
    lone_a, lone_b = unmatched(mine.points, theirs, st.compare_radius)
    return JSONResponse(
        {
            "points": np.asarray(theirs).tolist(),
            "unmatched": lone_b.tolist(),
            "mine_unmatched_ids": mine.head_ids()[lone_a].tolist(),
            "revision": mine.revision,
        }
    )


def get_points(request: Request) -> JSONResponse:
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    try:
        pf = st.catalog.load(e.id)
    except DataError as exc:  # one broken file breaks one image, not the app: start it afresh
        return JSONResponse({"points": [], "revision": 0, "status": "todo", "tiles": None, "error": str(exc)})
    return JSONResponse(_points_doc(pf))


async def put_points(request: Request) -> JSONResponse:
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    body = await request.body()  # bounded by GuardMiddleware
    # parsing and checking a large save is CPU work: off the event loop, so other tabs stay served
    parsed = await run_in_threadpool(_parse_save, body)
    if isinstance(parsed, str):
        return JSONResponse({"error": parsed}, 400)
    points, revision, status = parsed
    try:
        pf = await run_in_threadpool(st.catalog.save, e.id, points, revision, status, _user_of(request))
    except Forbidden as exc:
        return JSONResponse({"error": str(exc)}, 403)
    except StaleRevision as exc:
        return JSONResponse(
            {"error": _stale("stale revision (saved elsewhere first)", exc), "revision": exc.current}, 409
        )
    except DataError as exc:
        return JSONResponse({"error": exc.problem}, 400)
    return JSONResponse({"revision": pf.revision, "count": len(pf.points), "status": pf.status})


async def post_edits(request: Request) -> JSONResponse:
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    parsed = await run_in_threadpool(_parse_edit, await request.body())
    if isinstance(parsed, str):
        return JSONResponse({"error": parsed}, 400)
    try:
        r = await run_in_threadpool(st.catalog.edit, e.id, parsed, _user_of(request))
    except Forbidden as exc:
        return JSONResponse({"error": str(exc)}, 403)
    except StaleRevision as exc:
        error = _stale("the saved file is older than this tab's copy", exc)
        return JSONResponse({"error": error, "revision": exc.current}, 409)
    except DataError as exc:
        return JSONResponse({"error": exc.problem}, 400)
    pf = r.saved
    out = {"revision": pf.revision, "count": len(pf.points), "status": pf.status, "merged": r.merged}
    out.update(added_ids=r.new_ids, conflicts=[c.as_json() for c in r.conflicts])
    return JSONResponse({**out, **(_points_doc(pf) if r.merged else {})})


async def post_review(request: Request) -> JSONResponse:
    """Accept an image (status reviewed) or reject it with a comment (back to todo, for its annotator)."""
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    parsed = _parse_review(await request.body())
    if isinstance(parsed, str):
        return JSONResponse({"error": parsed}, 400)
    try:
        pf = await run_in_threadpool(st.catalog.review, e.id, *parsed, _user_of(request))
    except Forbidden as exc:
        return JSONResponse({"error": str(exc)}, 403)
    except DataError as exc:  # a broken point file: kept as it is, as /compare keeps it
        return JSONResponse({"error": f"{exc}; nothing written"}, 409)
    return JSONResponse(_points_doc(pf))


def image(request: Request) -> Response:
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    st = e.path.stat()
    headers = {"Cache-Control": IMAGE_CACHE, "ETag": f'"{st.st_mtime_ns:x}-{st.st_size:x}"'}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    with open(e.path, "rb") as f:
        head = f.read(frame.HEADER_BYTES)
    fixed, orientation = frame.stored_frame(head)
    if fixed is head:  # no rotation to undo: stream the file as it is
        return FileResponse(e.path, headers=headers, stat_result=st)
    with open(e.path, "rb") as f:  # the stored pixels, not the EXIF-rotated view (annotate/frame.py)
        body, _ = frame.stored_frame(f.read())
    media = "image/png" if body[:4] == b"\x89PNG" else "image/jpeg"
    return Response(body, media_type=media, headers={**headers, "X-Headcount-Orientation": str(orientation)})


def density_png(request: Request) -> Response:  # a plain def: Starlette runs it in its thread pool
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    try:
        pf = st.catalog.load(e.id)
    except DataError as exc:
        return JSONResponse({"error": str(exc)}, 409)
    side = request.query_params.get("max_side", "")
    if side and not (_ascii_int(side) and 8 <= int(side) <= MAX_PREVIEW_SIDE):
        return JSONResponse({"error": f"max_side must be an integer in 8..{MAX_PREVIEW_SIDE}"}, 400)
    if side:  # drawn at the screen's size, from the full-size heads and sigmas (annotate/preview.py)
        d = preview_map(pf.points, (e.height, e.width), int(side), st.density)
    else:
        d = compute_density(pf.points, (e.height, e.width), st.density).density
    response = _png_response(translucent(d))
    response.headers["X-Headcount-Count"] = f"{float(d.sum(dtype=np.float64)):.2f}"
    return response


def proposals(request: Request) -> JSONResponse:
    st: Served = request.app.state.served
    if (e := _entry_or_404(request)) is None:
        return _not_found()
    if st.model is None:
        return JSONResponse({"error": "no model configured (start with --checkpoint)"}, 404)
    from annotate.proposals import model_proposals
    from pipeline.image import load_image
    from pipeline.infer.scale import check_model_size

    try:
        check_model_size(e.path.name, e.height, e.width)
    except DataError as exc:
        return JSONResponse({"error": str(exc)}, 413)
    output = st.model(load_image(e.path)[None])[0]
    heads = model_proposals(output, (e.height, e.width), st.model.target, st.model.stride, st.model.relative)
    return JSONResponse(
        {
            "points": heads.points.tolist(),
            "scores": heads.scores.tolist(),
            "count": heads.count,
            "stride": st.model.stride,
        }
    )


def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


ROUTES = [
    Route("/", index),
    Route("/api/config", config),
    Route("/api/images", images),
    Route("/api/images/{image_id}/points", get_points, methods=["GET"]),
    Route("/api/images/{image_id}/points", put_points, methods=["PUT"]),
    Route("/api/images/{image_id}/edits", post_edits, methods=["POST"]),
    Route("/api/images/{image_id}/review", post_review, methods=["POST"]),
    Route("/api/images/{image_id}/compare", compared),
    Route("/api/changes", changes),
    Route("/api/images/{image_id}/image", image),
    Route("/api/images/{image_id}/density.png", density_png),
    Route("/api/images/{image_id}/proposals", proposals),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


MoveBody = Annotated[  # [id, x0, y0, x, y]: the head, where this tab saw it, where it goes
    tuple[Annotated[Whole, StrictType()], *(4 * (Annotated[Coordinate, StrictType()],))],
    Field(strict=False),  # a JSON array is the tuple
]


class SaveBody(Strict):
    points: Annotated[list[Pair], Field(max_length=MAX_POINTS)]
    revision: Annotated[int, Field(ge=0)]
    status: Literal[STATUSES] | None = None


class ReviewBody(Strict):
    verdict: Literal[VERDICTS]
    comment: Annotated[str, Field(max_length=MAX_COMMENT)] = ""


class TilesEdit(Strict):
    cols: int
    rows: int
    done: list[Whole] = []
    undone: list[Whole] = []


class EditBody(Strict):
    base: Annotated[int, Field(ge=0)]
    added: Annotated[list[Pair], Field(max_length=MAX_POINTS)]
    removed: list[Whole] = []
    moved: list[MoveBody] = []
    status: Literal[STATUSES] | None = None
    tiles: TilesEdit | None = None


def _body(model: type[M], body: bytes) -> M | str:
    """A request body as its declared `model`, or why it is refused (the first wrong field)."""
    try:
        return validated(model, strictjson.loads(body, "request"), "request")
    except DataError as exc:
        return exc.problem


def _parse_save(body: bytes) -> tuple[list, int, str | None] | str:
    """``(points, revision, status or None)`` of a PUT body, or why it is refused."""
    doc = _body(SaveBody, body)
    return doc if isinstance(doc, str) else (doc.points, doc.revision, doc.status)


def _stale(message: str, exc: StaleRevision) -> str:
    """What a 409 says: why the save did not apply, naming a broken file as broken, not as older."""
    if exc.broken:
        return f"{exc.broken}; nothing written (reload the image: a save from revision 0 keeps it aside)"
    return message


def _points_doc(pf) -> dict:
    tiles = pf.tiles.as_json() if pf.tiles is not None else None
    doc = {"points": pf.points.tolist(), "ids": pf.head_ids().tolist(), "by": list(pf.head_by())}
    doc.update(revision=pf.revision, status=pf.status, tiles=tiles, status_by=pf.status_by)
    return {**doc, "review": pf.review.as_json() if pf.review is not None else None}


def _parse_review(body: bytes) -> tuple[str, str] | str:
    """``(verdict, comment)`` of a review body, or why it is refused."""
    doc = _body(ReviewBody, body)
    return doc if isinstance(doc, str) else (doc.verdict, doc.comment)


def _parse_edit(body: bytes) -> Edit | str:
    """The `Edit` of a POST .../edits body, or why it is refused."""
    doc = _body(EditBody, body)
    if isinstance(doc, str):
        return doc
    if len(doc.removed) + len(doc.moved) > MAX_POINTS:
        return f"at most {MAX_POINTS} heads per edit"
    ids = [m[0] for m in doc.moved]
    if len(set(ids)) != len(ids) or set(ids) & set(doc.removed):
        return "a head is moved twice, or moved and removed, in one edit"
    grid, done, undone = None, frozenset(), frozenset()
    if doc.tiles is not None:  # checked as a point file's tiles are, with the undone ones among the indices
        t = doc.tiles
        try:
            checked = parse_tiles({"cols": t.cols, "rows": t.rows, "done": [*t.done, *t.undone]}, "tiles")
        except DataError as exc:
            return exc.problem
        grid, done, undone = (checked.cols, checked.rows), frozenset(t.done), frozenset(t.undone)
    return Edit(
        doc.base,
        np.asarray(doc.added, float).reshape(-1, 2),
        tuple(doc.removed),
        tuple(HeadMove(*m) for m in doc.moved),
        doc.status,
        grid,
        done,
        undone,
    )


def _ascii_int(text: str) -> bool:
    """A query parameter that is a number: ASCII digits, a few of them ("²".isdigit() is true)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def _png_response(img: Image.Image) -> Response:
    return Response(encode(img, "PNG", compress_level=1), media_type="image/png", headers={"Cache-Control": "no-store"})


@contextlib.contextmanager
def folder_lock(root: str | Path, holder: str) -> Iterator[None]:
    """Hold ``root/.headcount-annotate.lock`` for the server's life: one server per folder.

    Two servers would each check revisions against their own view and both
    acknowledge a save; the lock (flock, released by the kernel when the process
    dies, even by kill -9) makes the second one refuse to start, naming the first.
    """
    path = Path(root) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            raise ConfigError(root, f"already served by {other}; stop that server first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)


def serve(root: str | Path, host: str = "127.0.0.1", port: int = 8000, **app_options) -> None:
    """Run the server until Ctrl-C; `app_options` are `create_app`'s. A non-loopback `host` needs a
    `token` (or per-user `tokens`)."""
    import uvicorn

    if not is_loopback_host(host) and app_options.get("token") is None and not app_options.get("tokens"):
        raise ConfigError("--host", f"{host} is not a loopback address: serving the network needs --allow-remote")
    app = create_app(root, **app_options)
    with folder_lock(root, f"headcount annotate (pid {os.getpid()}, http://{host}:{port}/)"):
        uvicorn.run(app, host=host, port=port, log_level="warning", http=deadline_protocol())
