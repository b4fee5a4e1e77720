"""Metadata routes (docs/hub.md §1, §7): repo info, tree, paths-info, refs, commits, tokens."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

from . import errors
from .auth import Caller
from .errors import HubError
from .handlers import Ctx, RouteBase
from .messages import Reply, Request
from .repo import Commit, Repo

SECURITY_STATUS = {
    "status": "safe",
    "protectAiScan": None,
    "avScan": {"virusFound": False, "virusNames": None},
    "pickleImportScan": None,
}


class MetadataRoutes(RouteBase):
    def _entry(self, repo: Repo, commit: Commit, path: str, *, expand: bool) -> dict[str, Any]:
        if path in commit.files:
            blob = commit.files[path]
            entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": blob.size}
            if blob.lfs:
                entry["lfs"] = {
                    "oid": blob.sha256,
                    "size": blob.size,
                    "pointerSize": blob.pointer_size,
                }
                if repo.is_xet(blob):
                    entry["xetHash"] = blob.xet_hash
        else:
            entry = {"type": "directory", "oid": commit.trees[path], "size": 0}
        entry["path"] = path
        if expand:
            last = repo.last_change(commit.sha, path)
            entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date_iso}
            if entry["type"] == "file":
                entry["securityFileStatus"] = SECURITY_STATUS
        return entry

    def _info(self, ctx: Ctx, repo: Repo) -> Reply:
        commit, _ = self._revision(ctx, repo, allow_rest=False)
        blobs = ctx.req.flag("blobs")
        siblings = []
        for path in sorted(commit.files):
            blob = commit.files[path]
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=blob.size, blobId=blob.oid)
                if blob.lfs:
                    sib["lfs"] = {
                        "sha256": blob.sha256,
                        "size": blob.size,
                        "pointerSize": blob.pointer_size,
                    }
            siblings.append(sib)
        first = repo.get_commit(repo.commits()[0])
        data: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": commit.sha,
            "lastModified": commit.date_iso,
            "createdAt": first.date_iso,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": repo.disabled,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(b.size for b in commit.files.values()),
        }
        if repo.repo_type == "space":
            data["sdk"] = "static"
        expand = ctx.req.params.get("expand", []) + ctx.req.params.get("expand[]", [])
        if expand:
            data = {k: v for k, v in data.items() if k in ("_id", "id", *expand)}
        return self._json(ctx, data)

    def _tree(self, ctx: Ctx, repo: Repo) -> Reply:
        commit, path = self._revision(ctx, repo, allow_rest=True)
        path = path.strip("/")
        if path not in commit.dirs:
            raise errors.entry_not_found()
        expand = ctx.req.flag("expand")
        items = list(commit.walk(path, recursive=ctx.req.flag("recursive")))
        size = self.hub.expand_page_size if expand else self.hub.page_size
        return self._paged(
            ctx, items, size, lambda x: self._entry(repo, commit, x[0], expand=expand)
        )

    def _paths_info(self, ctx: Ctx, repo: Repo) -> Reply:
        commit, _ = self._revision(ctx, repo, allow_rest=False)
        paths, expand = parse_paths_body(ctx.req)
        seen: list[str] = []
        for p in paths:
            p = p.strip("/")
            if p and p not in seen and commit.kind(p) is not None:
                seen.append(p)
        return self._json(ctx, [self._entry(repo, commit, p, expand=expand) for p in seen])

    def _refs(self, ctx: Ctx, repo: Repo) -> Reply:
        refs = repo.refs()

        def items(kind: str, prefix: str) -> list[dict[str, str]]:
            return [
                {"name": n, "ref": prefix + n, "targetCommit": sha}
                for n, sha in sorted(refs[kind].items())
            ]

        data: dict[str, Any] = {
            "branches": items("branches", "refs/heads/"),
            "converts": items("converts", "refs/convert/"),
            "tags": items("tags", "refs/tags/"),
        }
        if ctx.req.flag("include_prs"):
            data["pullRequests"] = items("pullRequests", "")
        return self._json(ctx, data)

    def _commits(self, ctx: Ctx, repo: Repo) -> Reply:
        commit, _ = self._revision(ctx, repo, allow_rest=False)

        def render(c: Commit) -> dict[str, Any]:
            return {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "date": c.date_iso,
                "authors": [{"user": c.author, "avatar": f"https://avatars.invalid/{c.author}"}],
            }

        return self._paged(ctx, list(repo.history(commit.sha)), self.hub.commits_page_size, render)

    def _xet_token(self, ctx: Ctx, repo: Repo) -> Reply:
        self._revision(ctx, repo, allow_rest=False)
        exp = int(self.hub.clock.now()) + 3600
        token = "xet_" + hashlib.sha256(f"{repo.repo_id}{exp}".encode()).hexdigest()[:32]
        cas = self.hub.cdn_url + "/cas"
        headers = [
            ("X-Xet-Cas-Url", cas),
            ("X-Xet-Access-Token", token),
            ("X-Xet-Token-Expiration", str(exp)),
        ]
        return self._json(ctx, {"accessToken": token, "exp": exp, "casUrl": cas}, headers)

    def _whoami(self, ctx: Ctx, caller: Caller) -> Reply:
        if caller.info is None:
            raise HubError(401, "Invalid username or password.")
        info = caller.info
        return self._json(
            ctx,
            {
                "type": "user",
                "id": hashlib.sha1(info.user.encode()).hexdigest()[:24],
                "name": info.user,
                "fullname": info.user,
                "orgs": [{"type": "org", "name": o} for o in sorted(info.orgs)],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "fakehub", "role": "read"},
                },
            },
        )


def parse_paths_body(req: Request) -> tuple[list[str], bool]:
    """paths-info body: form `paths=a&paths=b&expand=false`, or JSON `{"paths": […], …}`."""
    ctype = req.headers.get("content-type", "")
    if "json" in ctype:
        try:
            data = json.loads(req.body or b"{}")
        except ValueError as e:
            raise errors.bad_request("Invalid JSON body") from e
        paths = data.get("paths") if isinstance(data, dict) else None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise errors.bad_request('"paths" must be a list of strings')
        expand = data.get("expand", False)
        return paths, expand is True or str(expand).lower() == "true"
    form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    if "paths" not in form:
        raise errors.bad_request('"paths" is required')
    return form["paths"], form.get("expand", ["false"])[-1].lower() in ("1", "true")
