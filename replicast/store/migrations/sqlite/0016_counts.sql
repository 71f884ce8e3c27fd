-- Counts kept as rows change, so that a model's run_count and /metrics read a few rows
-- instead of counting every prediction and webhook delivery on each request. Triggers
-- keep them in the same transaction as the change, whatever statement makes it.
CREATE TABLE prediction_counts (
    model   TEXT NOT NULL,
    status  TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (model, status)
) WITHOUT ROWID;

INSERT INTO prediction_counts (model, status, n)
    SELECT model, status, count(*) FROM predictions GROUP BY model, status;

CREATE TRIGGER prediction_counts_insert AFTER INSERT ON predictions BEGIN
    INSERT INTO prediction_counts (model, status, n) VALUES (new.model, new.status, 1)
        ON CONFLICT (model, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER prediction_counts_update AFTER UPDATE OF model, status ON predictions
    WHEN old.model IS NOT new.model OR old.status IS NOT new.status BEGIN
    UPDATE prediction_counts SET n = n - 1 WHERE model = old.model AND status = old.status;
    INSERT INTO prediction_counts (model, status, n) VALUES (new.model, new.status, 1)
        ON CONFLICT (model, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER prediction_counts_delete AFTER DELETE ON predictions BEGIN
    UPDATE prediction_counts SET n = n - 1 WHERE model = old.model AND status = old.status;
END;

CREATE TABLE delivery_counts (
    state   TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO delivery_counts (state, n)
    SELECT state, count(*) FROM webhook_deliveries GROUP BY state;

CREATE TRIGGER delivery_counts_insert AFTER INSERT ON webhook_deliveries BEGIN
    INSERT INTO delivery_counts (state, n) VALUES (new.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER delivery_counts_update AFTER UPDATE OF state ON webhook_deliveries
    WHEN old.state IS NOT new.state BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE state = old.state;
    INSERT INTO delivery_counts (state, n) VALUES (new.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER delivery_counts_delete AFTER DELETE ON webhook_deliveries BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE state = old.state;
END;

-- Nothing looks predictions up by model alone any more (the queue's lookups have
-- predictions_waiting, the run estimates predictions_runs_by_model): one index less
-- for every create to write.
DROP INDEX predictions_by_model;
