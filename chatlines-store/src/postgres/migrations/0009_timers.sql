-- chatlines PostgreSQL schema: durable timers, one per (session, kind),
-- written in the transaction of the session change that arms them. Claims
-- read the due index with FOR UPDATE SKIP LOCKED, so their cost follows the
-- number of due timers, never the number of sessions.
CREATE TABLE timers (
    session       uuid NOT NULL,
    kind          text NOT NULL,
    line          uuid NOT NULL,
    due_ns        bigint NOT NULL,
    armed_version bigint NOT NULL CHECK (armed_version >= 0),
    lease_token   uuid,
    lease_ns      bigint,
    PRIMARY KEY (session, kind)
);
CREATE INDEX timers_due ON timers (due_ns);
