"""The Hub-compatible read API: the mirrored repos of the default destination, answered as
huggingface.co answers them, so `HF_ENDPOINT=<server>` makes the Hub's own clients read
from the mirror (docs/mirror-api.md). Reads manifests, never bucket listings; read-only."""

from __future__ import annotations

from fastapi import FastAPI

from ..context import ServiceContext
from .errors import install
from .mirror import Mirror
from .routes import HubApi, router


def mount(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the routes at `/` — call after every other route: they match broad patterns. A no-op for
    a default destination without a read side (an injected memory sink)."""
    target = ctx.target(ctx.destinations.default)
    if target.reader is None:
        return
    app.state.hubapi = HubApi(Mirror(target.reader, target.prefix), ctx.auth)
    install(app)
    app.include_router(router)
