"""Where the API is served: every route under both prefixes, so that the official
clients work with a base URL of the server's root or of ``<root>/replicate``."""

API_PREFIXES = ("/v1", "/replicate/v1")
