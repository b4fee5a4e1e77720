-- The JobStore on PostgreSQL (state/postgres.py). procrastinate owns the queue: each file to
-- copy is a row of procrastinate_jobs (status, scheduled_at = not_before, priority = fair
-- order, lock = the object, so its unique "one 'doing' job per lock" index makes two workers
-- publishing one object impossible cluster-wide). State moves through procrastinate's own
-- functions (defer_jobs, retry_job, finish_job, cancel_job, the worker heartbeat ones) except
-- where the comments say why not. Times: data4r2.clock(%(now)s) (postgres_schema.sql).

-- name: frontier
-- The priority the queue is serving now (its best waiting job's), so a new sync's files start there and interleave with older syncs instead of queueing behind them or jumping ahead.
SELECT coalesce(
    (SELECT priority FROM procrastinate_jobs
     WHERE status = 'todo' AND queue_name = 'data4r2'
     ORDER BY priority DESC, id LIMIT 1),
    (SELECT min(priority) FROM procrastinate_jobs
     WHERE status = 'doing' AND queue_name = 'data4r2'),
    0
) AS frontier;

-- name: insert_sync
-- One row per sync: what is mirrored, at which commit, to where.
INSERT INTO data4r2.syncs (repo_type, repo_id, revision, commit_sha, destination, created_at)
VALUES (%(repo_type)s, %(repo_id)s, %(revision)s, %(commit_sha)s, %(destination)s,
        data4r2.clock(%(now)s))
RETURNING id;

-- name: insert_files
-- A batch of files in plan order (arrays, one statement); a path the sync already has is left alone. The new ids.
INSERT INTO data4r2.files (sync_id, path, size, git_sha1, sha256, key, state)
SELECT %(sync_id)s, b.path, b.size, b.git_sha1, b.sha256, b.key, b.state
FROM unnest(%(path)s::text[], %(size)s::bigint[], %(git_sha1)s::text[], %(sha256)s::text[],
            %(key)s::text[], %(state)s::text[])
     WITH ORDINALITY AS b (path, size, git_sha1, sha256, key, state, n)
ORDER BY b.n
ON CONFLICT (sync_id, path) DO NOTHING
RETURNING id, key, state;

-- name: defer_files
-- One procrastinate job per new file to copy, through procrastinate's batch defer (arrays in plan order, so no scan of files): priority counts down from the frontier, lock names the object (destination + key), args point back at the file.
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(
        'data4r2',
        'data4r2.copy_file',
        %(frontier)s - b.n::integer + 1,
        'object:' || md5(%(destination)s || E'\n' || b.key),
        NULL,
        jsonb_build_object('sync_id', %(sync_id)s::bigint, 'file_id', b.file_id),
        NULL
    )::procrastinate_job_to_defer_v1
    FROM unnest(%(file_ids)s::bigint[], %(keys)s::text[]) WITH ORDINALITY AS b (file_id, key, n)
    ORDER BY b.n
))) AS job_id;

-- name: link_files
-- Each file points at its procrastinate job (found through the job's args).
UPDATE data4r2.files f SET job_id = j.id
FROM procrastinate_jobs j
WHERE j.id = ANY(%(job_ids)s) AND f.id = (j.args ->> 'file_id')::bigint;

-- name: reopen_sync
-- A sync that got new work is not finished (nor cancelled) any more.
UPDATE data4r2.syncs SET finished_at = NULL, cancelled = false WHERE id = %(sync_id)s;

-- name: sync_exists
-- A sync's destination, or nothing if there is no such sync.
SELECT destination FROM data4r2.syncs WHERE id = %(sync_id)s;

-- name: syncs
-- Syncs newest first with their totals; %(before)s pages (exclusive).
SELECT s.id, s.repo_type, s.repo_id, s.revision, s.commit_sha, s.destination,
       extract(epoch FROM s.created_at)::float8 AS created_at,
       extract(epoch FROM s.finished_at)::float8 AS finished_at,
       s.cancelled,
       count(f.id) AS files,
       coalesce(sum(f.size), 0) AS bytes_total,
       coalesce(sum(f.size) FILTER (WHERE f.state IN ('done', 'skipped')), 0) AS bytes_done
FROM data4r2.syncs s LEFT JOIN data4r2.files f ON f.sync_id = s.id
WHERE (%(sync_id)s::bigint IS NULL OR s.id = %(sync_id)s)
  AND (%(before)s::bigint IS NULL OR s.id < %(before)s)
GROUP BY s.id
ORDER BY s.id DESC
LIMIT %(limit)s;

-- name: finish_sync
-- Stamp the end of a sync.
UPDATE data4r2.syncs SET finished_at = data4r2.clock(%(now)s) WHERE id = %(sync_id)s;

-- name: cancel_sync
-- Mark a sync cancelled and finished (its jobs are settled in the same transaction).
UPDATE data4r2.syncs
SET cancelled = true, finished_at = coalesce(finished_at, data4r2.clock(%(now)s))
WHERE id = %(sync_id)s;

-- name: cancel_jobs
-- procrastinate's cancel: a waiting job becomes 'cancelled', a running one gets abort_requested (its NOTIFY tells listeners).
SELECT procrastinate_cancel_job_v1(j.id, true, false)
FROM procrastinate_jobs j JOIN data4r2.files f ON f.job_id = j.id
WHERE f.sync_id = %(sync_id)s AND j.status IN ('todo', 'doing');

-- name: abort_jobs
-- A running job whose abort was requested ends 'aborted' at once: its lease is taken below, so its worker cannot report back and stops at its next part (procrastinate would wait for the task to notice).
SELECT procrastinate_finish_job_v1(j.id, 'aborted', false)
FROM procrastinate_jobs j JOIN data4r2.files f ON f.job_id = j.id
WHERE f.sync_id = %(sync_id)s AND j.status = 'doing' AND j.abort_requested;

-- name: drop_sync_leases
-- The leases of a cancelled sync's jobs: their holders' next renew or finish is LeaseLost.
DELETE FROM data4r2.leases l USING data4r2.files f
WHERE f.id = l.file_id AND f.sync_id = %(sync_id)s;

-- name: cancel_files
-- The record: pending and running files of the sync are cancelled.
UPDATE data4r2.files
SET state = 'cancelled', settled_at = data4r2.clock(%(now)s)
WHERE sync_id = %(sync_id)s AND state IN ('pending', 'running');

-- name: requeue_jobs
-- Dead letters back to the queue through procrastinate's retry (failed -> todo, a 'retried' event), due now.
SELECT procrastinate_retry_job_v2(j.id, data4r2.clock(%(now)s), NULL, NULL, NULL)
FROM procrastinate_jobs j JOIN data4r2.files f ON f.job_id = j.id
WHERE f.sync_id = %(sync_id)s AND f.state = 'failed' AND j.status = 'failed';

-- name: requeue_files
-- Their record: pending with a fresh attempt count; the last error stays until the next attempt.
UPDATE data4r2.files SET state = 'pending', attempts = 0
WHERE sync_id = %(sync_id)s AND state = 'failed';

-- name: doomed_syncs
-- The finished syncs of a destination past the newest %(keep)s: prune forgets them.
SELECT id FROM data4r2.syncs
WHERE destination = %(destination)s AND finished_at IS NOT NULL
ORDER BY id DESC
OFFSET %(keep)s;

-- name: prune_jobs
-- procrastinate's rows of pruned syncs (their events and leases go with them by cascade).
DELETE FROM procrastinate_jobs j USING data4r2.files f
WHERE f.job_id = j.id AND f.sync_id = ANY(%(sync_ids)s);

-- name: prune_syncs
-- The pruned syncs (their files go with them by cascade).
DELETE FROM data4r2.syncs WHERE id = ANY(%(sync_ids)s);

-- name: expired_leases
-- Leases past their expiry (not locked here: lock_jobs locks their jobs first, see below).
SELECT l.job_id, l.token FROM data4r2.leases l
WHERE l.expires_at <= data4r2.clock(%(now)s);

-- name: stalled_leases
-- Leases a live worker holds past the job's timeout (base + size / slowest rate): a hung transfer, renewed by a healthy renewer thread.
SELECT l.job_id, l.token FROM data4r2.leases l JOIN data4r2.files f ON f.id = l.file_id
WHERE l.claimed_at
      + make_interval(secs => %(base)s + f.size / %(min_rate)s) <= data4r2.clock(%(now)s);

-- name: orphaned_leases
-- Leases of jobs whose procrastinate worker row is gone (pruned as stalled: no heartbeat).
SELECT l.job_id, l.token FROM data4r2.leases l JOIN procrastinate_jobs j ON j.id = l.job_id
WHERE j.status = 'doing' AND j.worker_id IS NULL;

-- name: lock_jobs
-- Lock running jobs, skipping any another transaction holds. Every writer locks in one order — its worker's heartbeat row, then jobs, then leases (claim, renew, finish, fail, release, cancel, the reaper) — so no two of them can deadlock.
SELECT id AS job_id FROM procrastinate_jobs
WHERE id = ANY(%(job_ids)s) AND status = 'doing'
ORDER BY id
FOR UPDATE SKIP LOCKED;

-- name: drop_leases
-- Drop the given leases of locked jobs, if still expired (or unconditionally, %(force)s); the jobs to requeue. Their holders' next renew or finish is LeaseLost.
DELETE FROM data4r2.leases
WHERE job_id = ANY(%(job_ids)s) AND token = ANY(%(tokens)s)
  AND (%(force)s OR expires_at <= data4r2.clock(%(now)s))
RETURNING job_id;

-- name: retry_jobs
-- Jobs back to 'todo' through procrastinate's retry, due %(delay)s seconds from now (the attempt counts in procrastinate's own `attempts`).
SELECT procrastinate_retry_job_v2(
    j, data4r2.clock(%(now)s) + make_interval(secs => %(delay)s), NULL, NULL, NULL)
FROM unnest(%(job_ids)s::bigint[]) AS j;

-- name: files_pending
-- The record of requeued jobs: pending again (their claim count stays: the lost attempt counted).
UPDATE data4r2.files SET state = 'pending' WHERE job_id = ANY(%(job_ids)s) AND state = 'running';

-- name: touch_worker
-- A named worker's heartbeat, through procrastinate's; its procrastinate id (none if not registered or pruned as stalled).
SELECT w.procrastinate_worker_id AS worker_id, procrastinate_update_heartbeat_v1(p.id)
FROM data4r2.workers w JOIN procrastinate_workers p ON p.id = w.procrastinate_worker_id
WHERE w.name = %(worker)s;

-- name: lock_worker_name
-- Serialise the first registration of a name: the threads of one worker process claim at once, and all but one must find the row the first registers rather than register an orphan of their own. Two-key form: its own lock space, apart from the single-key reaper and upgrade locks.
SELECT pg_advisory_xact_lock(%(space)s, hashtext(%(worker)s));

-- name: register_worker
-- A named worker (re)joins: a new procrastinate worker row, its id kept under the name.
INSERT INTO data4r2.workers (name, procrastinate_worker_id)
SELECT %(worker)s, worker_id FROM procrastinate_register_worker_v1()
ON CONFLICT (name) DO UPDATE SET procrastinate_worker_id = excluded.procrastinate_worker_id
RETURNING procrastinate_worker_id AS worker_id;

-- name: unregister_worker
-- A worker leaving cleanly: procrastinate forgets it (its running jobs keep their leases until they expire).
SELECT procrastinate_unregister_worker_v1(procrastinate_worker_id)
FROM data4r2.workers WHERE name = %(worker)s AND procrastinate_worker_id IS NOT NULL;

-- name: prune_stalled_workers
-- procrastinate's stall detection: workers silent for %(seconds)s are deleted, which clears worker_id on their jobs (foreign key ON DELETE SET NULL).
SELECT worker_id FROM procrastinate_prune_stalled_workers_v1(%(seconds)s);

-- name: claimable
-- The next job that may run, as procrastinate's fetch_job would pick it but on our clock and with our rule for locks: 'todo', due, no other job of its object running (after expired leases were requeued, every 'doing' job holds a live lease). Fair across syncs by priority (procrastinate's priority index serves the order). Locked, SKIP LOCKED: concurrent claimers take different jobs.
WITH candidate AS (
    SELECT j.id
    FROM procrastinate_jobs j
    WHERE j.queue_name = 'data4r2' AND j.status = 'todo'
      -- CASE fixes the order: the advisory lock is tried only for a job that may run.
      AND CASE
          WHEN (j.scheduled_at IS NULL OR j.scheduled_at <= data4r2.clock(%(now)s))
           AND (%(sync_id)s::bigint IS NULL OR (j.args ->> 'sync_id')::bigint = %(sync_id)s)
           AND NOT EXISTS (
               SELECT 1 FROM procrastinate_jobs o WHERE o.lock = j.lock AND o.status = 'doing'
           )
          -- A claimer starting a job of this object right now (not committed yet) holds
          -- this lock: skip its twins as SKIP LOCKED skips its row. Two-key form, namespace
          -- 'd4r2': apart from the reaper's and the upgrade's one-key locks.
          THEN pg_try_advisory_xact_lock(1681158706, hashtext(j.lock))
          ELSE false
      END
    ORDER BY j.priority DESC, j.id
    LIMIT 1
    FOR UPDATE OF j SKIP LOCKED
)
SELECT c.id AS job_id, f.id AS file_id, f.key, f.git_sha1, f.size, s.destination, s.created_at
FROM candidate c
JOIN data4r2.files f ON f.job_id = c.id
JOIN data4r2.syncs s ON s.id = f.sync_id;

-- name: analyze
-- Fresh planner statistics after a big enqueue, so claims walk the priority index at once instead of sorting the queue until autovacuum looks (a no-op warning for a role that does not own the tables).
ANALYZE procrastinate_jobs, data4r2.files;

-- name: start_job
-- todo -> doing, as procrastinate's fetch_job does it (its 'started' event follows). Fails on the unique lock index if another claimer just started a job of the same object.
UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(worker_id)s
WHERE id = %(job_id)s AND status = 'todo';

-- name: insert_lease
-- The lease: a new token, valid for %(seconds)s.
INSERT INTO data4r2.leases (file_id, job_id, token, worker, claimed_at, expires_at)
VALUES (%(file_id)s, %(job_id)s, %(token)s, %(worker)s, data4r2.clock(%(now)s),
        data4r2.clock(%(now)s) + make_interval(secs => %(seconds)s));

-- name: file_running
-- The record: running, one more attempt, by this worker.
UPDATE data4r2.files SET state = 'running', attempts = attempts + 1, worker = %(worker)s
WHERE id = %(file_id)s
RETURNING id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker;

-- name: published_since
-- Did a job of another sync publish this very content (same key, blob and size) into this destination after this sync was planned?
SELECT 1 FROM data4r2.files o JOIN data4r2.syncs os ON os.id = o.sync_id
WHERE o.key = %(key)s AND o.state = 'done' AND o.id <> %(file_id)s
  AND o.git_sha1 = %(git_sha1)s AND o.size = %(size)s
  AND os.destination = %(destination)s AND o.settled_at >= %(planned_at)s
LIMIT 1;

-- name: next_due
-- Seconds until an open job may be claimed (pending: scheduled_at; running: lease end), and whether any is open, for one sync or all.
SELECT greatest(0, extract(epoch FROM min(
           CASE WHEN f.state = 'pending' THEN coalesce(j.scheduled_at, data4r2.clock(%(now)s))
                ELSE coalesce(l.expires_at, data4r2.clock(%(now)s)) END
       ) - data4r2.clock(%(now)s)))::float8 AS due,
       count(*) AS open
FROM data4r2.files f
LEFT JOIN procrastinate_jobs j ON j.id = f.job_id
LEFT JOIN data4r2.leases l ON l.file_id = f.id
WHERE f.state IN ('pending', 'running')
  AND (%(sync_id)s::bigint IS NULL OR f.sync_id = %(sync_id)s);

-- name: held_elsewhere
-- Due pending jobs of a sync whose object a live lease of another sync's job holds, with that holder.
SELECT f.id, f.sync_id, f.path, f.size, f.git_sha1, f.sha256, f.key, f.state, f.attempts,
       f.error, f.worker, hl.worker AS holder
FROM data4r2.files f
JOIN procrastinate_jobs j ON j.id = f.job_id
JOIN procrastinate_jobs o ON o.lock = j.lock AND o.status = 'doing' AND o.id <> j.id
JOIN data4r2.leases hl ON hl.job_id = o.id AND hl.expires_at > data4r2.clock(%(now)s)
JOIN data4r2.files hf ON hf.id = hl.file_id AND hf.sync_id <> f.sync_id
WHERE f.sync_id = %(sync_id)s AND f.state = 'pending' AND j.status = 'todo'
  AND (j.scheduled_at IS NULL OR j.scheduled_at <= data4r2.clock(%(now)s))
ORDER BY f.id;

-- name: renew
-- Extend a lease its token still holds (an expired one too, if nobody requeued it meanwhile).
UPDATE data4r2.leases
SET expires_at = data4r2.clock(%(now)s) + make_interval(secs => %(seconds)s)
WHERE file_id = %(file_id)s AND token = %(token)s
RETURNING job_id;

-- name: lock_leased_job
-- Lock the job a lease holds (jobs before leases, as every writer does); nothing if the token lost it.
SELECT j.id FROM procrastinate_jobs j JOIN data4r2.leases l ON l.job_id = j.id
WHERE l.file_id = %(file_id)s AND l.token = %(token)s
FOR UPDATE OF j;

-- name: take_lease
-- End a lease its token still holds (finish, fail, release); its procrastinate job id.
DELETE FROM data4r2.leases WHERE file_id = %(file_id)s AND token = %(token)s
RETURNING job_id;

-- name: finish_job
-- procrastinate's finish: 'succeeded' (our DONE and SKIPPED) or 'failed' (our dead letter).
SELECT procrastinate_finish_job_v1(%(job_id)s, %(status)s, false);

-- name: settle_file
-- The record of a finished or failed job.
UPDATE data4r2.files
SET state = %(state)s, error = %(error)s, settled_at = data4r2.clock(%(now)s)
WHERE id = %(file_id)s;

-- name: retry_file
-- The record of a failed attempt that will be retried: pending, with its error.
UPDATE data4r2.files SET state = 'pending', error = %(error)s WHERE id = %(file_id)s;

-- name: release_file
-- The record of a job given back untried: pending, this attempt not counted.
UPDATE data4r2.files SET state = 'pending', attempts = attempts - 1 WHERE id = %(file_id)s;

-- name: job
-- One job.
SELECT id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker
FROM data4r2.files WHERE id = %(file_id)s;

-- name: jobs
-- Jobs of a sync in plan order, of one state or all, ids above %(after)s; %(limit)s NULL for all.
SELECT id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker
FROM data4r2.files
WHERE sync_id = %(sync_id)s AND (%(state)s::text IS NULL OR state = %(state)s) AND id > %(after)s
ORDER BY id
LIMIT %(limit)s;

-- name: counts
-- How many jobs of a sync are in each state (states with none are absent).
SELECT state, count(*) AS n FROM data4r2.files WHERE sync_id = %(sync_id)s GROUP BY state;

-- name: upload
-- The unfinished multipart upload recorded for an object.
SELECT upload_id, part_size, identity FROM data4r2.uploads
WHERE destination = %(destination)s AND key = %(key)s;

-- name: upload_parts
-- Its finished parts, in part-number order (they are recorded in whatever order they finish).
SELECT number, size, etag, checksum, hash_state FROM data4r2.parts
WHERE destination = %(destination)s AND key = %(key)s
ORDER BY number;

-- name: upsert_upload
-- Record (or replace) the upload of an object; its old parts are deleted by delete_parts first.
INSERT INTO data4r2.uploads (destination, key, upload_id, part_size, identity, created_at)
VALUES (%(destination)s, %(key)s, %(upload_id)s, %(part_size)s, %(identity)s,
        data4r2.clock(%(now)s))
ON CONFLICT (destination, key) DO UPDATE
SET upload_id = excluded.upload_id,
    part_size = excluded.part_size,
    identity = excluded.identity,
    created_at = excluded.created_at;

-- name: upsert_part
-- Record a finished part, replacing one with the same number; matches nothing without an upload.
INSERT INTO data4r2.parts (destination, key, number, size, etag, checksum, hash_state)
SELECT %(destination)s, %(key)s, %(number)s, %(size)s, %(etag)s, %(checksum)s, %(hash_state)s
FROM data4r2.uploads
WHERE destination = %(destination)s AND key = %(key)s
ON CONFLICT (destination, key, number) DO UPDATE
SET size = excluded.size, etag = excluded.etag, checksum = excluded.checksum,
    hash_state = excluded.hash_state;

-- name: delete_parts
-- Drop every recorded part of an object's upload.
DELETE FROM data4r2.parts WHERE destination = %(destination)s AND key = %(key)s;

-- name: delete_upload
-- Drop an object's upload record (its parts go with it: ON DELETE CASCADE).
DELETE FROM data4r2.uploads WHERE destination = %(destination)s AND key = %(key)s;

-- name: reaper_lock
-- Only one reaper of the cluster works at a time (a transaction-scoped advisory lock: released on commit, or when its connection dies).
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;
