import logging

from replicast.accounts.service import Accounts
from replicast.app import _bootstrap_tokens
from replicast.config import Settings
from replicast.store.sqlite.store import SQLiteStore


async def test_a_later_start_says_how_to_make_another_token(tmp_path, caplog):
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    try:
        accounts, settings = Accounts(store.accounts), Settings(data_dir=tmp_path)
        announced: list[str] = []
        with caplog.at_level(logging.INFO, logger="replicast"):
            await _bootstrap_tokens(settings, accounts, announced.append)
            assert len(announced) == 1 and "REPLICATE_API_TOKEN=r8_" in announced[0]
            assert "replicast keys create" not in caplog.text
            await _bootstrap_tokens(settings, accounts, announced.append)
        assert len(announced) == 1  # the token is shown once only
        (hint,) = [r.getMessage() for r in caplog.records if "keys create" in r.getMessage()]
        assert hint == ("API tokens are shown only when made; "
                        "`replicast keys create` makes another")
    finally:
        await store.close()
