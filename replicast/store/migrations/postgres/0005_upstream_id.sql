-- Gateway mode: a routed prediction's id at its upstream, kept from the moment it is
-- created there, so that a restarted run follows it rather than creating another.
ALTER TABLE predictions ADD COLUMN upstream_id TEXT;
