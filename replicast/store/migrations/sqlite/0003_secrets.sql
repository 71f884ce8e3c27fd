-- The values of Secret inputs, kept apart from `input` (which shows them masked)
-- until the prediction finishes, then deleted.
ALTER TABLE predictions ADD COLUMN secrets TEXT;
