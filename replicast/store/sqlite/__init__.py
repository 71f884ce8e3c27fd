"""The SQLite backend: ``store.py`` opens the file and composes the repositories, one
module each (``predictions.py``, ``runs.py``, ``outbox.py``, ``files.py``,
``accounts.py``, ``sessions.py``); ``access.py`` is how calls reach the database
(inline or on ``thread.py``'s threads)."""
