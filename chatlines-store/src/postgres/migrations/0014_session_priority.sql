-- chatlines PostgreSQL schema: each session's priority (0 low … 3
-- urgent; 1 normal for every session before), and the index waiting
-- sessions are served from: highest priority first, then oldest.
ALTER TABLE sessions ADD COLUMN priority smallint NOT NULL DEFAULT 1
    CHECK (priority BETWEEN 0 AND 3);
CREATE INDEX sessions_serving ON sessions (line, status, priority DESC, opened_ns, ord)
    WHERE status IN ('queued', 'offered');
