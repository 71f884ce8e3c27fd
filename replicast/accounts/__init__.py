"""Accounts: the records and token helpers (``account.py``), and the service that
authenticates tokens and makes keys (``service.py``)."""
