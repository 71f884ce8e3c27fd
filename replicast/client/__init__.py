"""The client side of the ``replicast`` command: ``run`` and ``predictions``.

It speaks the same HTTP API as the official clients, to a server given by URL or to
one started inside the command on the local data folder.

- ``connection.py``: requests, uploads, downloads, event streams; ``ClientError``
- ``events.py``: Server-Sent Events; ``follow.py``: following a prediction to its end
- ``inputs.py``: ``-i key=value`` into a model's input, typed by its schema
- ``progress.py``: progress read from log lines; ``display.py``: what a person sees
- ``saving.py``: output files, never written over an existing one
- ``local.py``: Replicast in this process, when no server is given
- ``run.py``: ``replicast run``; ``predictions.py``: ``replicast predictions``
"""

from replicast.client.connection import ClientError, Connection

__all__ = ["ClientError", "Connection"]
