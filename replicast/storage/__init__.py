"""Where output files and uploads live when not in the data folder: an S3-compatible bucket."""
