"""The HTTP API: thin handlers over the predictions service, in Replicate's wire format."""
