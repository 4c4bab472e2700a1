-- chatlines PostgreSQL schema: the media queue.
--
-- One fetch job per pending inbound attachment, written in the ingest
-- transaction of its message; claimed under a lease (FOR UPDATE SKIP
-- LOCKED) and finished by the lease holder together with the message's
-- attachment and its event.

CREATE TABLE media_jobs (
    message          uuid NOT NULL,
    idx              integer NOT NULL CHECK (idx >= 0),
    session          uuid NOT NULL,
    source           uuid NOT NULL,
    remote           text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts         integer NOT NULL CHECK (attempts >= 0),
    next_attempt_ns  bigint NOT NULL,
    lease_token      uuid,
    lease_until_ns   bigint,
    last_error       text,
    created_ns       bigint NOT NULL,
    ord              bigserial NOT NULL,
    PRIMARY KEY (message, idx)
);
CREATE INDEX media_jobs_due ON media_jobs (next_attempt_ns, ord) WHERE status = 'pending';
