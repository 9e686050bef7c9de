-- The limits a person's message starts a run with in a room whose mode is 'auto'.
-- Rooms made before keep what the run form offered first.
ALTER TABLE rooms ADD COLUMN run_max_steps BIGINT NOT NULL DEFAULT 20 CHECK (run_max_steps BETWEEN 1 AND 500);
ALTER TABLE rooms ADD COLUMN run_max_seconds BIGINT NOT NULL DEFAULT 300 CHECK (run_max_seconds BETWEEN 1 AND 3600);
ALTER TABLE rooms ADD COLUMN run_budget_tokens BIGINT CHECK (run_budget_tokens IS NULL OR run_budget_tokens >= 1);
