"""Uploaded files (the Files API): the record, the bytes on disk, signed download URLs,
and the service the API and the worker use."""
