-- Regenerated replies keep their earlier versions as alternatives a person can flip between;
-- the message row always holds the one shown. Edits and deletions are marked, not hidden.
ALTER TABLE messages ADD COLUMN alternatives INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN alternative_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at TEXT;
ALTER TABLE messages ADD COLUMN deleted_at TEXT;

-- Every version of a message but the one in its row (which is authoritative), by position.
CREATE TABLE message_alternatives (
    message_id       BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    idx              INTEGER NOT NULL,
    content          TEXT NOT NULL,
    content_html     TEXT,
    status           TEXT NOT NULL,
    tokens_in        INTEGER,
    tokens_out       INTEGER,
    usage_estimated  BOOLEAN NOT NULL DEFAULT 0,
    latency_ms       INTEGER,
    first_token_ms   INTEGER,
    model            TEXT,
    error            TEXT,
    PRIMARY KEY (message_id, idx)
);

-- The usage page groups a person's usage by day, room, agent and model over a time range.
CREATE INDEX usage_events_created_at ON usage_events (created_at);
