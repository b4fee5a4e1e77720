-- The state schema data4r2 0.1 (schema version 1) created, copied verbatim from its
-- src/data4r2/state/sql/sqlite.sql, plus rows as that version wrote them: the v1 -> v2
-- upgrade test opens a file built from this.
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

INSERT INTO syncs VALUES
    (1, 'model', 'org/model', 'main', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 's3://bucket/mirror',
     '2026-11-30T10:00:00.000Z', '2026-11-30T10:05:00.500Z'),
    (2, 'dataset', 'org/data', 'v1', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 's3://bucket/mirror',
     '2026-12-01T09:00:00.000Z', NULL);

INSERT INTO jobs (id, sync_id, path, size, git_sha1, sha256, key, state, attempts, error, worker, updated_at) VALUES
    (1, 1, 'config.json', 10, '1111111111111111111111111111111111111111', NULL, 'models/org/model/config.json', 'done', 1, NULL, 'local', '2026-11-30T10:01:00.000Z'),
    (2, 1, 'model.bin', 300, '2222222222222222222222222222222222222222', 'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc', 'models/org/model/model.bin', 'failed', 4, 'sha256 mismatch', 'local', '2026-11-30T10:04:00.000Z'),
    (3, 2, 'train.parquet', 5000, '3333333333333333333333333333333333333333', 'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd', 'datasets/org/data/train.parquet', 'running', 1, NULL, 'local', '2026-12-01T09:01:00.000Z'),
    (4, 2, 'README.md', 20, '4444444444444444444444444444444444444444', NULL, 'datasets/org/data/README.md', 'pending', 0, NULL, NULL, '2026-12-01T09:00:00.000Z');

INSERT INTO uploads VALUES
    ('s3://bucket/mirror', 'datasets/org/data/train.parquet', 'up-1', 5242880,
     'dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd', '2026-12-01T09:01:00.000Z');
INSERT INTO parts VALUES
    ('s3://bucket/mirror', 'datasets/org/data/train.parquet', 1, 5242880, '"e1"', 'c1=='),
    ('s3://bucket/mirror', 'datasets/org/data/train.parquet', 2, 5242880, '"e2"', 'c2==');
