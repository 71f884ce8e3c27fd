-- A waiting prediction's estimated start reads its model's latest successful runs.
CREATE INDEX predictions_runs_by_model ON predictions (model, completed_at)
    WHERE status = 'succeeded';
