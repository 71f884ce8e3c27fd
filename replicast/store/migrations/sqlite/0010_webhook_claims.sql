-- Who claimed a delivery for an attempt (a process's dispatcher), until the attempt is
-- recorded: claims abandoned by a stop, or by a crash of the process that owns the
-- database alone, are released at once instead of lapsing.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
