"""Replicast: a self-hosted server for Replicate's HTTP prediction API."""

__version__ = "0.1.0"

__all__ = ["__version__"]
