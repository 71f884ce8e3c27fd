-- Web page sign-ins, kept here so that signing out ends them for good: the cookie holds
-- a random id, of which only the SHA-256 is kept (reading the database gives no cookie).
CREATE TABLE web_sessions (
    id_hash text PRIMARY KEY,
    key_digest text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
