"""`data4r2 doctor`: prove a bucket takes every kind of request a sync sends, before a long run.

Each check is a small function over a `Probe` (the S3Sink `sync` would build, plus what the
earlier checks wrote) returning a `Verdict`. The writes go through the sink's own methods —
the same code path, headers and wire format as a sync — under a unique
`{prefix}/.data4r2-doctor/<uuid>/` key prefix, and `cleanup` deletes them whatever happened
before it. Checks run in order; one whose prerequisite failed is skipped, not run.

It lives beside the S3 adapter because it is an S3 use case: two checks read what no port
method returns (an answer's `Date` header, a HEAD's raw metadata) from the sink's client.

- report.py   what a check concludes, and the report the CLI shows
- probe.py    the state the checks share, and the probe objects' metadata
- checks.py   the checks, in order
- cleanup.py  deleting every probe object and upload, then proving it
- run.py      `diagnose`: the checks, then the cleanup
"""

from .checks import judge_skew
from .report import CheckResult, DoctorReport, Status, Verdict, verdict_from_error
from .run import diagnose

__all__ = [
    "CheckResult",
    "DoctorReport",
    "Status",
    "Verdict",
    "diagnose",
    "judge_skew",
    "verdict_from_error",
]
