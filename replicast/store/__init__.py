"""The store seam: durable state, with one backend per database."""
