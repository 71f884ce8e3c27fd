"""What the API and the pages share of HTTP: JSON and problem responses (``responses``),
the one table from errors to problems (``problems``), request bodies (``body``) and
uploads (``uploads``), and the rate limits (``ratelimits``)."""
