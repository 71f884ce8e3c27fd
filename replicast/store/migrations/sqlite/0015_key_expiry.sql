-- A key may expire: those the command line makes for itself stop working even when the
-- command is killed before it can revoke them.
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
