-- The API prefix a prediction was created under (/v1 or /replicate/v1), which its
-- webhooks' URLs name.
ALTER TABLE predictions ADD COLUMN api_prefix TEXT NOT NULL DEFAULT '/v1';
