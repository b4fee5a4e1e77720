"""Download routes (docs/hub.md §2): /resolve/ (307 or 302 to the CDN) and /api/resolve-cache/."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from . import errors
from .content import content_disposition, content_type, etag_matches, serve_blob
from .handlers import Ctx, RouteBase, text_reply
from .messages import Reply
from .repo import Blob, Commit, Repo


class DownloadRoutes(RouteBase):
    def _resolve(self, ctx: Ctx, repo: Repo) -> Reply:
        commit, path = self._revision(ctx, repo, allow_rest=True)
        blob = commit.files.get(path)
        if blob is None:
            raise errors.entry_not_found(commit.sha)
        hub_headers = [("X-Repo-Commit", commit.sha)]
        if blob.lfs:
            hub_headers += [
                ("X-Linked-Etag", f'"{blob.sha256}"'),
                ("X-Linked-Size", str(blob.size)),
            ]
            if etag_matches(ctx.req.headers.get("if-none-match"), blob.sha256 or ""):
                return Reply(304, [*hub_headers, ("ETag", f'"{blob.sha256}"')])
            return self._redirect_lfs(ctx, repo, commit, path, blob, hub_headers)
        if etag_matches(ctx.req.headers.get("if-none-match"), blob.oid):
            return Reply(304, [*hub_headers, ("ETag", f'"{blob.oid}"')])
        fault = self._take(ctx, "redirect")
        if fault is not None and fault.kind == "redirect_loop":
            reply = self._redirect(
                307, ctx.req.path + ("?" + ctx.req.query if ctx.req.query else ""), hub_headers
            )
        elif self.hub.resolve_cache_redirect:
            if fault is not None and fault.kind == "redirect_404":
                location = f"/api/resolve-cache/gone/{commit.sha}/{quote(path, safe='')}"
            else:
                location = self._resolve_cache_location(ctx, repo, commit, path, blob)
            reply = self._redirect(307, location, hub_headers)
        else:
            return self._serve(ctx, commit, path, blob)
        reply.fault = str(fault.kind) if fault else None
        return reply

    def _resolve_cache_location(
        self, ctx: Ctx, repo: Repo, commit: Commit, path: str, blob: Blob
    ) -> str:
        original = ctx.req.path
        query = urlencode([(original, ""), ("etag", f'"{blob.oid}"')])
        where = f"{repo.api_type}/{repo.repo_id}/{commit.sha}/{quote(path, safe='')}"
        return f"/api/resolve-cache/{where}?{query}"

    def _redirect(self, status: int, location: str, headers: list[tuple[str, str]]) -> Reply:
        word = "Found" if status == 302 else "Temporary Redirect"
        return text_reply(
            status, f"{word}. Redirecting to {location}", [*headers, ("Location", location)]
        )

    def _redirect_lfs(
        self,
        ctx: Ctx,
        repo: Repo,
        commit: Commit,
        path: str,
        blob: Blob,
        headers: list[tuple[str, str]],
    ) -> Reply:
        xet = repo.is_xet(blob)
        if xet:
            headers = [
                *headers,
                ("X-Xet-Hash", blob.xet_hash),
                (
                    "Link",
                    f"<{ctx.endpoint}/api/{repo.api_type}/{repo.repo_id}/xet-read-token/"
                    f'{commit.sha}>; rel="xet-auth", '
                    f"<{self.hub.cdn_url}/cas/reconstruction/{blob.xet_hash}>; "
                    'rel="xet-reconstruction-info"',
                ),
            ]
        fault = self._take(ctx, "redirect")
        kind = fault.kind if fault else None
        if kind == "redirect_loop":
            location = ctx.req.path + ("?" + ctx.req.query if ctx.req.query else "")
        else:
            expires_in = -60 if kind == "expired_cdn" else self.hub.cdn_ttl
            location = self.hub.cdn.sign_url(
                repo, blob, path, xet=xet, expires_in=expires_in, missing=kind == "redirect_404"
            )
        reply = self._redirect(302, location, headers)
        reply.fault = str(kind) if kind else None
        return reply

    def _resolve_cache(self, ctx: Ctx, repo: Repo) -> Reply:
        sha, path = ctx.route.sha or "", ctx.route.file_path or ""
        commit = repo.resolve(sha)
        if commit is None or commit.sha != sha:
            raise errors.revision_not_found(sha)
        blob = commit.files.get(path)
        if blob is None:
            raise errors.entry_not_found(commit.sha)
        if etag_matches(ctx.req.headers.get("if-none-match"), blob.oid):
            return Reply(304, [("X-Repo-Commit", commit.sha), ("ETag", f'"{blob.oid}"')])
        return self._serve(ctx, commit, path, blob)

    def _serve(self, ctx: Ctx, commit: Commit, path: str, blob: Blob) -> Reply:
        etag = f'"{blob.sha256}"' if blob.lfs else f'"{blob.oid}"'
        headers = [
            ("X-Repo-Commit", commit.sha),
            ("ETag", etag),
            ("Content-Type", content_type(path, blob)),
            ("Content-Disposition", content_disposition(path)),
        ]
        if blob.lfs:
            headers += [("X-Linked-Etag", etag), ("X-Linked-Size", str(blob.size))]
        return serve_blob(
            blob,
            ctx.req,
            headers,
            take_body_fault=lambda has_range: self._take(ctx, "body", has_range=has_range),
            allow_gzip=self.hub.gzip_text,
        )
