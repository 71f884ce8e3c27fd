"""``bench.transactions`` runs the store's own statements on every variant it compares."""

from __future__ import annotations

from bench import transactions


def test_each_variant_commits_a_prediction_and_an_index_less_writes_fewer_pages(tmp_path):
    frames = {}
    for number, variant in enumerate(transactions.VARIANTS):
        folder = tmp_path / str(number)
        folder.mkdir()
        connection = transactions.open_database(folder, variant)
        try:
            assert len(transactions.run(connection, variant, 20)) == 20
            assert connection.execute(
                "SELECT count(*) FROM predictions WHERE status = 'succeeded'").fetchone() == (20,)
            assert not connection.in_transaction
            frames[variant.name] = transactions.frames_a_prediction(folder, connection, variant,
                                                                   count=20)
        finally:
            connection.close()
    current = frames["current schema, autocommit"]
    assert current > 10  # the row, its indexes and its counts, twice
    assert frames["without predictions_by_lease"] < current
    assert frames["without the stream token's unique index"] < current
