"""A worker process for the multi-process tests: claims from PostgreSQL until nothing is left.

Each job "publishes" by appending a line to a ledger file — after confirming its lease, as
engine/leased_sink.py does before every write — so a job run to completion twice shows up
as a path written twice. The job named by `hold` hangs on its first attempt (renewing its
lease, alive) until the test kills this process.

argv: database URL, worker name, ledger path, path to hold.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from data4r2.state.postgres import PostgresJobStore

LEASE = 2.0


def main() -> None:
    url, name, ledger, hold = sys.argv[1:5]
    with PostgresJobStore(url, pool_size=2) as store:
        while True:
            lease = store.claim(name, lease_seconds=LEASE)
            if lease is None:
                if store.next_due() is None:
                    return
                time.sleep(0.05)
                continue
            path = lease.job.file.path
            print(f"claimed {path} attempt {lease.job.attempts}", flush=True)
            if path == hold and lease.job.attempts == 1:
                while True:  # a transfer that never ends on a worker that is alive
                    store.renew(lease, LEASE)
                    time.sleep(0.1)
            time.sleep(0.01)  # the transfer
            store.renew(lease, LEASE)  # confirm the lease right before publishing
            with Path(ledger).open("a") as f:
                f.write(f"{path} {name}\n")
            store.finish(lease)


if __name__ == "__main__":
    main()
