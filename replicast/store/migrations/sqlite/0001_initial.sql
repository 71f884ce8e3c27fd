-- Accounts, API keys and predictions.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    username    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    token_hash  TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Timestamps are fixed-width RFC 3339 strings, so they sort as instants.
-- JSON columns hold the JSON text of the value ('null' for null).
CREATE TABLE predictions (
    id                     TEXT PRIMARY KEY,
    account_id             INTEGER NOT NULL REFERENCES accounts (id),
    model                  TEXT NOT NULL,
    version                TEXT NOT NULL,
    input                  TEXT NOT NULL,
    status                 TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    base_url               TEXT NOT NULL,
    stream_token           TEXT NOT NULL UNIQUE,
    source                 TEXT NOT NULL,
    output                 TEXT NOT NULL DEFAULT 'null',
    logs                   TEXT NOT NULL DEFAULT '',
    error                  TEXT,
    started_at             TEXT,
    completed_at           TEXT,
    deadline               TEXT,
    metrics                TEXT NOT NULL DEFAULT '{}',
    webhook                TEXT,
    webhook_events_filter  TEXT,
    data_removed           INTEGER NOT NULL DEFAULT 0,
    attempt                INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX predictions_by_account ON predictions (account_id, created_at DESC, id DESC);
CREATE INDEX predictions_unfinished ON predictions (created_at)
    WHERE status IN ('starting', 'processing');
CREATE INDEX predictions_by_model ON predictions (model);
