"""The dashboard's sign-in: the API token is typed once, checked like a Bearer header, and
traded for a signed session cookie — the cookie never holds the token.

The cookie (HttpOnly, SameSite=Strict, Secure behind https) carries a random CSRF value and
is signed with itsdangerous, which also dates it: a session lasts `LIFETIME_S`, then the page
says it expired. The signing key is random per server process, so a restart (which is also
how the token is changed) ends every session. A server without a token (loopback only) still
issues sessions: they carry the CSRF value its forms need.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request

from ..auth import BearerToken
from ..errors import ApiError

COOKIE = "data4r2_session"
LIFETIME_S = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str


class Refusal(Enum):
    """Why a request has no session, said on the sign-in page."""

    NONE = ""
    EXPIRED = "Your session expired: sign in again."
    INVALID = "Your session is no longer valid (the server restarted?): sign in again."
    SIGNED_OUT = "Signed out."
    WRONG_TOKEN = "Wrong token: use the server's DATA4R2_API_TOKEN."  # noqa: S105 (a message)


def token_matches(auth: BearerToken, given: str) -> bool:
    """The API's own check (constant time, the same rules), on a token typed in a form."""
    try:
        header = f"Bearer {given}".encode("latin-1")
    except UnicodeEncodeError:  # not a token any server has
        return False
    try:
        auth(Request({"type": "http", "headers": [(b"authorization", header)]}))
    except ApiError:
        return False
    return True


class Sessions:
    def __init__(self, secret: bytes | None = None, lifetime: int = LIFETIME_S) -> None:
        self._lifetime = lifetime
        self._signer = URLSafeTimedSerializer(
            secret or secrets.token_bytes(32), salt="data4r2.web.session"
        )

    def issue(self) -> tuple[Session, str]:
        """A new session and the cookie value that carries it."""
        session = Session(csrf=secrets.token_urlsafe(32))
        return session, self._signer.dumps({"csrf": session.csrf})

    def read(self, request: Request) -> tuple[Session | None, Refusal]:
        value = request.cookies.get(COOKIE)
        if not value:
            return None, Refusal.NONE
        try:
            data = self._signer.loads(value, max_age=self._lifetime)
        except SignatureExpired:
            return None, Refusal.EXPIRED
        except BadSignature:
            return None, Refusal.INVALID
        csrf = data.get("csrf") if isinstance(data, dict) else None
        if not isinstance(csrf, str) or not csrf:
            return None, Refusal.INVALID
        return Session(csrf=csrf), Refusal.NONE


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())
