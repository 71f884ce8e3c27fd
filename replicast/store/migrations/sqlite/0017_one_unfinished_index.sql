-- Every write of a prediction's status rewrote two partial indexes of the unfinished
-- predictions: a page, one more WAL frame, per commit. The account's index alone
-- serves both its count and the listing of every unfinished prediction (few: they
-- are the queue and what runs), which sorts them by itself.
DROP INDEX predictions_unfinished;
