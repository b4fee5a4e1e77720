"""The CDN origin behind LFS/Xet 302s: signed, expiring URLs; no Hub headers; no tokens."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .content import content_disposition, serve_blob
from .faults import fault_reply
from .messages import Reply, Request
from .repo import Blob, Repo

if TYPE_CHECKING:
    from .server import FakeHub

MISSING_KEY = "0" * 64


def _xml_error(status: int, code: str, message: str) -> Reply:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    return Reply(status, [("Content-Type", "application/xml")], body)


class Cdn:
    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self._secret = os.urandom(16)
        self._lock = threading.Lock()
        self._objects: dict[
            str, tuple[Blob, str, bool, str]
        ] = {}  # url path -> (blob, path, xet, repo id)

    def _sign(self, path: str, expires: int, disposition: str) -> str:
        msg = f"{path}\n{expires}\n{disposition}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:48]

    def sign_url(
        self,
        repo: Repo,
        blob: Blob,
        path: str,
        *,
        xet: bool,
        expires_in: int,
        missing: bool = False,
    ) -> str:
        """An absolute signed URL for `blob` (with `missing`: for an object that does not exist)."""
        assert blob.sha256 is not None
        digest = hashlib.sha256(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:40]
        if xet:
            url_path = f"/xet-bridge-us/{digest}/{MISSING_KEY if missing else blob.xet_hash}"
        else:
            key = MISSING_KEY if missing else blob.sha256
            url_path = f"/repos/{digest[:2]}/{digest[2:4]}/{digest}/{key}"
        if not missing:
            with self._lock:
                self._objects[url_path] = (blob, path, xet, repo.repo_id)
        expires = int(self.hub.clock.now()) + expires_in
        disposition = content_disposition(path)
        query = urlencode(
            [
                ("response-content-disposition", disposition),
                ("Expires", str(expires)),
                ("Signature", self._sign(url_path, expires, disposition)),
                ("Key-Pair-Id", "KFAKEHUB0000"),
            ]
        )
        return f"{self.hub.cdn_url}{url_path}?{query}"

    def handle(self, req: Request) -> Reply:
        reply = self._handle(req)
        reply.headers = [*reply.headers, ("Via", "1.1 fakecdn (CloudFront)")]
        reply.route = "cdn"
        return reply

    def _handle(self, req: Request) -> Reply:
        if "authorization" in req.headers:
            return _xml_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        if req.method not in ("GET", "HEAD"):
            return _xml_error(405, "MethodNotAllowed", "The specified method is not allowed")
        with self._lock:
            found = self._objects.get(req.path)
        subject, repo_id = (found[1], found[3]) if found else ("", "")
        fault = self.hub.faults.take(
            "pre", route="cdn", subject=subject, repo_id=repo_id, method=req.method
        )
        if fault is not None:
            reply = fault_reply(fault, "cdn", None)
            reply.fault = str(fault.kind)
            return reply
        expires, signature = req.param("Expires"), req.param("Signature")
        disposition = req.param("response-content-disposition") or ""
        if not expires or not signature or not expires.isdigit():
            return _xml_error(
                403, "AccessDenied", "Missing Key-Pair-Id query parameter or cookie value"
            )
        if not hmac.compare_digest(signature, self._sign(req.path, int(expires), disposition)):
            return _xml_error(403, "AccessDenied", "Access denied")
        if int(expires) < self.hub.clock.now():
            return _xml_error(403, "AccessDenied", "Request has expired")
        if found is None:
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        blob, _path, xet, _repo = found
        assert blob.sha256 is not None
        storage_etag = blob.xet_hash if xet else hashlib.md5(bytes.fromhex(blob.sha256)).hexdigest()
        headers = [
            ("Content-Type", "binary/octet-stream"),
            ("ETag", f'"{storage_etag}"'),
            ("Last-Modified", email.utils.formatdate(1_700_000_000, usegmt=True)),
            ("Content-Disposition", disposition),
            ("X-Cache", "Miss from cloudfront"),
        ]
        return serve_blob(
            blob,
            req,
            headers,
            take_body_fault=lambda has_range: self.hub.faults.take(
                "body",
                route="cdn",
                subject=subject,
                repo_id=repo_id,
                method=req.method,
                has_range=has_range,
            ),
        )
