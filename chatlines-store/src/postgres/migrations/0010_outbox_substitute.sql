-- chatlines PostgreSQL schema: what a connector sent in place of an
-- outbound message as written (e.g. an approved WhatsApp template when the
-- customer-service window was closed), described for the operator; NULL
-- when the message went out as written.
ALTER TABLE outbox ADD COLUMN sent_substitute text;
