"""Benchmarks that print comparable figures: python -m bench."""
