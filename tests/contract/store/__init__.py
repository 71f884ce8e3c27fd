"""The store's contract, one module per repository, each run against every backend."""
