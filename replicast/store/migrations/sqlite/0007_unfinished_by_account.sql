-- An account's unfinished predictions, counted at every create when
-- REPLICAST_MAX_UNFINISHED_PREDICTIONS is set, without walking other accounts'.
CREATE INDEX predictions_unfinished_by_account ON predictions (account_id)
    WHERE status IN ('starting', 'processing');
