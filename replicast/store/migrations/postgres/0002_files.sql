-- Uploaded files (the Files API): one row per file, its bytes in <data dir>/files/<id>.
CREATE TABLE files (
    id            TEXT PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    md5           TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    base_url      TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ
);

CREATE INDEX files_by_account ON files (account_id, created_at DESC, id DESC);
-- What the sweep of expired files looks through.
CREATE INDEX files_by_expiry ON files (expires_at) WHERE expires_at IS NOT NULL;
