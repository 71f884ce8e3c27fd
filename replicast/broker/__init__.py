"""The broker seam: queues of prediction ids and each prediction's event channel."""
