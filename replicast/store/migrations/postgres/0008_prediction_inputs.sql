-- Large inputs (past 1024 bytes of JSON: sql.INLINE_INPUT_BYTES), and the values of Secret
-- inputs, in a table of their own, written once at the create, the predictions row holding
-- '' instead, as in SQLite (where an UPDATE rewrites the whole row, so that a large input
-- was written again at every status, log and output update). Retention deletes the row;
-- the terminal status clears `secrets`.
CREATE TABLE prediction_inputs (
    prediction_id  TEXT PRIMARY KEY REFERENCES predictions (id),
    input          TEXT NOT NULL,
    secrets        TEXT
);

INSERT INTO prediction_inputs (prediction_id, input, secrets)
    SELECT id, input, secrets FROM predictions WHERE NOT data_removed
    AND (secrets IS NOT NULL OR octet_length(input) > 1024);

UPDATE predictions SET input = '' WHERE id IN (SELECT prediction_id FROM prediction_inputs);

ALTER TABLE predictions DROP COLUMN secrets;
