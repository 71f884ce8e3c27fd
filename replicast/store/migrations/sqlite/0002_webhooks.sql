-- Webhooks: a signing secret per account, and the outbox of deliveries with
-- every attempt made.
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT;

CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    prediction_id    TEXT NOT NULL REFERENCES predictions (id),
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    event            TEXT NOT NULL,
    url              TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    retry_until      TEXT,
    finished_at      TEXT
);

-- Pending deliveries, by when they are due (or when their claim lapses).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_prediction ON webhook_deliveries (prediction_id, seq);

CREATE TABLE webhook_attempts (
    delivery_seq  INTEGER NOT NULL REFERENCES webhook_deliveries (seq),
    number        INTEGER NOT NULL,
    started_at    TEXT NOT NULL,
    duration_ms   REAL NOT NULL,
    status_code   INTEGER,
    error         TEXT,
    PRIMARY KEY (delivery_seq, number)
);
