-- Counts kept as rows change, so that a model's run_count and /metrics read a few rows
-- instead of counting every prediction and webhook delivery on each request.
--
-- Triggers append each change to a log (+1 for the new state, -1 for the old) rather than
-- update a count: an update would lock the count's row until the transaction ends, making
-- every create of a model wait for the one before, and two transactions that change
-- statuses in opposite directions could deadlock on two such rows. A reader sums the
-- counts and the log; each process folds the log into the counts every second or so,
-- one process at a time (replicast/store/postgres/counts.py).
-- No process may change a prediction or a delivery between the counts below and the
-- triggers that keep them (a process of the previous version, during a rolling deploy):
-- its change would be in neither. Held until the migration's transaction commits.
LOCK TABLE predictions, webhook_deliveries IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE prediction_counts (
    model   TEXT NOT NULL,
    status  TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (model, status)
);

CREATE TABLE prediction_count_changes (
    model   TEXT NOT NULL,
    status  TEXT NOT NULL,
    delta   INTEGER NOT NULL
);

INSERT INTO prediction_counts (model, status, n)
    SELECT model, status, count(*) FROM predictions GROUP BY model, status;

CREATE FUNCTION prediction_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO prediction_count_changes VALUES (NEW.model, NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO prediction_count_changes VALUES (OLD.model, OLD.status, -1);
    ELSE
        INSERT INTO prediction_count_changes VALUES
            (OLD.model, OLD.status, -1), (NEW.model, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER prediction_counts_insert_delete AFTER INSERT OR DELETE ON predictions
    FOR EACH ROW EXECUTE FUNCTION prediction_count_change();

CREATE TRIGGER prediction_counts_update AFTER UPDATE OF model, status ON predictions
    FOR EACH ROW WHEN (OLD.model IS DISTINCT FROM NEW.model
                       OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION prediction_count_change();

CREATE TABLE delivery_counts (
    state   TEXT PRIMARY KEY,
    n       BIGINT NOT NULL
);

CREATE TABLE delivery_count_changes (
    state   TEXT NOT NULL,
    delta   INTEGER NOT NULL
);

INSERT INTO delivery_counts (state, n)
    SELECT state, count(*) FROM webhook_deliveries GROUP BY state;

CREATE FUNCTION delivery_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO delivery_count_changes VALUES (NEW.state, 1);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO delivery_count_changes VALUES (OLD.state, -1);
    ELSE
        INSERT INTO delivery_count_changes VALUES (OLD.state, -1), (NEW.state, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER delivery_counts_insert_delete AFTER INSERT OR DELETE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION delivery_count_change();

CREATE TRIGGER delivery_counts_update AFTER UPDATE OF state ON webhook_deliveries
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION delivery_count_change();

-- Nothing looks predictions up by model alone any more (the queue's lookups have
-- predictions_waiting, the run estimates predictions_runs_by_model): one index less
-- for every create to write.
DROP INDEX predictions_by_model;
