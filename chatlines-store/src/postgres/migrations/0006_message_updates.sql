-- chatlines PostgreSQL schema: messenger updates to stored messages.
--
-- What edits, revokes, reactions and delivery statuses left on a message
-- (core's MessageState as JSON; no row: nothing happened to it), and the
-- index that finds an outbound message by the id its messenger gave it.

CREATE TABLE message_states (
    message uuid PRIMARY KEY REFERENCES messages (id),
    state   jsonb NOT NULL
);

CREATE INDEX outbox_sent_external ON outbox (source, sent_external_id) WHERE status = 'sent';
