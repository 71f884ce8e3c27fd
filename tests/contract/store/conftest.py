"""What the store's contract tests share, besides the backends' ``store`` fixtures
(``tests/contract/conftest.py``)."""

from __future__ import annotations

import pytest


@pytest.fixture
async def account(store):
    """An account to own what a test stores."""
    return await store.accounts.ensure_account("alice")
