-- Secrets of the server itself (the key output URLs are signed with), shared by every
-- process on this database.
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- API predictions whose data is still there, by when they finished: what the
-- retention sweep looks through.
CREATE INDEX predictions_retained ON predictions (completed_at)
    WHERE NOT data_removed AND source = 'api' AND completed_at IS NOT NULL;
