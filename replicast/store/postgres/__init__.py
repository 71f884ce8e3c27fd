"""The PostgreSQL backend: ``store.py`` connects, migrates and composes the repositories,
one module each (``predictions.py``, ``runs.py``, ``outbox.py``, ``files.py``,
``accounts.py``, ``sessions.py``); ``access.py`` is the pool and its errors."""
