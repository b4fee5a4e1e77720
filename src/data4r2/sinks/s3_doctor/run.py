"""`diagnose`: every check in order, then the cleanup, whatever happened."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...domain import CredentialsError, Data4r2Error, UsageError
from ..s3_errors import CREDENTIALS_HINT
from .checks import CHECKS, Check
from .cleanup import CLEANUP, cleanup
from .probe import PROBE_DIR, Probe
from .report import CheckResult, DoctorReport, Status, verdict_from_error

if TYPE_CHECKING:
    from ..s3 import S3Sink


def diagnose(
    *,
    destination: str,
    endpoint: str,
    prefix: str,
    ca_bundle: str | None,
    make_sink: Callable[[], S3Sink],
) -> DoctorReport:
    """Run every check in order, then the cleanup (always); the sink is built and closed here.

    Errors that are the user's input (a bad endpoint URL) propagate with their exit code.
    """
    base = f"{prefix}/" if prefix else ""
    root = f"{base}{PROBE_DIR}/{uuid.uuid4().hex}/"
    probe = Probe(endpoint, ca_bundle, base, root, make_sink)
    results: dict[str, CheckResult] = {}
    try:
        for check in CHECKS:
            results[check.name] = _run(check, probe, results)
    finally:
        try:
            final = cleanup(probe)
            results[CLEANUP] = CheckResult(CLEANUP, final.status, final.detail, final.todo)
        finally:
            if probe.sink_ is not None:
                probe.sink_.close()
    return DoctorReport(destination, endpoint, probe.root, tuple(results.values()))


def _run(check: Check, probe: Probe, done: dict[str, CheckResult]) -> CheckResult:
    blocked = [n for n in check.needs if done[n].status not in (Status.OK, Status.WARN)]
    if blocked:
        return CheckResult(check.name, Status.SKIP, f"not run: needs {', '.join(blocked)}")
    try:
        verdict = check.run(probe)
    except CredentialsError as exc:
        if check.name == "credentials":  # missing: the only error this check is about
            return CheckResult(check.name, Status.FAIL, exc.message, CREDENTIALS_HINT)
        verdict = verdict_from_error(exc)
    except Data4r2Error as exc:
        if isinstance(exc, UsageError):  # a config error: usual exit code and message
            raise
        verdict = verdict_from_error(exc)
    # Error texts name the full probe key; its random folder only makes the table wider.
    detail = verdict.detail.replace(probe.root, "…/")
    return CheckResult(check.name, verdict.status, detail, verdict.todo)
