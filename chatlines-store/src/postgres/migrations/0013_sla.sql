-- chatlines PostgreSQL schema: service levels. A session's SLA clocks
-- (SessionSla as JSON, NULL on lines without targets), and the breaches
-- kept for reports, read per line and period of due time.
ALTER TABLE sessions ADD COLUMN sla jsonb;
CREATE TABLE sla_breaches (
    session     uuid NOT NULL,
    target      text NOT NULL,               -- SlaTarget::name
    due_ns      bigint NOT NULL,
    line        uuid NOT NULL,
    contact     uuid NOT NULL,
    breached_ns bigint NOT NULL,
    operator    text,
    PRIMARY KEY (session, target, due_ns)
);
CREATE INDEX sla_breaches_line_due ON sla_breaches (line, due_ns, session, target);
