-- name: configure
-- Per-connection settings: WAL so readers (data4r2 verify) never block the writer, NORMAL sync (see sqlite.py), FK checks on.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;

-- name: schema
-- Schema version 1; IF NOT EXISTS so two processes creating a fresh file at once both succeed.
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY,
    repo_type TEXT NOT NULL,
    repo_id TEXT NOT NULL,
    revision TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    destination TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT
);

CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    sync_id INTEGER NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    git_sha1 TEXT NOT NULL,
    sha256 TEXT,
    key TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'running', 'done', 'skipped', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker TEXT,
    updated_at TEXT NOT NULL
);

-- claim() looks for the first pending job of a sync, counts() groups by state.
CREATE INDEX IF NOT EXISTS jobs_by_sync_state ON jobs (sync_id, state, id);

CREATE TABLE IF NOT EXISTS uploads (
    destination TEXT NOT NULL,
    key TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    identity TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (destination, key)
);

CREATE TABLE IF NOT EXISTS parts (
    destination TEXT NOT NULL,
    key TEXT NOT NULL,
    number INTEGER NOT NULL CHECK (number >= 1),
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (destination, key, number),
    FOREIGN KEY (destination, key) REFERENCES uploads (destination, key) ON DELETE CASCADE
);

PRAGMA user_version = 1;

-- name: user_version
-- The schema version this file was created with (0 for a brand-new file).
PRAGMA user_version;

-- name: insert_sync
-- One row per run: what was mirrored, at which commit, to where.
INSERT INTO syncs (repo_type, repo_id, revision, commit_sha, destination, created_at)
VALUES (:repo_type, :repo_id, :revision, :commit_sha, :destination,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
RETURNING id;

-- name: insert_job
-- One job per planned file; up-to-date files arrive with state 'skipped'.
INSERT INTO jobs (sync_id, path, size, git_sha1, sha256, key, state, updated_at)
VALUES (:sync_id, :path, :size, :git_sha1, :sha256, :key, :state,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- name: claim
-- Hand out the first pending job of a sync in plan order: attempts + 1, state running.
UPDATE jobs
SET state = 'running',
    attempts = attempts + 1,
    worker = :worker,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = (
    SELECT id FROM jobs
    WHERE sync_id = :sync_id AND state = 'pending'
    ORDER BY id
    LIMIT 1
)
RETURNING id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error;

-- name: finish_job
-- A running job is now done or skipped; matches nothing if the job is not running.
UPDATE jobs
SET state = :state, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = :job_id AND state = 'running';

-- name: fail_job
-- Record a failed attempt of a running job: pending again to retry, else failed; the error is kept.
UPDATE jobs
SET state = CASE WHEN :retry THEN 'pending' ELSE 'failed' END,
    error = :error,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE id = :job_id AND state = 'running'
RETURNING state;

-- name: job_state
-- The state of one job, to explain why an update matched nothing.
SELECT state FROM jobs WHERE id = :job_id;

-- name: jobs
-- Every job of a sync in plan order.
SELECT id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error
FROM jobs
WHERE sync_id = :sync_id
ORDER BY id;

-- name: counts
-- How many jobs of a sync are in each state (states with none are absent).
SELECT state, count(*) AS n FROM jobs WHERE sync_id = :sync_id GROUP BY state;

-- name: finish_sync
-- Stamp the end of a run.
UPDATE syncs SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = :sync_id;

-- name: upload
-- The unfinished multipart upload recorded for an object.
SELECT upload_id, part_size, identity FROM uploads
WHERE destination = :destination AND key = :key;

-- name: upload_parts
-- Its finished parts, in part-number order (they are recorded in whatever order they finish).
SELECT number, size, etag, checksum FROM parts
WHERE destination = :destination AND key = :key
ORDER BY number;

-- name: upsert_upload
-- Record (or replace) the upload of an object; its old parts are deleted by delete_parts first.
INSERT INTO uploads (destination, key, upload_id, part_size, identity, created_at)
VALUES (:destination, :key, :upload_id, :part_size, :identity,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (destination, key) DO UPDATE
SET upload_id = excluded.upload_id,
    part_size = excluded.part_size,
    identity = excluded.identity,
    created_at = excluded.created_at;

-- name: upsert_part
-- Record a finished part, replacing one with the same number; matches nothing without an upload.
INSERT INTO parts (destination, key, number, size, etag, checksum)
SELECT :destination, :key, :number, :size, :etag, :checksum
FROM uploads
WHERE destination = :destination AND key = :key
ON CONFLICT (destination, key, number) DO UPDATE
SET size = excluded.size, etag = excluded.etag, checksum = excluded.checksum;

-- name: delete_parts
-- Drop every recorded part of an object's upload.
DELETE FROM parts WHERE destination = :destination AND key = :key;

-- name: delete_upload
-- Drop an object's upload record (its parts go with it: ON DELETE CASCADE).
DELETE FROM uploads WHERE destination = :destination AND key = :key;
