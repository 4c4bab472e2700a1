-- chatlines PostgreSQL schema: each operator's consecutive lapses of the
-- accept timeout on a line, and whether they are set away there
-- (ineligible until made eligible one by one; roster rebuilds keep them
-- ineligible).
ALTER TABLE roster ADD COLUMN no_answer integer NOT NULL DEFAULT 0 CHECK (no_answer >= 0);
ALTER TABLE roster ADD COLUMN away boolean NOT NULL DEFAULT false;
