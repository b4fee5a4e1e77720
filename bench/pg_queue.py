"""The PostgreSQL JobStore's queue speed: files enqueued per second, jobs claimed and
finished per second with 1..N threads. Makes its own database on --admin's server, drops it.

    python bench/pg_queue.py                       # 10,000 and 40,000 files; 1, 4, 8 threads
    python bench/pg_queue.py --files 10000 --threads 1,2
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from data4r2.domain import PlannedFile, RemoteFile, RepoRef, Snapshot
from data4r2.state.pg_schema import upgrade
from data4r2.state.postgres import PostgresJobStore


def planned(n: int, tag: str) -> list[PlannedFile]:
    return [
        PlannedFile(RemoteFile(f"{tag}/f{i}", 1_000, f"{i:040x}"), f"models/o/{tag}/f{i}", False)
        for i in range(n)
    ]


def drain(store: PostgresJobStore, threads: int) -> tuple[int, float]:
    """Claim and finish everything on `threads` threads: (jobs, seconds)."""
    done = [0] * threads

    def work(i: int) -> None:
        while (lease := store.claim(f"bench-{i}")) is not None:
            store.finish(lease)
            done[i] += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--files", default="10000,40000")
    parser.add_argument("--threads", default="1,4,8")
    parser.add_argument("--claims", type=int, default=2_000, help="jobs drained per row")
    args = parser.parse_args()

    name = f"data4r2_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(args.admin, dbname=name)
    try:
        upgrade(url)
        with PostgresJobStore(url, pool_size=16) as store:
            print("| files in one sync | enqueue (one transaction) | files/s |\n|---|---|---|")
            for n in (int(x) for x in args.files.split(",")):
                files = planned(n, f"e{n}")
                start = time.perf_counter()
                sync_id = store.create_sync(Snapshot(RepoRef("o/m"), "a" * 40, ()), "d", files)
                took = time.perf_counter() - start
                store.cancel_sync(sync_id)
                print(f"| {n:,} | {took:.2f} s | {n / took:,.0f} |")
            print("\n| threads | jobs claimed + finished | jobs/s |\n|---|---|---|")
            for threads in (int(x) for x in args.threads.split(",")):
                snapshot = Snapshot(RepoRef("o/m"), "a" * 40, ())
                store.create_sync(snapshot, "d", planned(args.claims, f"c{threads}"))
                jobs, took = drain(store, threads)
                print(f"| {threads} | {jobs:,} | {jobs / took:,.0f} |")
    finally:
        with psycopg.connect(args.admin, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
