"""The HTTP API and the dashboard (FastAPI; docs/API.md).

Every route but ``/api/health``, ``/api/ready`` and ``/metrics`` asks for a token: an
``Authorization: Bearer`` header (integrations), or the ``roadwatch_token`` cookie the
dashboard gets when it is opened with ``?token=``. Tokens are compared in constant time.
The API reads Redis and the live view only (:mod:`roadwatch.api.reads`,
:mod:`roadwatch.api.live`); it never calls into the pipeline.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from alerts.watchlist import WatchEntry, WatchlistError, WatchlistStore
from roadwatch import __version__
from roadwatch.api.live import Broadcaster, LiveView
from roadwatch.api.metrics import CONTENT_TYPE, Metrics
from roadwatch.api.reads import Reads, SightingQuery
from roadwatch.api.uploads import TYPES, UploadError, check_type, decode, read_limited
from roadwatch.errors import CliError

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "roadwatch_token"
Searcher = Callable[[npt.NDArray[np.uint8], int, str], dict[str, Any]]
BEARER = HTTPBearer(auto_error=False, description="The API token (api.token or ROADWATCH_API_TOKEN).")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
CameraId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
EntryId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
_SNAPSHOT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}


@dataclass(slots=True)
class ApiParts:
    """What the server serves.

    Attributes:
        reads: Sightings, alerts and identities from Redis.
        live: Cameras' newest frames and tracks.
        broadcaster: Live events for ``/api/stream``.
        watchlist: The watchlist in Redis.
        tokens: Accepted tokens (at least one).
        search: Searches the gallery with an image (None: search is off here).
        metrics: The process's metrics.
        snapshots_dir: The only folder snapshot files are served from.
        max_upload_bytes: Largest accepted upload.
        max_image_pixels: Largest accepted decoded image.
        max_stream_clients: Live streams served at once.
        ready: Whether the service is ready (Redis reachable, cameras started).
    """

    reads: Reads
    live: LiveView
    broadcaster: Broadcaster
    watchlist: WatchlistStore
    tokens: Sequence[str]
    search: Searcher | None
    metrics: Metrics
    snapshots_dir: Path | None
    max_upload_bytes: int = 10 << 20
    max_image_pixels: int = 40_000_000
    max_stream_clients: int = 200
    ready: Callable[[], tuple[bool, str]] | None = None


class Problem(BaseModel):
    """An error: what was wrong, in one sentence."""

    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Ready(BaseModel):
    ready: bool
    reason: str = ""


class Camera(BaseModel):
    id: str
    health: dict[str, Any] | None = Field(
        description="Reader health (state, fps, drops, reconnects); None when the cameras run elsewhere."
    )
    frame: int | None = Field(description="Index of the newest frame seen here.")
    size: list[int] | None = Field(description="Width and height of the newest frame.")


class Tracks(BaseModel):
    camera: str
    frame: int | None
    time: float | None
    size: list[int] | None
    tracks: list[dict[str, Any]]


class SightingPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Sightings, newest first (docs/EVENTS.md fields).")
    next: str | None = Field(description="Pass as `after` for the next page; None at the end.")


class AlertPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="Alerts, newest first (docs/ALERTS.md fields).")
    next: str | None


class Identity(BaseModel):
    identity: int
    plate: str
    vehicle_type: str
    colour: str
    sightings_count: int
    last_seen: list[dict[str, Any]]
    cameras: list[str]
    sightings: list[dict[str, Any]]


class SearchAnswer(BaseModel):
    is_vehicle: bool
    vehicle_probability: float
    vehicles: list[dict[str, Any]]
    seconds: float


class WatchIn(BaseModel):
    """A watchlist entry as sent (``id`` derived from ``match`` and ``value`` when left out)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    match: Literal["plate", "plate_regex", "plate_fuzzy", "identity", "vehicle_type", "colour"]
    value: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=500)
    severity: Literal["info", "warning", "critical"] = "warning"
    max_distance: float = Field(1.0, ge=0, le=4)


class WatchOut(BaseModel):
    id: str
    match: str
    value: str
    note: str
    severity: str
    max_distance: float


def _refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem} for code in codes}


def _token_of(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get(COOKIE, "")


def token_ok(given: str, tokens: Sequence[str]) -> bool:
    """Whether ``given`` is one of ``tokens``, compared in constant time (every token is
    compared, so the time does not tell which one nearly matched)."""
    given_bytes = given.encode()
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(given_bytes, token.encode())
    return ok and bool(given)


def create_app(parts: ApiParts) -> FastAPI:
    """The FastAPI application over ``parts``."""
    if not parts.tokens:
        raise ValueError("the API needs at least one token")
    app = FastAPI(
        title="roadwatch",
        version=__version__,
        description="Sightings, identities, search, watchlists and live events of a roadwatch site.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        responses={503: {"model": Problem, "description": "Redis unreachable (or the service busy)"}},
    )

    def authorised(request: Request, _: Bearer = None) -> None:
        if not token_ok(_token_of(request), parts.tokens):
            raise HTTPException(401, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"})

    auth: list[Any] = [Depends(authorised)]

    @app.exception_handler(redis.RedisError)
    async def redis_away(_: Request, exc: redis.RedisError) -> JSONResponse:
        return JSONResponse({"detail": f"redis unreachable: {exc}"}, status_code=503)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        parts.metrics.http_requests.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    _service_routes(app, parts, auth)
    _camera_routes(app, parts, auth)
    _record_routes(app, parts, auth)
    _search_routes(app, parts, auth)
    _watchlist_routes(app, parts, auth)
    _live_routes(app, parts, auth)
    _dashboard_routes(app, parts, auth)
    return app


def _service_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """Health, readiness and metrics (no token)."""

    @app.get("/api/health", response_model=Health, tags=["service"])
    def health() -> dict[str, Any]:
        """The process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/ready", response_model=Ready, tags=["service"], responses={503: {"model": Ready}})
    def ready() -> Any:
        """Redis answers and the cameras have started (503 otherwise)."""
        ok, reason = parts.ready() if parts.ready else (True, "")
        if ok:
            try:
                parts.reads.client.ping()
            except Exception as exc:
                ok, reason = False, f"redis: {exc}"
        return JSONResponse({"ready": ok, "reason": reason}, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}}},
    )
    def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(parts.metrics.render(), media_type=CONTENT_TYPE)


def _camera_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """Cameras, their newest picture and tracks."""

    @app.get(
        "/api/cameras",
        response_model=list[Camera],
        dependencies=auth,
        responses=_refusals(401),
        tags=["cameras"],
    )
    def cameras() -> list[dict[str, Any]]:
        """Every camera with its live state."""
        return parts.live.cameras_view()

    @app.get(
        "/api/cameras/{camera}/frame.jpg",
        dependencies=auth,
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, **_refusals(401, 404)},
        tags=["cameras"],
    )
    def camera_frame(camera: CameraId) -> Response:
        """The camera's newest picture (JPEG)."""
        got = parts.live.jpeg(camera)
        if got is None:
            raise HTTPException(404, f"no picture from camera {camera!r} yet")
        data, index = got
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Frame-Index": str(index)}
        )

    @app.get(
        "/api/cameras/{camera}/tracks",
        response_model=Tracks,
        dependencies=auth,
        responses=_refusals(401, 404),
        tags=["cameras"],
    )
    def camera_tracks(camera: CameraId) -> dict[str, Any]:
        """The newest frame's tracks: box, class, identity, plate."""
        overlay = parts.live.overlay(camera)
        if overlay is None:
            raise HTTPException(404, f"no camera {camera!r}")
        return overlay


def _record_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """Sightings, one sighting, identities, alerts and snapshot files."""

    @app.get(
        "/api/sightings",
        response_model=SightingPage,
        dependencies=auth,
        responses=_refusals(401, 422),
        tags=["sightings"],
    )
    def sightings(
        camera: Annotated[str | None, Query(max_length=64)] = None,
        identity: Annotated[int | None, Query(ge=1, le=2**53)] = None,
        plate: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
        since: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time, inclusive.")] = None,
        until: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time, inclusive.")] = None,
        status: Literal["final", "any"] = "final",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        after: Annotated[
            str | None, Query(pattern=r"^\d{1,15}-\d{1,20}$", description="`next` of the previous page.")
        ] = None,
    ) -> dict[str, Any]:
        """Sightings by time range, camera, identity and plate text, newest first, paginated."""
        if since is not None and until is not None and since > until:
            raise HTTPException(422, "since must not be after until")
        query = SightingQuery(camera, identity, plate, since, until, status)
        page = parts.reads.sightings(query, limit=limit, after=after)
        return {"items": page.items, "next": page.next}

    @app.get(
        "/api/sightings/{sighting_id}",
        dependencies=auth,
        response_model=dict[str, Any],
        responses=_refusals(401, 404, 422),
        tags=["sightings"],
    )
    def sighting(sighting_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$")]) -> dict[str, Any]:
        """One sighting (its newest version)."""
        found = parts.reads.sighting(sighting_id)
        if found is None:
            raise HTTPException(404, f"no sighting {sighting_id}")
        return found

    @app.get(
        "/api/identities/{identity}",
        response_model=Identity,
        dependencies=auth,
        responses=_refusals(401, 404, 422),
        tags=["sightings"],
    )
    def identity(identity: Annotated[int, PathParam(ge=1, le=2**53)]) -> dict[str, Any]:
        """An identity: its record and its sightings across cameras, newest first."""
        found = parts.reads.identity(identity)
        if found is None:
            raise HTTPException(404, f"no identity {identity}")
        return found

    @app.get(
        "/api/alerts",
        response_model=AlertPage,
        dependencies=auth,
        responses=_refusals(401, 422),
        tags=["alerts"],
    )
    def alerts(
        kind: Literal["escape", "watchlist"] | None = None,
        camera: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        after: Annotated[str | None, Query(pattern=r"^\d{1,15}-\d{1,20}$")] = None,
    ) -> dict[str, Any]:
        """Alerts newest first, paginated."""
        page = parts.reads.alerts(limit=limit, after=after, kind=kind, camera=camera)
        return {"items": page.items, "next": page.next}

    @app.get(
        "/api/snapshots/{path:path}",
        dependencies=auth,
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, **_refusals(401, 404)},
        tags=["sightings"],
    )
    def snapshot(path: str) -> FileResponse:
        """A snapshot image, served only from the snapshot folder."""
        file = _inside(parts.snapshots_dir, path, _SNAPSHOT_TYPES)
        return FileResponse(file, media_type=_SNAPSHOT_TYPES[file.suffix.lower()])


def _search_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """Search by uploaded image."""

    search_lock = threading.Lock()

    @app.post(
        "/api/search",
        response_model=SearchAnswer,
        dependencies=auth,
        responses=_refusals(400, 401, 413, 415, 422, 503),
        tags=["search"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in TYPES},
            }
        },
    )
    async def search(
        request: Request,
        top: Annotated[int, Query(ge=1, le=50)] = 10,
        category: Literal["type", "colour"] = "type",
    ) -> Any:
        """Search the gallery with a photo (the body: JPEG, PNG, WebP or BMP bytes): every
        vehicle in it, its candidates with scores (method 5's post-processing)."""
        if parts.search is None:
            raise HTTPException(503, "search is not available in this process")
        content_type = request.headers.get("content-type")
        try:
            check_type(content_type)
            body = await read_limited(
                request.stream(), request.headers.get("content-length"), parts.max_upload_bytes
            )
            image = await run_in_threadpool(decode, body, content_type, parts.max_image_pixels)
        except UploadError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        searcher = parts.search

        def work() -> dict[str, Any]:
            with search_lock:
                started = time.perf_counter()
                answer = searcher(image, top, category)
                return {**answer, "seconds": round(time.perf_counter() - started, 3)}

        try:
            return await run_in_threadpool(work)
        except CliError as exc:  # a model or the gallery cannot be loaded
            return JSONResponse({"detail": f"search unavailable: {exc}"}, status_code=503)


def _watchlist_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """Watchlist create, read, update, delete."""

    def _entry(body: WatchIn, given_id: str | None = None) -> WatchEntry:
        try:
            return WatchEntry.make(
                body.match,
                body.value,
                note=body.note,
                severity=body.severity,
                max_distance=body.max_distance,
                entry_id=given_id or body.id,
            )
        except WatchlistError as exc:
            raise HTTPException(422, str(exc)) from None

    def _entries() -> list[WatchEntry]:
        try:
            return parts.watchlist.entries()
        except WatchlistError as exc:
            raise HTTPException(500, str(exc)) from None

    @app.get(
        "/api/watchlist",
        response_model=list[WatchOut],
        dependencies=auth,
        responses=_refusals(401),
        tags=["watchlist"],
    )
    def watchlist() -> list[dict[str, Any]]:
        """Every watchlist entry."""
        return [e.to_dict() for e in _entries()]

    @app.post(
        "/api/watchlist",
        response_model=WatchOut,
        status_code=201,
        dependencies=auth,
        responses=_refusals(401, 409, 422),
        tags=["watchlist"],
    )
    def watch_add(body: WatchIn) -> dict[str, Any]:
        """Add an entry (409 when its id is taken: use PUT to replace)."""
        entry = _entry(body)
        if any(e.id == entry.id for e in _entries()):
            raise HTTPException(
                409, f"watchlist entry {entry.id} exists; PUT /api/watchlist/{entry.id} replaces it"
            )
        parts.watchlist.add([entry])
        return entry.to_dict()

    @app.get(
        "/api/watchlist/{entry}",
        response_model=WatchOut,
        dependencies=auth,
        responses=_refusals(401, 404, 422),
        tags=["watchlist"],
    )
    def watch_get(entry: EntryId) -> dict[str, Any]:
        """One entry."""
        for e in _entries():
            if e.id == entry:
                return e.to_dict()
        raise HTTPException(404, f"no watchlist entry {entry}")

    @app.put(
        "/api/watchlist/{entry}",
        response_model=WatchOut,
        dependencies=auth,
        responses=_refusals(401, 422),
        tags=["watchlist"],
    )
    def watch_put(entry: EntryId, body: WatchIn) -> dict[str, Any]:
        """Create or replace the entry with this id."""
        made = _entry(body, entry)
        parts.watchlist.add([made])
        return made.to_dict()

    @app.delete(
        "/api/watchlist/{entry}",
        status_code=204,
        dependencies=auth,
        response_class=Response,
        responses=_refusals(401, 404, 422),
        tags=["watchlist"],
    )
    def watch_delete(entry: EntryId) -> Response:
        """Remove an entry."""
        if not parts.watchlist.remove(entry):
            raise HTTPException(404, f"no watchlist entry {entry}")
        return Response(status_code=204)


def _live_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """Live events as server-sent events."""

    @app.get(
        "/api/stream",
        dependencies=auth,
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **_refusals(401, 422, 503)},
        tags=["live"],
    )
    async def stream(
        request: Request,
        kinds: Annotated[
            str, Query(pattern=r"^(sighting|alert|camera)(,(sighting|alert|camera))*$")
        ] = "sighting,alert,camera",
    ) -> Any:
        """Server-sent events: ``sighting`` (provisional and final), ``alert`` and ``camera``
        (state changes), each ``data:`` one JSON object; a comment every 15 s keeps it open."""
        if parts.broadcaster.clients >= parts.max_stream_clients:
            return JSONResponse({"detail": "too many live streams open; try again later"}, status_code=503)
        key, queue = parts.broadcaster.subscribe(frozenset(kinds.split(",")))

        async def events() -> AsyncIterator[str]:
            try:
                yield ": roadwatch live events\n\n"
                while True:
                    try:
                        yield await asyncio.wait_for(queue.get(), timeout=15.0)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
            finally:
                parts.broadcaster.unsubscribe(key)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _dashboard_routes(app: FastAPI, parts: ApiParts, auth: list[Any]) -> None:
    """The dashboard page, its token form and its assets."""

    @app.get("/", include_in_schema=False)
    def dashboard(request: Request, token: str | None = None) -> Response:
        if token is not None:  # opened from the printed link: keep the token in a cookie
            if not token_ok(token, parts.tokens):
                return HTMLResponse(_login("That token is not valid."), status_code=401)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=30 * 86400)
            return response
        if not token_ok(_token_of(request), parts.tokens):
            return HTMLResponse(_login(""), status_code=401)
        return FileResponse(
            STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"}
        )

    @app.get("/static/{name}", include_in_schema=False, dependencies=auth)
    def static(name: str) -> Response:
        file = _inside(STATIC, name, _ASSET_TYPES)
        return FileResponse(file, media_type=_ASSET_TYPES[file.suffix.lower()])


def _inside(folder: Path | None, relative: str, types: dict[str, str]) -> Path:
    """``folder/relative`` when it is a file inside ``folder`` with one of the ``types``'
    suffixes, else 404 (``..``, absolute paths, links out of the folder: all refused alike)."""
    if folder is None or "\x00" in relative or relative.startswith(("/", "\\")):
        raise HTTPException(404, "no such file")
    root = folder.resolve()
    try:
        file = (root / relative).resolve()
        file.relative_to(root)
    except (ValueError, OSError):
        raise HTTPException(404, "no such file") from None
    if not file.is_file() or file.suffix.lower() not in types:
        raise HTTPException(404, "no such file")
    return file


def _login(message: str) -> str:
    """The token form (the dashboard opened without a valid token)."""
    note = f'<p class="bad">{html.escape(message)}</p>' if message else ""
    return (STATIC / "login.html").read_text(encoding="utf-8").replace("<!--message-->", note)
