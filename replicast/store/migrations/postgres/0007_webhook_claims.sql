-- Who claimed a delivery for an attempt (a process's dispatcher), until the attempt is
-- recorded: a process that stops releases its claims at once instead of letting them
-- lapse.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
