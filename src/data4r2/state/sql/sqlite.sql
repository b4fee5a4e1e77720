-- name: configure
-- Per-connection settings: WAL so readers (data4r2 verify) never block the writer, NORMAL sync (see sqlite.py), FK checks on.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;

-- name: schema
-- Schema version 3 for a brand-new file (sqlite.py runs it inside BEGIN IMMEDIATE after re-reading user_version).
-- Times are unix seconds (REAL) from the Python clock, passed as parameters: the same in every backend.
CREATE TABLE syncs (
    id INTEGER PRIMARY KEY,
    repo_type TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    revision TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    destination TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    cancelled BOOLEAN NOT NULL DEFAULT FALSE,
    last_claim INTEGER NOT NULL DEFAULT 0  -- claim order: the sync claimed from least recently goes first
);

CREATE INDEX syncs_by_destination ON syncs (destination, id);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    sync_id INTEGER NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    git_sha1 TEXT NOT NULL,
    sha256 TEXT,
    key TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'running', 'done', 'skipped', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker TEXT,
    lease_token TEXT,
    lease_expires REAL,
    not_before REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    UNIQUE (sync_id, path)
);

-- claim() walks a sync's pending jobs in id order; counts() groups by state.
CREATE INDEX jobs_by_sync_state ON jobs (sync_id, state, id);
-- Per-object exclusivity: is this key leased (or just published) by a job of another sync?
CREATE INDEX jobs_by_key ON jobs (key, state);

CREATE TABLE uploads (
    destination TEXT NOT NULL,
    key TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    identity TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (destination, key)
);

CREATE TABLE parts (
    destination TEXT NOT NULL,
    key TEXT NOT NULL,
    number INTEGER NOT NULL CHECK (number >= 1),
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT NOT NULL,
    hash_state BLOB,  -- the file's sha256 state after this part (PartInfo.hash_state)
    PRIMARY KEY (destination, key, number),
    FOREIGN KEY (destination, key) REFERENCES uploads (destination, key) ON DELETE CASCADE
);

PRAGMA user_version = 3;

-- name: migrate_1_to_2
-- Upgrade a v1 file in place (SQLite's 12-step table rebuild, foreign keys off): ISO-text times become unix seconds, jobs gain leases, not_before and the 'cancelled' state.
CREATE TABLE syncs_v2 (
    id INTEGER PRIMARY KEY,
    repo_type TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    revision TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    destination TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    cancelled BOOLEAN NOT NULL DEFAULT FALSE,
    last_claim INTEGER NOT NULL DEFAULT 0  -- claim order: the sync claimed from least recently goes first
);

INSERT INTO syncs_v2 (id, repo_type, repo_id, revision, commit_sha, destination, created_at, finished_at)
SELECT id, repo_type, repo_id, revision, commit_sha, destination,
       round((julianday(created_at) - 2440587.5) * 86400.0, 3),
       round((julianday(finished_at) - 2440587.5) * 86400.0, 3)
FROM syncs;

CREATE TABLE jobs_v2 (
    id INTEGER PRIMARY KEY,
    sync_id INTEGER NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    git_sha1 TEXT NOT NULL,
    sha256 TEXT,
    key TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'running', 'done', 'skipped', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker TEXT,
    lease_token TEXT,
    lease_expires REAL,
    not_before REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    UNIQUE (sync_id, path)
);

-- A v1 'running' job belonged to a run that is gone: its lease is long expired (0).
INSERT INTO jobs_v2 (id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error,
                     worker, lease_expires, updated_at)
SELECT id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker,
       CASE WHEN state = 'running' THEN 0 END,
       round((julianday(updated_at) - 2440587.5) * 86400.0, 3)
FROM jobs;

CREATE TABLE uploads_v2 (
    destination TEXT NOT NULL,
    key TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    identity TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (destination, key)
);

INSERT INTO uploads_v2 (destination, key, upload_id, part_size, identity, created_at)
SELECT destination, key, upload_id, part_size, identity,
       round((julianday(created_at) - 2440587.5) * 86400.0, 3)
FROM uploads;

DROP TABLE jobs;
DROP TABLE syncs;
DROP TABLE uploads;
ALTER TABLE syncs_v2 RENAME TO syncs;
ALTER TABLE jobs_v2 RENAME TO jobs;
ALTER TABLE uploads_v2 RENAME TO uploads;
CREATE INDEX syncs_by_destination ON syncs (destination, id);
CREATE INDEX jobs_by_sync_state ON jobs (sync_id, state, id);
CREATE INDEX jobs_by_key ON jobs (key, state);
PRAGMA user_version = 2;

-- name: migrate_2_to_3
-- Parts carry the file's sha256 state after their last byte, so a resume reads only the tail. Old parts have none (NULL): such a resume re-reads from the first byte, as v2 did.
ALTER TABLE parts ADD COLUMN hash_state BLOB;
PRAGMA user_version = 3;

-- name: user_version
-- The schema version this file was created with (0 for a brand-new file).
PRAGMA user_version;

-- name: foreign_key_check
-- Rows whose foreign key points nowhere (run after a migration, before its commit).
PRAGMA foreign_key_check;

-- name: insert_sync
-- One row per sync: what is mirrored, at which commit, to where.
INSERT INTO syncs (repo_type, repo_id, revision, commit_sha, destination, created_at)
VALUES (:repo_type, :repo_id, :revision, :commit_sha, :destination, :created_at)
RETURNING id;

-- name: insert_job
-- One job per planned file (up-to-date ones arrive 'skipped'); a path the sync already has is left alone.
INSERT INTO jobs (sync_id, path, size, git_sha1, sha256, key, state, updated_at)
VALUES (:sync_id, :path, :size, :git_sha1, :sha256, :key, :state, :now)
ON CONFLICT (sync_id, path) DO NOTHING;

-- name: reopen_sync
-- A sync that got new work is not finished (nor cancelled) any more.
UPDATE syncs SET finished_at = NULL, cancelled = FALSE WHERE id = :sync_id;

-- name: sync_exists
-- Whether a sync exists (to tell "no such sync" from "nothing matched").
SELECT id FROM syncs WHERE id = :sync_id;

-- name: syncs
-- Syncs newest first with their totals; :before pages (exclusive), -1 for none.
SELECT s.id, s.repo_type, s.repo_id, s.revision, s.commit_sha, s.destination,
       s.created_at, s.finished_at, s.cancelled,
       count(j.id) AS files,
       coalesce(sum(j.size), 0) AS bytes_total,
       coalesce(sum(CASE WHEN j.state IN ('done', 'skipped') THEN j.size ELSE 0 END), 0)
           AS bytes_done
FROM syncs s LEFT JOIN jobs j ON j.sync_id = s.id
WHERE (:sync_id IS NULL OR s.id = :sync_id) AND (:before IS NULL OR s.id < :before)
GROUP BY s.id
ORDER BY s.id DESC
LIMIT :limit;

-- name: finish_sync
-- Stamp the end of a sync.
UPDATE syncs SET finished_at = :now WHERE id = :sync_id;

-- name: cancel_sync
-- Mark a sync cancelled and finished (cancel_jobs settles its jobs in the same transaction).
UPDATE syncs SET cancelled = TRUE, finished_at = coalesce(finished_at, :now) WHERE id = :sync_id;

-- name: cancel_jobs
-- Pending and running jobs of a cancelled sync: cancelled, and a running one's lease is gone.
UPDATE jobs
SET state = 'cancelled', lease_token = NULL, lease_expires = NULL, updated_at = :now
WHERE sync_id = :sync_id AND state IN ('pending', 'running');

-- name: requeue_failed
-- Dead letters back to the queue with a fresh attempt count; the last error stays until the next attempt.
UPDATE jobs
SET state = 'pending', attempts = 0, not_before = :now, updated_at = :now
WHERE sync_id = :sync_id AND state = 'failed';

-- name: finished_syncs
-- The finished syncs of a destination, newest first (prune keeps the first :keep of them).
SELECT id FROM syncs
WHERE destination = :destination AND finished_at IS NOT NULL
ORDER BY id DESC;

-- name: delete_sync_jobs
-- Forget the jobs of a pruned sync (explicit: do not depend on the FK pragma).
DELETE FROM jobs WHERE sync_id = :sync_id;

-- name: delete_sync
-- Forget a pruned sync.
DELETE FROM syncs WHERE id = :sync_id;

-- name: claim_order
-- Syncs with open jobs, the one claimed from least recently first (fair across syncs).
SELECT s.id, s.destination, s.created_at
FROM syncs s
WHERE (:sync_id IS NULL OR s.id = :sync_id)
  AND EXISTS (
      SELECT 1 FROM jobs j WHERE j.sync_id = s.id AND j.state IN ('pending', 'running')
  )
ORDER BY s.last_claim, s.id;

-- name: claimable
-- The first job of a sync in :state that may run now (pending: not_before passed; running: lease expired), whose object no live lease of another job holds.
SELECT j.id, j.key, j.git_sha1, j.size
FROM jobs j
WHERE j.sync_id = :sync_id AND j.state = :state
  AND (CASE WHEN :state = 'pending' THEN j.not_before ELSE j.lease_expires END) <= :now
  AND NOT EXISTS (
      SELECT 1 FROM jobs o JOIN syncs os ON os.id = o.sync_id
      WHERE o.key = j.key AND o.id <> j.id AND o.state = 'running'
        AND o.lease_expires > :now AND os.destination = :destination
  )
ORDER BY j.id
LIMIT 1;

-- name: published_since
-- Did a job of another sync publish this very content (same key, blob and size) into this destination after this sync was planned?
SELECT 1 FROM jobs o JOIN syncs os ON os.id = o.sync_id
WHERE o.key = :key AND o.state = 'done' AND o.id <> :job_id
  AND o.git_sha1 = :git_sha1 AND o.size = :size
  AND os.destination = :destination AND o.updated_at >= :planned_at
LIMIT 1;

-- name: lease_job
-- Lease a job to a worker: running, attempts + 1, a new token (the old holder's calls now fail).
UPDATE jobs
SET state = 'running', attempts = attempts + 1, worker = :worker, lease_token = :token,
    lease_expires = :expires, updated_at = :now
WHERE id = :job_id
RETURNING id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker;

-- name: touch_sync
-- This sync was just claimed from: it goes to the back of the fair-claim order.
UPDATE syncs SET last_claim = (SELECT max(last_claim) FROM syncs) + 1 WHERE id = :sync_id;

-- name: next_due
-- When the earliest open job of a sync may be claimed (pending: not_before; running: lease end), and how many are open.
SELECT min(CASE WHEN state = 'pending' THEN not_before ELSE lease_expires END) AS due,
       count(*) AS open
FROM jobs
WHERE sync_id = :sync_id AND state IN ('pending', 'running');

-- name: held_elsewhere
-- Due pending jobs of a sync whose object a live lease of another sync's job holds, with that holder.
SELECT j.id, j.sync_id, j.path, j.size, j.git_sha1, j.sha256, j.key, j.state, j.attempts,
       j.error, j.worker, o.worker AS holder
FROM jobs j
JOIN syncs s ON s.id = j.sync_id
JOIN jobs o ON o.key = j.key AND o.id <> j.id
JOIN syncs os ON os.id = o.sync_id AND os.destination = s.destination
WHERE j.sync_id = :sync_id AND j.state = 'pending' AND j.not_before <= :now
  AND o.state = 'running' AND o.lease_expires > :now
ORDER BY j.id;

-- name: renew
-- Extend a live lease; matches nothing if the token no longer holds the job.
UPDATE jobs SET lease_expires = :expires
WHERE id = :job_id AND state = 'running' AND lease_token = :token;

-- name: finish_job
-- A leased job is now done or skipped; matches nothing if the token no longer holds it.
UPDATE jobs
SET state = :state, error = NULL, lease_token = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :job_id AND state = 'running' AND lease_token = :token;

-- name: fail_job
-- A failed attempt of a leased job: pending again after :not_before, or failed (kept with its error).
UPDATE jobs
SET state = :state, error = :error, not_before = :not_before,
    lease_token = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :job_id AND state = 'running' AND lease_token = :token;

-- name: release_job
-- Give a leased job back untried: pending now, this attempt not counted.
UPDATE jobs
SET state = 'pending', attempts = attempts - 1, not_before = :now,
    lease_token = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :job_id AND state = 'running' AND lease_token = :token;

-- name: job
-- One job.
SELECT id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker
FROM jobs WHERE id = :job_id;

-- name: jobs
-- Jobs of a sync in plan order, of one state or all (:state NULL), ids above :after; :limit -1 for all.
SELECT id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker
FROM jobs
WHERE sync_id = :sync_id AND (:state IS NULL OR state = :state) AND id > :after
ORDER BY id
LIMIT :limit;

-- name: counts
-- How many jobs of a sync are in each state (states with none are absent).
SELECT state, count(*) AS n FROM jobs WHERE sync_id = :sync_id GROUP BY state;

-- name: upload
-- The unfinished multipart upload recorded for an object.
SELECT upload_id, part_size, identity FROM uploads
WHERE destination = :destination AND key = :key;

-- name: upload_parts
-- Its finished parts, in part-number order (they are recorded in whatever order they finish).
SELECT number, size, etag, checksum, hash_state FROM parts
WHERE destination = :destination AND key = :key
ORDER BY number;

-- name: upsert_upload
-- Record (or replace) the upload of an object; its old parts are deleted by delete_parts first.
INSERT INTO uploads (destination, key, upload_id, part_size, identity, created_at)
VALUES (:destination, :key, :upload_id, :part_size, :identity, :now)
ON CONFLICT (destination, key) DO UPDATE
SET upload_id = excluded.upload_id,
    part_size = excluded.part_size,
    identity = excluded.identity,
    created_at = excluded.created_at;

-- name: upsert_part
-- Record a finished part, replacing one with the same number; matches nothing without an upload.
INSERT INTO parts (destination, key, number, size, etag, checksum, hash_state)
SELECT :destination, :key, :number, :size, :etag, :checksum, :hash_state
FROM uploads
WHERE destination = :destination AND key = :key
ON CONFLICT (destination, key, number) DO UPDATE
SET size = excluded.size, etag = excluded.etag, checksum = excluded.checksum,
    hash_state = excluded.hash_state;

-- name: delete_parts
-- Drop every recorded part of an object's upload.
DELETE FROM parts WHERE destination = :destination AND key = :key;

-- name: delete_upload
-- Drop an object's upload record (its parts go with it: ON DELETE CASCADE).
DELETE FROM uploads WHERE destination = :destination AND key = :key;
