"""Unauthenticated probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..domain import Data4r2Error
from .context import ServiceContext
from .models import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    """The process answers; `version` lets a client refuse a server older than itself."""
    ctx: ServiceContext = request.app.state.ctx
    return Health(status="ok", version=ctx.version)


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(request: Request) -> Ready | JSONResponse:
    """Ready when the state store answers and the default destination can be written."""
    ctx: ServiceContext = request.app.state.ctx
    checks: dict[str, str] = {}
    try:
        ctx.store.syncs(limit=1)
        checks["state"] = "ok"
    except Exception as e:  # any failure means "not ready", said in one word or line
        checks["state"] = f"error: {type(e).__name__}"
    try:
        ctx.target(ctx.destinations.default).sink.check()
        checks["destination"] = "ok"
    except Data4r2Error as e:
        checks["destination"] = f"error: {e.message}"
    except Exception as e:
        checks["destination"] = f"error: {type(e).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = Ready(ready=ready, checks=checks)
    return body if ready else JSONResponse(body.model_dump(), status_code=503)
