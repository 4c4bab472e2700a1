-- The indexes of the operator and supervisor lists.

-- Offered sessions of every line a user is eligible on.
CREATE INDEX roster_by_user ON roster (user_id, line) WHERE eligible;
-- A line's open sessions in list order.
CREATE INDEX sessions_open_by_line ON sessions (line, opened_ns, ord) WHERE status <> 'closed';
-- A session's last client and operator message.
CREATE INDEX messages_by_direction ON messages (session, direction, seq);
