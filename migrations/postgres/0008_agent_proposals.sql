-- Agents' tools, and the control-plane tasks agents propose in rooms for people to confirm.

-- Comma-separated tool names (e.g. 'propose_task'); none by default.
ALTER TABLE agents ADD COLUMN tools TEXT NOT NULL DEFAULT '';

CREATE TABLE proposals (
    id                           UUID PRIMARY KEY,
    room_id                      UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id                   UUID REFERENCES messages (id) ON DELETE SET NULL,
    agent_id                     UUID,
    agent_name                   TEXT NOT NULL,
    run_id                       UUID,
    command                      TEXT NOT NULL,
    reason                       TEXT NOT NULL,
    preview_id                   TEXT,
    intent                       TEXT,
    -- The previewed operations as JSON: [{"tool": ..., "args": {...}}].
    operations                   TEXT NOT NULL DEFAULT '[]',
    risk                         TEXT CHECK (risk IN ('low', 'high')),
    lane                         TEXT CHECK (lane IN ('fast', 'approval')),
    rule_id                      TEXT,
    risk_reason                  TEXT,
    requires_structured_override BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at                   TIMESTAMPTZ,
    state                        TEXT NOT NULL
        CHECK (state IN ('pending', 'confirmed', 'rejected', 'expired', 'refused')),
    error                        TEXT,
    decided_by                   UUID REFERENCES users (id) ON DELETE SET NULL,
    decided_by_name              TEXT,
    decided_at                   TIMESTAMPTZ,
    task_id                      TEXT,
    task_state                   TEXT
        CHECK (task_state IN ('accepted', 'pending_approval', 'running', 'done', 'failed')),
    path_written                 TEXT,
    result_summary               TEXT,
    created_at                   TIMESTAMPTZ NOT NULL,
    updated_at                   TIMESTAMPTZ NOT NULL
);
CREATE INDEX proposals_room_id_created_at ON proposals (room_id, created_at);
-- What the server follows on its timer: open proposals (to expire) and confirmed tasks not yet final.
CREATE INDEX proposals_followed ON proposals (state) WHERE state IN ('pending', 'confirmed');
