-- Large inputs (past 1024 bytes of JSON: sql.INLINE_INPUT_BYTES), and the values of Secret
-- inputs, in a table of their own, written once at the create, the predictions row holding
-- '' instead. SQLite rewrites a whole row, overflow pages included, on any UPDATE: kept in
-- the predictions row, a large input was written again at every status, log and output
-- update. Retention deletes the row; the terminal status clears `secrets`.
CREATE TABLE prediction_inputs (
    prediction_id  TEXT PRIMARY KEY REFERENCES predictions (id),
    input          TEXT NOT NULL,
    secrets        TEXT
);

INSERT INTO prediction_inputs (prediction_id, input, secrets)
    SELECT id, input, secrets FROM predictions WHERE data_removed = 0
    AND (secrets IS NOT NULL OR length(CAST(input AS BLOB)) > 1024);

UPDATE predictions SET input = '' WHERE id IN (SELECT prediction_id FROM prediction_inputs);

ALTER TABLE predictions DROP COLUMN secrets;
