"""The dashboard's pages under /ui: server-rendered HTML that reads the store and calls the
very functions the /v1 routes are (submit, retry, cancel), so a form and an API call cannot
disagree on validation, messages or effect."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from ...domain import Data4r2Error, Job, RepoType, SyncRecord
from ..context import ServiceContext
from ..errors import ApiError, _validation_message, from_domain
from ..models import SyncRequest, SyncStatus
from ..routes_syncs import MAX_ID, cancel_sync, retry_failed, submit_sync
from ..views import job_out, sync_status
from . import chart, rows
from .in_flight import in_flight_bytes
from .session import COOKIE, LIFETIME_S, Refusal, Session, Sessions, csrf_ok, token_matches
from .throughput import Throughput, rates

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=FsPath(__file__).parent / "templates")

PAGE = 25  # syncs per page
SCAN_LIMIT = 2000  # newest syncs a filtered list looks through (bounds one request's work)
FILES_SHOWN = 300  # rows of a sync's files table; the counts above it are complete
STATES = ("queued", "running", "done", "failed", "cancelled")
NOTICES = {  # what a redirect may ask a page to say: codes, never text from the URL
    "submitted": "Sync submitted.",
    "retried": "Failed files re-queued.",
    "nothing-to-retry": "No failed files to retry.",
    "cancelled": "Sync cancelled.",
}
SyncId = Annotated[int, Path(ge=1, le=MAX_ID)]


class SignInRequired(Exception):
    """No valid session: the handler (see __init__.py) sends the browser to sign in."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


class PageNotFound(Exception):
    """A sync that does not exist: an HTML 404 page, not the API's JSON."""

    def __init__(self, message: str) -> None:
        self.message = message


def _record(ctx: ServiceContext, sync_id: int) -> SyncRecord:
    try:
        return ctx.store.sync(sync_id)
    except LookupError:
        raise PageNotFound(f"There is no sync {sync_id}.") from None


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.web_sessions
    return sessions


def _throughput(request: Request) -> Throughput:
    throughput: Throughput = request.app.state.web_throughput
    return throughput


def session(request: Request) -> Session:
    """The caller's session, or SignInRequired (the handler sends them to sign in)."""
    found, refusal = _sessions(request).read(request)
    if found is None:
        raise SignInRequired(refusal)
    return found


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=LIFETIME_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    ctx = _ctx(request)
    response: HTMLResponse = templates.TemplateResponse(
        request,
        name,
        {"auth_enabled": ctx.auth.enabled, "version": ctx.version, **context},
        status_code=status,
    )
    return response


def _see(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


def _error_message(err: Exception) -> str:
    """The message the API would answer with for this error."""
    if isinstance(err, ApiError):
        return err.message
    if isinstance(err, Data4r2Error):
        return from_domain(err).message
    if isinstance(err, ValidationError):
        return _validation_message(RequestValidationError(err.errors()))
    raise err


# --------------------------------------------------------------------------- sign in


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, why: str = "") -> Response:
    if not _ctx(request).auth.enabled:
        return _see("/ui")
    refusal = next((r for r in Refusal if r.name.lower() == why), Refusal.NONE)
    return _page(request, "login.html", message=refusal.value)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form(max_length=4096)] = "") -> Response:
    ctx = _ctx(request)
    if ctx.auth.enabled and not token_matches(ctx.auth, token):
        return _page(request, "login.html", status=401, message=Refusal.WRONG_TOKEN.value)
    response = _see("/ui")
    set_session_cookie(request, response, _sessions(request).issue()[1])
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    current = session(request)
    if not csrf_ok(current, csrf):
        return _page(request, "error.html", status=403, message="Stale form: reload the page.")
    response = _see("/ui/login", why=Refusal.SIGNED_OUT.name.lower())
    response.delete_cookie(COOKIE, path="/ui")
    return response


# --------------------------------------------------------------------------- syncs


def row_of(request: Request, record: SyncRecord, status: SyncStatus) -> rows.SyncRow:
    ctx = _ctx(request)
    if status.state != "running":
        return rows.sync_row(status, ctx.hub_endpoint)
    recent = rates(_throughput(request).samples(record.id))
    return rows.sync_row(
        status,
        ctx.hub_endpoint,
        in_flight=in_flight_bytes(ctx.store, record),
        current_rate=recent[-1][1] if recent else None,
    )


def find_syncs(
    request: Request, *, state: str, query: str, before: int | None, limit: int = PAGE
) -> tuple[list[rows.SyncRow], int | None]:
    """Newest first, filtered by state and a repo-id substring; the cursor of the next page.
    The store pages by id only, so filters look through at most SCAN_LIMIT syncs."""
    ctx = _ctx(request)
    found: list[rows.SyncRow] = []
    cursor, scanned, needle = before, 0, query.strip().lower()
    while scanned < SCAN_LIMIT:
        records = ctx.store.syncs(limit=100, before=cursor)
        if not records:
            return found, None
        for record in records:
            scanned += 1
            if needle and needle not in record.repo.repo_id.lower():
                continue
            status = sync_status(ctx, record)
            if state and status.state != state:
                continue
            found.append(row_of(request, record, status))
            if len(found) == limit:
                return found, record.id
        cursor = records[-1].id
    return found, cursor


def _list_context(request: Request, state: str, q: str, cursor: int | None) -> dict[str, Any]:
    state = state if state in STATES else ""
    found, next_cursor = find_syncs(request, state=state, query=q, before=cursor)
    more = {"state": state, "q": q} if (state or q) else {}
    return {
        "rows": found,
        "state": state,
        "q": q,
        "states": STATES,
        "filtered": bool(state or q),
        "next_url": f"/ui?{urlencode({**more, 'cursor': next_cursor})}" if next_cursor else "",
        "first_url": f"/ui?{urlencode(more)}" if cursor else "",
        "live_url": "/ui/live/syncs?"
        + urlencode({**more, **({"cursor": cursor} if cursor else {})}),
    }


Cursor = Annotated[int | None, Query(ge=1, le=MAX_ID)]
State = Annotated[str, Query(max_length=20)]
Search = Annotated[str, Query(max_length=200)]


@router.get("", response_class=HTMLResponse)
def syncs_page(
    request: Request, state: State = "", q: Search = "", cursor: Cursor = None, notice: str = ""
) -> Response:
    current = session(request)
    return _page(
        request,
        "syncs.html",
        csrf=current.csrf,
        notice=NOTICES.get(notice, ""),
        **_list_context(request, state, q, cursor),
    )


@router.get("/live/syncs", response_class=HTMLResponse)
def syncs_live(
    request: Request, state: State = "", q: Search = "", cursor: Cursor = None
) -> Response:
    session(request)
    return _page(request, "_syncs_table.html", **_list_context(request, state, q, cursor))


def _sync_context(request: Request, sync_id: int) -> dict[str, Any]:
    ctx = _ctx(request)
    record = _record(ctx, sync_id)
    status = sync_status(ctx, record)
    jobs: list[Job] = []
    for state in rows.JOB_ORDER:
        if len(jobs) >= FILES_SHOWN:
            break
        jobs += ctx.store.jobs(sync_id, state=state, limit=FILES_SHOWN - len(jobs))
    series = rates(_throughput(request).samples(sync_id))
    return {
        "sync": row_of(request, record, status),
        "counts": rows.state_counts(status),
        "files": [rows.file_row(job_out(j)) for j in jobs],
        "files_total": sum(status.counts.values()),
        "chart": chart.throughput_chart(series),
        "chart_size": (chart.WIDTH, chart.HEIGHT),
        "live_url": f"/ui/syncs/{sync_id}/live",
    }


@router.get("/syncs/{sync_id}", response_class=HTMLResponse)
def sync_page(request: Request, sync_id: SyncId, notice: str = "") -> Response:
    current = session(request)
    return _page(
        request,
        "sync.html",
        csrf=current.csrf,
        notice=NOTICES.get(notice, ""),
        **_sync_context(request, sync_id),
    )


@router.get("/syncs/{sync_id}/live", response_class=HTMLResponse)
def sync_live(request: Request, sync_id: SyncId) -> Response:
    current = session(request)
    return _page(request, "_sync_live.html", csrf=current.csrf, **_sync_context(request, sync_id))


def _checked_post(request: Request, csrf: str) -> Response | None:
    """None when the form may act; else the page that says why not."""
    if not csrf_ok(session(request), csrf):
        return _page(request, "error.html", status=403, message="Stale form: reload the page.")
    return None


Csrf = Annotated[str, Form(max_length=200)]


@router.post("/syncs/{sync_id}/retry")
def retry(request: Request, sync_id: SyncId, csrf: Csrf = "") -> Response:
    if (refused := _checked_post(request, csrf)) is not None:
        return refused
    _record(_ctx(request), sync_id)
    changed = retry_failed(sync_id, request)
    return _see(f"/ui/syncs/{sync_id}", notice="retried" if changed.jobs else "nothing-to-retry")


@router.get("/syncs/{sync_id}/cancel", response_class=HTMLResponse)
def cancel_confirm(request: Request, sync_id: SyncId) -> Response:
    current = session(request)
    ctx = _ctx(request)
    record = _record(ctx, sync_id)
    row = row_of(request, record, sync_status(ctx, record))
    return _page(request, "cancel.html", csrf=current.csrf, sync=row)


@router.post("/syncs/{sync_id}/cancel")
def cancel(request: Request, sync_id: SyncId, csrf: Csrf = "") -> Response:
    if (refused := _checked_post(request, csrf)) is not None:
        return refused
    _record(_ctx(request), sync_id)
    cancel_sync(sync_id, request)
    return _see(f"/ui/syncs/{sync_id}", notice="cancelled")


# --------------------------------------------------------------------------- new sync


def _form_context(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(request)
    return {
        "values": values,
        "repo_types": [t.value for t in RepoType],
        "destinations": ctx.destinations.names,
        "default_destination": ctx.destinations.default,
    }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.get("/new", response_class=HTMLResponse)
def new_sync_form(request: Request) -> Response:
    current = session(request)
    values = {"repo_type": "model", "revision": "main", "include": "", "exclude": ""}
    return _page(request, "new.html", csrf=current.csrf, **_form_context(request, values))


@router.post("/new", response_class=HTMLResponse)
def new_sync(
    request: Request,
    repo_id: Annotated[str, Form(max_length=1000)] = "",
    repo_type: Annotated[str, Form(max_length=20)] = "model",
    revision: Annotated[str, Form(max_length=1000)] = "main",
    include: Annotated[str, Form(max_length=100_000)] = "",
    exclude: Annotated[str, Form(max_length=100_000)] = "",
    dest: Annotated[str, Form(max_length=200)] = "",
    force: Annotated[str, Form(max_length=10)] = "",
    csrf: Csrf = "",
) -> Response:
    if (refused := _checked_post(request, csrf)) is not None:
        return refused
    current = session(request)
    values = {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": revision,
        "include": include,
        "exclude": exclude,
        "dest": dest,
        "force": bool(force),
    }
    try:
        body = SyncRequest.model_validate(
            {
                "repo_id": repo_id.strip(),
                "repo_type": repo_type,
                "revision": revision.strip() or "main",
                "include": _lines(include),
                "exclude": _lines(exclude),
                "dest": dest or None,
                "force": bool(force),
            }
        )
        accepted = submit_sync(body, request)
    except (ValidationError, ApiError, Data4r2Error) as err:
        return _page(
            request,
            "new.html",
            status=422,
            csrf=current.csrf,
            error=_error_message(err),
            **_form_context(request, values),
        )
    return _see(f"/ui/syncs/{accepted.sync_id}", notice="submitted")
