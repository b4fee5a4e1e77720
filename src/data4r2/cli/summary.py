"""What a run leaves behind on stdout: --json documents, and the plan and verify reports.

JSON field names are a public interface (scripts parse them): add fields, never rename.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.filesize import decimal as human_bytes

from ..domain import Plan, SyncSummary

if TYPE_CHECKING:
    from ..engine.verify import VerifyReport


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=False)


def sync_json(summary: SyncSummary) -> str:
    return _dump(
        {
            "event": "summary",  # the last of --json's lines (json_events.py)
            "command": "sync",
            "ok": summary.ok,
            "repo": summary.repo,
            "commit": summary.commit,
            "destination": summary.destination,
            "copied": summary.copied,
            "skipped": summary.skipped,
            "failed": summary.failed,
            "bytes_copied": summary.bytes_copied,
            "bytes_skipped": summary.bytes_skipped,
            "elapsed_s": round(summary.elapsed_s, 3),
            "mb_per_s": round(summary.mb_per_s, 2),
            "failures": [{"path": p, "reason": r} for p, r in summary.failures],
            "deleted": list(summary.deleted),
        }
    )


def plan_json(plan: Plan, destination: str) -> str:
    snap = plan.snapshot
    return _dump(
        {
            "command": "sync",
            "dry_run": True,
            "ok": True,
            "repo": f"{snap.repo.repo_type.value} {snap.repo.repo_id}",
            "revision": snap.repo.revision,
            "commit": snap.commit,
            "destination": destination,
            "to_copy": len(plan.to_copy),
            "bytes_to_copy": sum(f.file.size for f in plan.to_copy),
            "to_skip": len(plan.to_skip),
            "bytes_to_skip": sum(f.file.size for f in plan.to_skip),
            "files": [
                {
                    "path": f.file.path,
                    "size": f.file.size,
                    "key": f.key,
                    "action": "skip" if f.up_to_date else "copy",
                }
                for f in plan.files
            ],
            "refused": [{"path": r.file.path, "reason": r.reason} for r in plan.refused],
            "to_delete": list(plan.to_delete),
        }
    )


def plan_lines(plan: Plan, destination: str) -> list[str]:
    snap = plan.snapshot
    copy, skip = plan.to_copy, plan.to_skip
    return [
        f"dry run: {snap.repo} = commit {snap.commit} → {destination}",
        *(f"  copy {f.file.path} ({human_bytes(f.file.size)}) → {f.key}" for f in copy),
        *(f"  skip {f.file.path} (up to date)" for f in skip),
        *(f"  {r.reason}" for r in plan.refused),  # "refusing path '…': why"
        *(f"  delete {key}" for key in plan.to_delete),
        f"would copy {len(copy)} files ({human_bytes(sum(f.file.size for f in copy))}), "
        f"skip {len(skip)} ({human_bytes(sum(f.file.size for f in skip))})"
        + (f", delete {len(plan.to_delete)}" if plan.to_delete else "")
        + "; nothing written",
    ]


def verify_json(report: VerifyReport) -> str:
    return _dump(
        {
            "command": "verify",
            "ok": report.ok,
            "repo": report.repo,
            "commit": report.commit,
            "destination": report.destination,
            "counts": {
                "matching": len(report.matching),
                "missing": len(report.missing),
                "differing": len(report.differing),
                "extra": len(report.extra),
            },
            "missing": list(report.missing),
            "differing": list(report.differing),
            "extra": list(report.extra),
            "matching": list(report.matching),
        }
    )


def verify_lines(report: VerifyReport) -> list[str]:
    return [
        *(f"missing   {p}" for p in report.missing),
        *(f"differing {p}" for p in report.differing),
        *(f"extra     {p}" for p in report.extra),
        f"{report.repo} @ {report.commit[:12]} vs {report.destination}: "
        f"{len(report.matching)} matching, {len(report.missing)} missing, "
        f"{len(report.differing)} differing, {len(report.extra)} extra — "
        + ("OK" if report.ok else "PROBLEMS"),
    ]


def error_json(message: str, exit_code: int) -> str:
    """So a script reading --json stdout always gets a document, even on failure."""
    return _dump({"ok": False, "error": message, "exit_code": exit_code})
