-- A finished prediction keeps no Secret values: they are cleared by the statement that
-- finishes it, whatever statement that is, so that a status change without webhook
-- deliveries is one statement, which commits on its own (no BEGIN, no COMMIT).
-- RETURNING reads the row, and its secrets, before AFTER triggers run: the store still
-- learns that there were secrets, and empties the WAL of them.
CREATE TRIGGER prediction_secrets_cleared AFTER UPDATE OF status ON predictions
    WHEN new.input = '' AND new.status IN ('succeeded', 'failed', 'canceled', 'aborted') BEGIN
    UPDATE prediction_inputs SET secrets = NULL
        WHERE prediction_id = new.id AND secrets IS NOT NULL;
END;
