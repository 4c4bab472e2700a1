-- chatlines PostgreSQL schema, version 4: a claim takes only the head of
-- each chat, its oldest pending outbox entry (by `ord`, the write order), so
-- replies to one chat reach the messenger in the order they were written.
-- This index answers "is there an older pending entry of this chat" with
-- one seek; finished entries are not in it.
CREATE INDEX outbox_chat_pending ON outbox (source, address, ord) WHERE status = 'pending';
