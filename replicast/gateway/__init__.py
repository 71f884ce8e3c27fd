"""Gateway mode: models routed to an upstream Replicate-compatible provider.

``routing.py`` reads the routes file, ``client.py`` speaks to an upstream,
``runner.py`` runs one routed prediction there, ``gateway.py`` (``Gateway``) turns a
routed name into a ``Model`` (its schema fetched from the upstream and cached).
"""
