-- Workers in other processes: who runs a prediction, and until when its claim holds.
ALTER TABLE predictions ADD COLUMN worker_id TEXT;
ALTER TABLE predictions ADD COLUMN lease_until TEXT;

CREATE INDEX predictions_by_lease ON predictions (lease_until) WHERE status = 'processing';
CREATE INDEX predictions_waiting ON predictions (model, created_at) WHERE status = 'starting';
CREATE INDEX predictions_by_deadline ON predictions (deadline)
    WHERE deadline IS NOT NULL AND status IN ('starting', 'processing');

CREATE TABLE workers (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    models        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL
);
