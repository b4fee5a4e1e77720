"""How `data4r2 doctor` shows its report: a Rich table for people, a JSON document for scripts.

JSON field names are a public interface (scripts parse them): add fields, never rename.
"""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..sinks.s3_doctor import DoctorReport, Status

_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def doctor_table(report: DoctorReport) -> RenderableType:
    table = Table(
        title=f"data4r2 doctor: {report.destination} at {report.endpoint}",
        title_justify="left",
        show_lines=True,
    )
    # Names and results never wrap, so a reader (or grep) finds "complete multipart … FAIL"
    # on one line; the free text takes what width is left.
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("what to do", ratio=1)
    for check in report.checks:
        style = _STYLE[check.status]
        advice = Text(check.detail, style="dim" if check.todo else "")
        if check.todo:
            advice.append(f"\n→ {check.todo}", style="")
        table.add_row(check.name, Text(check.status.value, style=style), advice)
    verdict = (
        Text("every check a sync needs passed", style="green")
        if report.ok
        else Text(
            "a sync would fail here: fix the checks marked FAIL, then run doctor again",
            style="bold red",
        )
    )
    return Group(table, verdict)


def doctor_json(report: DoctorReport) -> str:
    return json.dumps(
        {
            "command": "doctor",
            "ok": report.ok,
            "destination": report.destination,
            "endpoint": report.endpoint,
            "probe_prefix": report.probe_prefix,
            "checks": [
                {
                    "check": c.name,
                    "result": c.status.value,
                    "detail": c.detail,
                    "what_to_do": c.todo,
                }
                for c in report.checks
            ],
        },
        ensure_ascii=False,
    )
