"""The worker: runs queued predictions and records their outcome."""
