"""Output files: storage backends and URLs."""
