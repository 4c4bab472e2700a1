-- chatlines PostgreSQL schema: the messenger's send time of an inbound
-- message (nanoseconds since the epoch, like every stored time; NULL when
-- the messenger gave none). The batch ingest function does not know the
-- column: the store sets it in the same transaction, right after the
-- function stored the batch.
ALTER TABLE messages ADD COLUMN sent_ns bigint;
